# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/migrate_registration_tokens.yml on three local hosts registered with legacy registration
tokens, against the simulator with registration tokens disabled (410)."""

from __future__ import annotations

import json
import tomllib

import pytest

from tests.conftest import REPO_ROOT
from tests.integration._hosts import lay_out_hosts, local_inventory

MIGRATE = REPO_ROOT / "playbooks" / "migrate_registration_tokens.yml"
PAT = "glpat-fleet-owner-0000000000"
HOSTS = ("runner-a", "runner-b", "runner-c")
SYSTEM_IDS = {host: f"s_00000000000{index}" for index, host in enumerate(HOSTS, start=1)}
SHARED_LEGACY = "LEGACYsharedToken000001"
SHELL_LEGACY = "t3_LEGACYshellToken0002"
CURRENT = "glrt-t2_alreadyCurrentToken0"
SUFFIX = " (legacy, being migrated)"

SEED = {
    "settings": {"version": "17.11.1-ee", "allow_runner_registration_token": False},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}, "runners_token": "GR1348941platform"}],
    "projects": [{"path": "platform/app"}],
    "runners": [
        # Registered by runner-a and runner-b with the group's registration token.
        {"id": 11, "description": "docker-builders", "group": "platform", "tag_list": ["docker", "linux"],
         "run_untagged": False, "maximum_timeout": 3600, "token": SHARED_LEGACY,
         "managers": [SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"]]},
        # Registered by runner-c with the project's registration token.
        {"id": 12, "description": "app-shell", "project": "platform/app", "tag_list": ["shell"],
         "access_level": "ref_protected", "paused": True, "token": SHELL_LEGACY,
         "managers": [SYSTEM_IDS["runner-c"]]},
        # Already on the creation workflow; the migration leaves it alone.
        {"id": 13, "description": "current", "group": "platform", "token": CURRENT,
         "managers": [SYSTEM_IDS["runner-a"]]},
    ],
}

# As gitlab-runner register wrote them; entry names are local to each host.
CONFIGS = {
    "runner-a": """concurrent = 2
check_interval = 0

[[runners]]
  name = "docker-builders"
  url = "{url}"
  id = 11
  token = "LEGACYsharedToken000001"
  token_obtained_at = 2025-03-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
    privileged = false

[[runners]]
  name = "current"
  url = "{url}"
  id = 13
  token = "glrt-t2_alreadyCurrentToken0"
  token_obtained_at = 2025-06-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "shell"
""",
    "runner-b": """concurrent = 1
# registered by hand in 2025
[[runners]]
  name = "builders-b"
  url = "{url}"
  id = 11
  token = "LEGACYsharedToken000001"
  token_obtained_at = 2025-03-02T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
""",
    "runner-c": """concurrent = 1

[[runners]]
  name = "app-shell"
  url = "{url}"
  id = 12
  token = "t3_LEGACYshellToken0002"
  token_obtained_at = 2025-03-03T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "shell"
  limit = 1
