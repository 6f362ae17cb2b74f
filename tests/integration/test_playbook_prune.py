# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/prune.yml and the role's gitlab_runner_prune_stale_after: a fleet with one host gone from the inventory
(runner-c) and a host rebuilt under a new system id, against the simulator, with a 7-day threshold."""

from __future__ import annotations

import datetime

import pytest

from tests.conftest import REPO_ROOT
from tests.integration._hosts import changing_calls, entries_text, lay_out_hosts, local_inventory

PRUNE = REPO_ROOT / "playbooks" / "prune.yml"
SITE = REPO_ROOT / "playbooks" / "site.yml"
PAT = "glpat-fleet-owner-0000000000"
HOSTS = ("runner-a", "runner-b")
SYSTEM_IDS = {"runner-a": "s_00000000000a", "runner-b": "s_00000000000b", "runner-c": "s_00000000000c"}
REBUILT = "s_0000000dead0"
SHARED = "glrt-t2_sharedDockerToken0001"
BUILD = {host: f"glrt-t3_build{host[-1]}Token0000000001" for host in SYSTEM_IDS}
OTHER = "glrt-t2_otherTeamToken000001"
WEEK = 7 * 24 * 3600
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
DEFINITIONS = [
    {"name": "shared-docker", "runner_type": "group_type", "group": "platform", "executor": "shell"},
    {"name": "build", "runner_type": "project_type", "project": "platform/app", "per_host": True},
]


def ago(days):
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_gitlab_shows(days):
    return ago(days).replace("Z", ".000Z")


HOUR = 1 / 24
SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
    "projects": [{"path": "platform/app"}],
    "runners": [
        # runner-a and runner-b were seen an hour ago; runner-c (gone from the inventory) and the host that was
        # rebuilt under a new system id, ten days ago.
        {"id": 31, "description": "shared-docker", "group": "platform", "token": SHARED,
         "managers": [{"system_id": SYSTEM_IDS["runner-a"], "contacted_at": ago(HOUR)},
                      {"system_id": SYSTEM_IDS["runner-b"], "contacted_at": ago(HOUR)},
                      {"system_id": SYSTEM_IDS["runner-c"], "contacted_at": ago(10)},
                      {"system_id": REBUILT, "contacted_at": ago(10)}]},
        {"id": 32, "description": "build-runner-a", "project": "platform/app", "token": BUILD["runner-a"],
         "managers": [{"system_id": SYSTEM_IDS["runner-a"], "contacted_at": ago(HOUR)}]},
        {"id": 33, "description": "build-runner-b", "project": "platform/app", "token": BUILD["runner-b"],
         "managers": [{"system_id": SYSTEM_IDS["runner-b"], "contacted_at": ago(HOUR)}]},
        {"id": 34, "description": "build-runner-c", "project": "platform/app", "token": BUILD["runner-c"],
         "managers": [{"system_id": SYSTEM_IDS["runner-c"], "contacted_at": ago(10)}]},
        # Not the fleet's: stale too, and never touched.
        {"id": 35, "description": "other-team", "group": "platform", "token": OTHER,
         "managers": [{"system_id": "s_0000000other", "contacted_at": ago(30)}]},
    ],
}


def config_text(host):
    entries = [("shared-docker", 31, SHARED), (f"build-{host}", 32 + HOSTS.index(host), BUILD[host])]
    return entries_text(entries)


def managers(sim):
    return {runner["id"]: sorted(manager["system_id"] for manager in runner.get("managers", []))
            for runner in sim.state()["runners"]}


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}
    inventory = local_inventory(tmp_path, HOSTS)
    inventory["all"]["children"]["gitlab_runners"]["vars"].update(
        {"gitlab_runner_runners": DEFINITIONS, "gitlab_runner_install_method": "none",
         "gitlab_runner_manage_service": False})

    def run(playbook=PRUNE, extra_vars=None, **kwargs):
        return ansible_playbook(playbook, inventory=inventory, env=env, extra_vars=extra_vars or {}, **kwargs)

    return sim, run


EXPECTED_LINES = [
    f"shared-docker (runner 31): remove stale manager {SYSTEM_IDS['runner-c']} (last contact {as_gitlab_shows(10)})",
    f"shared-docker (runner 31): remove stale manager {REBUILT} (last contact {as_gitlab_shows(10)})",
    f"build-runner-c (runner 34): delete the runner; its host runner-c is in no inventory group and its managers "
    f"were last seen {SYSTEM_IDS['runner-c']} (last contact {as_gitlab_shows(10)})",
]


def test_check_lists_what_goes_then_prune_removes_exactly_that(fleet):
    sim, run = fleet
    before = managers(sim)

    plan = run(check=True, extra_vars={"prune_stale_after": WEEK})
    assert plan.rc == 0, plan.output
    assert plan.result("runnerops.gitlab.gitlab_runner : Say what pruning removes", "runner-a")["msg"] == EXPECTED_LINES
    assert managers(sim) == before and changing_calls(sim) == []

    result = run(extra_vars={"prune_stale_after": WEEK})
    assert result.rc == 0, result.output
    after = managers(sim)
    assert after == {31: sorted([SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"]]), 32: [SYSTEM_IDS["runner-a"]],
                     33: [SYSTEM_IDS["runner-b"]], 35: ["s_0000000other"]}
    assert changing_calls(sim) == [("DELETE", "/api/v4/runners/34"), ("DELETE", "/api/v4/runners/managers"),
                                   ("DELETE", "/api/v4/runners/managers")]
    assert sim.runner(31)["token"] == SHARED
    for secret in ("glrt-", PAT):
        assert secret not in result.output

    sim.clear_requests()
    again = run(extra_vars={"prune_stale_after": WEEK})
    assert again.rc == 0, again.output
    assert again.result("runnerops.gitlab.gitlab_runner : Say what pruning removes", "runner-a")["msg"] == \
        ["nothing stale to prune"]
    assert changing_calls(sim) == []


def test_a_longer_threshold_keeps_everything(fleet):
    sim, run = fleet
    result = run(extra_vars={"prune_stale_after": 30 * 24 * 3600})
    assert result.rc == 0, result.output
    assert changing_calls(sim) == []


def test_a_threshold_inside_gitlabs_online_window_is_refused(fleet):
    sim, run = fleet
    result = run(extra_vars={"prune_stale_after": 600})
    assert result.rc != 0
    assert "stale_after is 600 seconds, but GitLab shows a manager seen within 7200 seconds as online" in result.output
    assert changing_calls(sim) == []


def test_the_role_prunes_after_converging_when_asked(fleet):
    sim, run = fleet
    result = run(SITE, extra_vars={"gitlab_runner_prune_stale_after": WEEK})
    assert result.rc == 0, result.output
    assert managers(sim)[31] == sorted([SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"]])
    assert 34 not in managers(sim)
    sim.clear_requests()
    quiet = run(SITE)
    assert quiet.rc == 0, quiet.output
    assert "Remove stale runner managers" not in quiet.output
    assert [call for call in changing_calls(sim) if call[0] == "DELETE"] == []


def test_a_parent_groups_runner_named_like_a_per_host_runner_survives(make_sim, ansible_playbook, tmp_path):
    # build-runner-h9 of the parent group "platform" reads like build's runner for a host h9 that left the
    # inventory, and GitLab lists it among platform/app's runners; but build is a project runner of platform/app.
    seed = dict(SEED, runners=SEED["runners"] + [
        {"id": 40, "description": "build-runner-h9", "group": "platform", "token": "glrt-t2_parentGroupToken00001",
         "managers": [{"system_id": "s_000000000h9x", "contacted_at": ago(30)}]}])
    sim = make_sim(seed)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    inventory = local_inventory(tmp_path, HOSTS)
    inventory["all"]["children"]["gitlab_runners"]["vars"]["gitlab_runner_runners"] = DEFINITIONS
    result = ansible_playbook(PRUNE, inventory=inventory, env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT},
                              extra_vars={"prune_stale_after": WEEK})
    assert result.rc == 0, result.output
    assert 40 in managers(sim) and managers(sim)[40] == ["s_000000000h9x"]
    assert "build-runner-h9" not in result.output
    # What is the fleet's still goes.
    assert 34 not in managers(sim)


def test_a_runner_declared_in_the_definitions_folder_has_its_stale_managers_pruned(make_sim, ansible_playbook,
                                                                                   tmp_path):
    sim = make_sim(SEED)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "shared-docker.toml").write_text('executor = "shell"\n\n[gitlab]\nrunner_type = "group_type"\n'
                                               'group = "platform"\n', encoding="utf-8")
    inventory = local_inventory(tmp_path, HOSTS)
    inventory["all"]["children"]["gitlab_runners"]["vars"].update(
        {"gitlab_runner_runners": [DEFINITIONS[1]], "gitlab_runner_definitions_dir": str(folder)})
    result = ansible_playbook(PRUNE, inventory=inventory, env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT},
                              extra_vars={"prune_stale_after": WEEK})
    assert result.rc == 0, result.output
    assert managers(sim)[31] == sorted([SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"]])
    assert EXPECTED_LINES[0] in result.output
