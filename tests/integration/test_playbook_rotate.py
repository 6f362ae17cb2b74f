# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/rotate_tokens.yml on three local hosts sharing two runners, one of whose tokens a host
rotated on its own, against the simulator."""

from __future__ import annotations

import copy
import datetime
import json
import tomllib

import pytest

from tests.conftest import REPO_ROOT
from tests.integration._hosts import lay_out_hosts, local_inventory

ROTATE = REPO_ROOT / "playbooks" / "rotate_tokens.yml"
PAT = "glpat-fleet-owner-0000000000"
HOSTS = ("runner-a", "runner-b", "runner-c")
SYSTEM_IDS = {host: f"s_00000000000{index}" for index, host in enumerate(HOSTS, start=1)}
DOCKER_ROTATED = "glrt-t2_dockerRotatedByA0001"
DOCKER_OLD = "glrt-t2_dockerBeforeRotation1"
CACHE = "glrt-t2_cacheExpiresSoon00001"
BUILD = {host: f"glrt-t3_build{host[-1]}Token0000000001" for host in HOSTS}
FF = "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION"
THIRTY_DAYS = 30 * 86400

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def stamp(days):
    return (NOW + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def managers():
    # Every host contacted GitLab a few minutes ago: all managers are online.
    return [{"system_id": SYSTEM_IDS[host], "contacted_at": stamp(-0.003)} for host in HOSTS]


SEED = {
    "settings": {"version": "17.11.1-ee", "group_runner_token_expiration_interval": THIRTY_DAYS,
                 "project_runner_token_expiration_interval": THIRTY_DAYS},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
    "projects": [{"path": "platform/app"}],
    "runners": [
        # runner-a's gitlab-runner rotated this token yesterday; runner-b and runner-c still carry the old one.
        {"id": 21, "description": "shared-docker", "group": "platform", "token": DOCKER_ROTATED,
         "token_expires_at": stamp(29), "managers": managers()},
        {"id": 22, "description": "shared-cache", "group": "platform", "token": CACHE,
         "token_expires_at": stamp(2), "managers": managers()},
    ] + [
        {"id": 23 + index, "description": f"build-{host}", "project": "platform/app", "token": BUILD[host],
         "token_expires_at": stamp(60), "managers": [managers()[index]]}
        for index, host in enumerate(HOSTS)
    ],
}


def entry(name, runner_id, token, obtained, expires):
    return f"""
[[runners]]
  name = "{name}"
  url = "{{url}}"
  id = {runner_id}
  token = "{token}"
  token_obtained_at = {obtained}
  token_expires_at = {expires}
  executor = "shell"