""",
}


def config(tmp_path, host):
    return tomllib.loads((tmp_path / host / "config.toml").read_text(encoding="utf-8"))


def entries(tmp_path, host):
    return {entry["name"]: entry for entry in config(tmp_path, host)["runners"]}


def runners(sim):
    return {runner["description"]: runner for runner in sim.state()["runners"]}


def changing_calls(sim):
    return [(entry["method"], entry["path"]) for entry in sim.requests()
            if entry["method"] != "GET" and entry["path"] != "/api/v4/runners/verify"]


def assert_no_token(run):
    for token in (SHARED_LEGACY, SHELL_LEGACY, CURRENT, PAT, "glrt-"):
        assert token not in run.output, f"{token} in the output"


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    lay_out_hosts(tmp_path, {host: CONFIGS[host] for host in HOSTS}, SYSTEM_IDS, sim.url)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}

    def run(host_vars=None, **kwargs):
        return ansible_playbook(MIGRATE, inventory=local_inventory(tmp_path, HOSTS, **(host_vars or {})), env=env,
                                **kwargs)

    return sim, run


def test_plan_then_migrate_then_nothing_to_do(fleet, tmp_path):
    sim, run = fleet
    files = {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS}
    before = sim.state()["runners"]

    plan = run(check=True, diff=True)
    assert plan.rc == 0, plan.output
    assert sim.state()["runners"] == before
    assert changing_calls(sim) == []
    assert sim.requests("POST", "/api/v4/runners/verify") == []
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in HOSTS} == files
    assert ("legacy runner 11 (docker-builders, group_type of group platform, tags docker, linux): create runner "
            "docker-builders with the same attributes; replace the token of runner-a entry docker-builders, runner-b "
            "entry builders-b; then delete legacy runner 11 once every host using it verified runner "
            "docker-builders.") in plan.output
    assert ("legacy runner 12 (app-shell, project_type of project platform/app, tags shell): create runner app-shell "
            "with the same attributes; replace the token of runner-c entry app-shell;") in plan.output
    assert "legacy runner 13" not in plan.output
    assert_no_token(plan)

    result = run(verbosity=3, diff=True)
    assert result.rc == 0, result.output
    assert_no_token(result)
    state = runners(sim)
    assert sorted(state) == ["app-shell", "current", "docker-builders"]
    docker, shell = state["docker-builders"], state["app-shell"]
    # New runners, created through the creation workflow with the legacy runners' attributes.
    assert docker["id"] not in (11, 12) and shell["id"] not in (11, 12)
    assert docker["registration_type"] == shell["registration_type"] == "authenticated_user"
    assert (docker["runner_type"], docker["group"], docker["tag_list"], docker["run_untagged"],
            docker["maximum_timeout"]) == ("group_type", "platform", ["docker", "linux"], False, 3600)
    assert (shell["runner_type"], shell["projects"], shell["tag_list"], shell["access_level"],
            shell["paused"]) == ("project_type", ["platform/app"], ["shell"], "ref_protected", True)
    # Each host's manager checked in with the new runner it carries.
    assert sorted(m["system_id"] for m in docker["managers"]) == [SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"]]
    assert [m["system_id"] for m in shell["managers"]] == [SYSTEM_IDS["runner-c"]]
    assert state["current"]["token"] == CURRENT

    a, b, c = (entries(tmp_path, host) for host in HOSTS)
    # Same entry names, new token and id, every other setting kept.
    assert (a["docker-builders"]["token"], a["docker-builders"]["id"]) == (docker["token"], docker["id"])
    assert (b["builders-b"]["token"], b["builders-b"]["id"]) == (docker["token"], docker["id"])
    assert (c["app-shell"]["token"], c["app-shell"]["id"]) == (shell["token"], shell["id"])
    assert docker["token"].startswith("glrt-") and shell["token"].startswith("glrt-")
    assert a["docker-builders"]["docker"] == {"image": "alpine:3.20", "privileged": False}
    assert c["app-shell"]["limit"] == 1 and c["app-shell"]["executor"] == "shell"
    assert a["current"]["token"] == CURRENT
    assert "# registered by hand in 2025" in (tmp_path / "runner-b" / "config.toml").read_text(encoding="utf-8")

    # One create per legacy runner (not per host), one verify per host entry, both legacy runners deleted,
    # and never the legacy registration endpoint.
    assert len(sim.requests("POST", "/api/v4/user/runners")) == 2
    assert len(sim.requests("POST", "/api/v4/runners/verify")) == 3
    assert sorted(e["path"] for e in sim.requests("DELETE")) == ["/api/v4/runners/11", "/api/v4/runners/12"]
    assert sim.requests("POST", "/api/v4/runners") == []
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []
    assert (f"docker-builders: runner {docker['id']} (token created) replaces legacy runner 11 on runner-a, "
            "runner-b") in result.output
    assert f"verified as manager {SYSTEM_IDS['runner-b']}: builders-b -> runner {docker['id']}" in result.output
    # The write shows each host's change, every token redacted.
    assert f"{tmp_path / 'runner-b' / 'config.toml'} (after)" in result.output
    assert 'token = "<redacted>"' in result.output

    sim.clear_requests()
    again = run()
    assert again.rc == 0, again.output
    assert all(again.changed(host) == 0 for host in HOSTS), again.output
    assert changing_calls(sim) == []
    assert sim.requests("POST", "/api/v4/runners/verify") == []
    assert runners(sim)["docker-builders"]["token"] == docker["token"]


def test_an_interrupted_migration_is_finished_by_the_next_run(fleet, tmp_path):
    sim, run = fleet
    legacy_b = (tmp_path / "runner-b" / "config.toml").read_bytes()
    # runner-b cannot write its config.toml (its owner does not exist), and deleting legacy runner 12 fails.
    sim.fault(r"/api/v4/runners/12", method="DELETE", status=403, times=1)
    broken = run(host_vars={"runner-b": {"gitlab_runner_config_owner": "no-such-user-here"}})
    assert broken.rc != 0
    assert (tmp_path / "runner-b" / "config.toml").read_bytes() == legacy_b
    state = runners(sim)
    # Both legacy runners stay, marked: 11 because runner-b still uses it, 12 because its delete failed.
    assert state[f"docker-builders{SUFFIX}"]["id"] == 11 and state[f"app-shell{SUFFIX}"]["id"] == 12
    assert "runnerops-migrating" in state[f"docker-builders{SUFFIX}"]["tag_list"]
    assert "legacy runner 11 (docker-builders) kept, still used by host runner-b (it did not move over)" \
        in broken.output
    docker, shell = state["docker-builders"], state["app-shell"]
    assert entries(tmp_path, "runner-a")["docker-builders"]["token"] == docker["token"]
    assert entries(tmp_path, "runner-c")["app-shell"]["token"] == shell["token"]
    done = {host: (tmp_path / host / "config.toml").read_bytes() for host in ("runner-a", "runner-c")}

    sim.clear_requests()
    finished = run()
    assert finished.rc == 0, finished.output
    state = runners(sim)
    assert sorted(state) == ["app-shell", "current", "docker-builders"]
    # The runner the first run created, found by name; runner-a lent its token, so nothing was created or reset.
    assert (state["docker-builders"]["id"], state["app-shell"]["id"]) == (docker["id"], shell["id"])
    assert sim.requests("POST", "/api/v4/user/runners") == []
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []
    assert entries(tmp_path, "runner-b")["builders-b"]["token"] == docker["token"]
    assert sorted(m["system_id"] for m in state["docker-builders"]["managers"]) == [
        SYSTEM_IDS["runner-a"], SYSTEM_IDS["runner-b"]]
    # Legacy runner 12 had no host left on it: found by its mark and deleted.
    assert sorted(e["path"] for e in sim.requests("DELETE")) == ["/api/v4/runners/11", "/api/v4/runners/12"]
    assert {host: (tmp_path / host / "config.toml").read_bytes() for host in ("runner-a", "runner-c")} == done
    assert_no_token(broken)
    assert_no_token(finished)


def secrets_seen(runs, secrets):
    """The secrets (shown by their first characters) found in the output of ``runs`` or in their task results."""
    texts = [run.output + "\n".join(json.dumps(record, default=str) for record in run.records) for run in runs]
    return sorted({secret[:12] for secret in secrets for text in texts if secret in text})


def test_no_token_in_the_output_or_the_task_results_at_the_highest_verbosity(fleet, tmp_path):
    sim, run = fleet
    # An interrupted run, then the run that finishes it with the token runner-a lends: every path that carries a
    # token (create, lend, write, verify) is taken once.
    broken = run(host_vars={"runner-b": {"gitlab_runner_config_owner": "no-such-user-here"}}, verbosity=4, diff=True)
    assert broken.rc != 0
    finished = run(verbosity=4, diff=True)
    assert finished.rc == 0, finished.output
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []
    new_tokens = [runner["token"] for runner in sim.state()["runners"] if runner["description"] != "current"]
    assert len(new_tokens) == 2 and all(token.startswith("glrt-") for token in new_tokens)
    assert all(run.records for run in (broken, finished))
    assert secrets_seen([broken, finished], new_tokens + [SHARED_LEGACY, SHELL_LEGACY, CURRENT, PAT, "glrt-"]) == []
    # What was done is still reported, from fields that hold no secret.
    assert "docker-builders: runner" in broken.output and "(token created) replaces legacy runner 11" in broken.output
    assert "(token existing) replaces legacy runner 11 on runner-b" in finished.output
    # The lent token keeps the age it has on the host that lent it.
    a, b = entries(tmp_path, "runner-a")["docker-builders"], entries(tmp_path, "runner-b")["builders-b"]
    assert b["token"] == a["token"] and b["token_obtained_at"] == a["token_obtained_at"]


def test_a_legacy_entry_with_a_ci_url_is_checked_where_gitlab_runner_checks_it(make_sim, ansible_playbook, tmp_path):
    # gitlab-runner register of old wrote the URL with /ci; gitlab-runner drops it, and so must the token check.
    sim = make_sim(SEED)
    configs = {host: CONFIGS[host] for host in HOSTS}
    configs["runner-b"] = configs["runner-b"].replace('url = "{url}"', 'url = "{url}/ci"')
    lay_out_hosts(tmp_path, configs, SYSTEM_IDS, sim.url)
    result = ansible_playbook(MIGRATE, inventory=local_inventory(tmp_path, HOSTS),
                              env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT})
    assert result.rc == 0, result.output
    docker = runners(sim)["docker-builders"]
    assert f"verified as manager {SYSTEM_IDS['runner-b']}: builders-b -> runner {docker['id']}" in result.output
    assert SYSTEM_IDS["runner-b"] in [manager["system_id"] for manager in docker["managers"]]
    assert [entry["path"] for entry in sim.requests("POST", r".*/runners/verify")] == ["/api/v4/runners/verify"] * 3
