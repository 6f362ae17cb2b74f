# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/decommission.yml: one of three local hosts leaves the fleet, against the simulator where a
host removed earlier left its manager on the shared runner."""

from __future__ import annotations

import datetime
import tomllib

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration._hosts import changing_calls, entries_text, lay_out_hosts, local_inventory

DECOMMISSION = REPO_ROOT / "playbooks" / "decommission.yml"
PAT = "glpat-fleet-owner-0000000000"
HOSTS = ("runner-a", "runner-b", "runner-c")
SYSTEM_IDS = {host: f"s_00000000000{index}" for index, host in enumerate(HOSTS, start=1)}
GONE = "s_0000000dead0"
SHARED = "glrt-t2_sharedDockerToken0001"
BUILD = {host: f"glrt-t3_build{host[-1]}Token0000000001" for host in HOSTS}

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def ago(days):
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
    "projects": [{"path": "platform/app"}],
    "runners": [
        # A host removed three days ago never unregistered: its manager is still listed.
        {"id": 31, "description": "shared-docker", "group": "platform", "token": SHARED,
         "managers": [{"system_id": SYSTEM_IDS[host], "contacted_at": ago(0.01)} for host in HOSTS]
         + [{"system_id": GONE, "contacted_at": ago(3)}]},
    ] + [
        {"id": 32 + index, "description": f"build-{host}", "project": "platform/app", "token": BUILD[host],
         "managers": [{"system_id": SYSTEM_IDS[host], "contacted_at": ago(0.01)}]}
        for index, host in enumerate(HOSTS)
    ],
}


def config_text(host):
    entries = [("shared-docker", 31, SHARED), (f"build-{host}", 32 + HOSTS.index(host), BUILD[host])]
    return entries_text(entries, head="concurrent = 2\nlog_level = \"info\"\n")


def runners(sim):
    return {runner["id"]: runner for runner in sim.state()["runners"]}


def assert_no_token(run):
    for token in (PAT, "glrt-", SHARED):
        assert token not in run.output, f"{token} in the output"


def stale_report(run):
    return run.result("Report managers that belong to no host of the fleet")["msg"]


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}

    def run(extra_vars=None, **kwargs):
        return ansible_playbook(DECOMMISSION, inventory=local_inventory(tmp_path, HOSTS), env=env,
                                extra_vars=extra_vars if extra_vars is not None else {"target": "runner-c"}, **kwargs)

    return sim, run


def test_plan_then_decommission_then_nothing_to_do(fleet, tmp_path):
    sim, run = fleet
    files = {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS}
    before = sim.state()["runners"]

    plan = run(check=True)
    assert plan.rc == 0, plan.output
    assert sim.state()["runners"] == before and changing_calls(sim) == []
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS} == files
    assert "entry 'build-runner-c': per-host runner 34 (build-runner-c): delete the runner (and its managers)" \
        in plan.output
    assert "entry 'shared-docker': shared runner 31 (shared-docker): unregister this manager" in plan.output
    assert "would remove shared-docker, build-runner-c" in plan.output
    assert_no_token(plan)

    result = run(verbosity=3, diff=True)
    assert result.rc == 0, result.output
    assert_no_token(result)
    assert result.result("Report what left config.toml", "runner-c")["msg"] == (
        f"removed shared-docker, build-runner-c; unregistered manager {SYSTEM_IDS['runner-c']} from shared-docker")
    state = runners(sim)
    # runner-c's manager left the shared runner, its own runner is gone, everyone else's is untouched.
    assert sorted(state) == [31, 32, 33]
    assert sorted(m["system_id"] for m in state[31]["managers"]) == sorted(
        [SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"], GONE])
    assert state[31]["token"] == SHARED
    # One unregister for the shared runner; deleting the per-host runner takes its manager with it.
    assert changing_calls(sim) == [("DELETE", "/api/v4/runners/34"), ("DELETE", "/api/v4/runners/managers")]
    data = tomllib.loads((tmp_path / "runner-c" / "config.toml").read_text(encoding="utf-8"))
    assert data == {"concurrent": 2, "log_level": "info"}
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in ("runner-a", "runner-b")} == {
        host: files[host] for host in ("runner-a", "runner-b")}
    # The host that left earlier is reported; the fleet's own managers are not.
    assert stale_report(result)[0].startswith(
        f"shared-docker (runner 31): offline manager {GONE} (last contact {ago(3)[:16]}")
    assert stale_report(result)[0].endswith("belongs to no host of the fleet")
    assert f"manager {SYSTEM_IDS['runner-a']}" not in result.output
    assert "build-runner-a (runner 32)" not in result.output
    # In check mode runner-c's manager was still there, but the plan already said what happens to it.
    assert stale_report(plan) == stale_report(result)

    sim.clear_requests()
    again = run()
    assert again.rc == 0, again.output
    assert all(again.changed(host) == 0 for host in HOSTS), again.output
    assert changing_calls(sim) == []
    assert stale_report(again) == stale_report(result)


def test_refuses_to_run_without_target(fleet, tmp_path):
    sim, run = fleet
    result = run(extra_vars={})
    assert result.rc != 0
    assert "Name the hosts to decommission with -e target=" in result.output
    assert sim.requests() == []
    assert tomllib.loads((tmp_path / "runner-a" / "config.toml").read_text(encoding="utf-8"))["runners"]


def test_target_matching_no_host_says_why_there_is_no_report(fleet):
    sim, run = fleet
    result = run(extra_vars={"target": "runner-z"})
    assert result.rc == 0, result.output
    assert "No targeted host was reached" in result.result("Say why there is no stale-manager report")["msg"]
    assert changing_calls(sim) == []


@pytest.fixture
def inventory_dir(make_sim, tmp_path, monkeypatch):
    """The layout docs/docsite/rst/first_fleet.rst teaches: an inventory directory whose group_vars hold the GitLab
    connection, and nothing about GitLab in the environment."""
    monkeypatch.delenv("GITLAB_URL", raising=False)
    monkeypatch.delenv("GITLAB_PRIVATE_TOKEN", raising=False)
    sim = make_sim(SEED)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(local_inventory(tmp_path, HOSTS)), encoding="utf-8")
    (inventory / "group_vars" / "gitlab_runners.yml").write_text(yaml.safe_dump(
        {"gitlab_runner_api_url": sim.url, "gitlab_runner_api_token": PAT}), encoding="utf-8")
    return sim, inventory


def test_connection_from_group_vars_of_an_inventory_directory(inventory_dir, ansible_playbook, tmp_path):
    sim, inventory = inventory_dir

    def run(**kwargs):
        return ansible_playbook(DECOMMISSION, inventory=inventory, extra_vars={"target": "runner-b"}, **kwargs)

    result = run(diff=True, verbosity=3)
    assert result.rc == 0, result.output
    assert_no_token(result)
    assert tomllib.loads((tmp_path / "runner-b" / "config.toml").read_text(encoding="utf-8")) == {
        "concurrent": 2, "log_level": "info"}
    state = runners(sim)
    assert sorted(state) == [31, 32, 34]
    assert SYSTEM_IDS["runner-b"] not in [manager["system_id"] for manager in state[31]["managers"]]
    assert changing_calls(sim) == [("DELETE", "/api/v4/runners/33"), ("DELETE", "/api/v4/runners/managers")]
    # The report on the controller used the connection the targeted host resolved.
    assert stale_report(result)[0].startswith(f"shared-docker (runner 31): offline manager {GONE} ")
    files = {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS}

    for check in (True, False):
        sim.clear_requests()
        again = run(check=check)
        assert again.rc == 0, again.output
        assert_no_token(again)
        assert all(again.changed(host) == 0 for host in HOSTS + ("localhost",)), again.output
        assert changing_calls(sim) == []
        assert again.result("Show the plan", "runner-b")["msg"] == ["no runner entries"]
        assert stale_report(again) == stale_report(result)
        assert {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS} == files