"""


def config_text(host):
    docker = (entry("shared-docker", 21, DOCKER_ROTATED, stamp(-1), stamp(29)) if host == "runner-a"
              else entry("shared-docker", 21, DOCKER_OLD, stamp(-20), stamp(10)))
    return ("concurrent = 4\n" + docker + entry("shared-cache", 22, CACHE, stamp(-28), stamp(2))
            + entry(f"build-{host}", 23 + HOSTS.index(host), BUILD[host], stamp(-1), stamp(60)))


def entries(tmp_path, host):
    data = tomllib.loads((tmp_path / host / "config.toml").read_text(encoding="utf-8"))
    return {item["name"]: item for item in data["runners"]}


def tokens(sim):
    return {runner["description"]: runner["token"] for runner in sim.state()["runners"]}


def changing_calls(sim):
    return [(item["method"], item["path"]) for item in sim.requests()
            if item["method"] != "GET" and item["path"] != "/api/v4/runners/verify"]


def assert_no_token(run):
    for token in (PAT, "glrt-", DOCKER_OLD, DOCKER_ROTATED, CACHE):
        assert token not in run.output, f"{token} in the output"


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}

    def run(**kwargs):
        return ansible_playbook(ROTATE, inventory=local_inventory(tmp_path, HOSTS), env=env, **kwargs)

    return sim, run


def test_plan_then_rotate_due_tokens_then_nothing_to_do(fleet, tmp_path):
    sim, run = fleet
    files = {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS}

    plan = run(check=True, diff=True)
    assert plan.rc == 0, plan.output
    assert tokens(sim)["shared-docker"] == DOCKER_ROTATED
    assert changing_calls(sim) == [] and sim.requests("POST", "/api/v4/runners/verify") == []
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS} == files
    assert ("shared-docker (runner 21) on runner-a, runner-b, runner-c: rotate, because the hosts hold different "
            "tokens (one rotated on its own)") in plan.output
    assert f"shared-cache (runner 22) on runner-a, runner-b, runner-c: rotate, because the token expires {stamp(2)}" \
        in plan.output
    assert f"build-runner-a (runner 23) on runner-a: not due (expires {stamp(60)})" in plan.output
    # Check mode also works out the switch that stops each host rotating on its own.
    assert "would update shared-docker, shared-cache, build-runner-b" in plan.output
    assert_no_token(plan)

    result = run(verbosity=3, diff=True)
    assert result.rc == 0, result.output
    assert_no_token(result)
    now = tokens(sim)
    assert now["shared-docker"] not in (DOCKER_ROTATED, DOCKER_OLD) and now["shared-cache"] != CACHE
    # One reset per shared runner, not per host; the per-host runners were not due.
    assert sorted(item["path"] for item in sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")) \
        == ["/api/v4/runners/21/reset_authentication_token", "/api/v4/runners/22/reset_authentication_token"]
    assert changing_calls(sim) == [("POST", "/api/v4/runners/21/reset_authentication_token"),
                                   ("POST", "/api/v4/runners/22/reset_authentication_token")]
    # Every host carries the new tokens in the same run, checked from the host itself.
    assert len(sim.requests("POST", "/api/v4/runners/verify")) == 6
    cache_expiry = next(r for r in sim.state()["runners"] if r["id"] == 22)["token_expires_at"]
    for host in HOSTS:
        held = entries(tmp_path, host)
        assert held["shared-docker"]["token"] == now["shared-docker"]
        assert held["shared-cache"]["token"] == now["shared-cache"]
        assert held["shared-cache"]["token_expires_at"] == datetime.datetime.fromisoformat(cache_expiry)
        assert held[f"build-{host}"]["token"] == BUILD[host]
        assert all(item["feature_flags"] == {FF: True} for item in held.values())
    assert "shared-cache: runner 22 token reset, expires" in result.output
    # The write shows each host's change, every token redacted.
    for host in HOSTS:
        assert f"{tmp_path / host / 'config.toml'} (after)" in result.output
    assert 'token = "<redacted>"' in result.output
    assert f"verified as manager {SYSTEM_IDS['runner-b']}: shared-docker -> runner 21, shared-cache -> runner 22" \
        in result.output

    sim.clear_requests()
    again = run()
    assert again.rc == 0, again.output
    assert all(again.changed(host) == 0 for host in HOSTS), again.output
    assert [item for item in sim.requests() if item["method"] != "GET"] == []
    assert tokens(sim) == now
    assert "Rotated nothing; not due: shared-docker, shared-cache, build-runner-a, build-runner-b, build-runner-c" \
        in again.output


def test_never_cuts_off_hosts_outside_target(fleet, tmp_path):
    sim, run = fleet
    others = {host: (tmp_path / host / "config.toml").read_bytes() for host in ("runner-b", "runner-c")}

    result = run(extra_vars={"target": "runner-a", "rotate_all": True})
    # runner-b and runner-c are online managers of both shared runners: those are left alone and reported.
    assert result.rc != 0
    assert "Not rotated: shared-docker, shared-cache" in result.output
    assert (f"shared-cache (runner 22) on runner-a: not rotated although rotate_all is set: managers "
            f"{SYSTEM_IDS['runner-b']} (last contact ") in result.output
    assert f"{SYSTEM_IDS['runner-c']} (last contact " in result.output
    assert "rotate_all does not override this" in result.output
    assert [item["path"] for item in sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")] == [
        "/api/v4/runners/23/reset_authentication_token"]
    now = tokens(sim)
    assert (now["shared-docker"], now["shared-cache"]) == (DOCKER_ROTATED, CACHE)
    held = entries(tmp_path, "runner-a")
    assert held["build-runner-a"]["token"] == now["build-runner-a"] != BUILD["runner-a"]
    assert held["shared-cache"]["token"] == CACHE and "feature_flags" not in held["shared-cache"]
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in ("runner-b", "runner-c")} == others


def test_live_manager_outside_the_run_blocks_until_it_falls_silent(make_sim, ansible_playbook, tmp_path):
    # A host no inventory of this run knows still uses shared-cache; an old host used shared-docker hours ago.
    seed = copy.deepcopy(SEED)
    runners = {runner["id"]: runner for runner in seed["runners"]}
    runners[22]["managers"].append({"system_id": "s_0000000000ff", "contacted_at": stamp(-10 / 1440),
                                    "ip_address": "10.20.30.40", "version": "17.11.0"})
    runners[21]["managers"].append({"system_id": "s_0000000000ee", "contacted_at": stamp(-3 / 24)})
    sim = make_sim(seed)
    lay_out_hosts(tmp_path, {host: config_text(host) for host in HOSTS}, SYSTEM_IDS, sim.url)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}
    files = {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS}

    def run(**kwargs):
        return ansible_playbook(ROTATE, inventory=local_inventory(tmp_path, HOSTS), env=env, **kwargs)

    blocked = run()
    assert blocked.rc != 0
    assert "Not rotated: shared-cache (see the plan above)." in blocked.output
    assert ("shared-cache (runner 22) on runner-a, runner-b, runner-c: not rotated although the token expires "
            f"{stamp(2)}: managers s_0000000000ff (IP address 10.20.30.40, version 17.11.0, last contact ") \
        in blocked.output
    assert "Add their hosts to target, or wait until they have been silent" in blocked.output
    # The manager silent for three hours is no longer live: shared-docker is rotated.
    assert "s_0000000000ee" not in blocked.output
    assert [item["path"] for item in sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")] == [
        "/api/v4/runners/21/reset_authentication_token"]
    now = tokens(sim)
    assert now["shared-cache"] == CACHE and now["shared-docker"] != DOCKER_ROTATED
    for host in HOSTS:
        held = entries(tmp_path, host)
        assert held["shared-cache"]["token"] == CACHE and "feature_flags" not in held["shared-cache"]
        assert held["shared-docker"]["token"] == now["shared-docker"]
    assert_no_token(blocked)

    # A shorter window (the host has been silent for ten minutes) lets the rotation go ahead.
    sim.clear_requests()
    allowed = run(extra_vars={"rotate_live_manager_window": 300})
    assert allowed.rc == 0, allowed.output
    assert [item["path"] for item in sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")] == [
        "/api/v4/runners/22/reset_authentication_token"]
    assert all(entries(tmp_path, host)["shared-cache"]["token"] == tokens(sim)["shared-cache"] != CACHE
               for host in HOSTS)
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS} != files


def test_no_secret_in_the_most_verbose_output_or_the_task_results(fleet, tmp_path):
    sim, run = fleet

    result = run(verbosity=4, diff=True)
    assert result.rc == 0, result.output
    new = tokens(sim)
    secrets = [PAT, "glrt-", DOCKER_OLD, DOCKER_ROTATED, CACHE, *BUILD.values(), *new.values()]
    recorded = "\n".join(json.dumps(record, default=str) for record in result.records)
    assert result.tasks("Report the new tokens"), result.output
    for secret in secrets:
        assert secret not in result.output, f"{secret[:12]} in the output"
        assert secret not in recorded, f"{secret[:12]} in the task results"
    # Each new token is written with the time its reset returned, not a time taken before.
    reported = result.result("Report the new tokens", "runner-a")["msg"]
    obtained = {line.split(":")[0]: line.rsplit(", obtained ", 1)[1] for line in reported}
    assert sorted(obtained) == ["shared-cache", "shared-docker"]
    for host in HOSTS:
        held = entries(tmp_path, host)
        for name in obtained:
            assert held[name]["token"] == new[name]
            assert held[name]["token_obtained_at"] == datetime.datetime.fromisoformat(obtained[name])
