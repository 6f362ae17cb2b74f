# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The gitlab_runner role through playbooks/site.yml on three local hosts against the simulator."""

from __future__ import annotations

import datetime
import re
import stat
import tomllib
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT

SITE = REPO_ROOT / "playbooks" / "site.yml"
PAT = "glpat-fleet-owner-0000000000"
HOSTS = ("runner-a", "runner-b", "runner-c")

SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
    "projects": [{"path": "platform/app"}],
}

DEFINITIONS = (
    {"name": "shared-docker", "runner_type": "group_type", "group": "platform", "tags": ["docker", "linux"],
     "run_untagged": False, "executor": "docker",
     "settings": {"docker": {"image": "alpine:3.20", "privileged": False}}},
    {"name": "build", "runner_type": "project_type", "project": "platform/app", "tags": ["build"],
     "per_host": True},
)


def inventory(tmp_path, definitions, **extra):
    hosts = {}
    for index, host in enumerate(HOSTS):
        config_dir = tmp_path / host
        config_dir.mkdir(exist_ok=True)
        # Local hosts share this machine's id; give each its own manager identity as a real host has.
        system_id = config_dir / ".runner_system_id"
        if not system_id.exists():
            system_id.write_text(f"s_00000000000{index}", encoding="ascii")
        hosts[host] = {"ansible_connection": "local", "gitlab_runner_config_path": str(config_dir / "config.toml")}
    group_vars = {"gitlab_runner_install_method": "none", "gitlab_runner_manage_service": False,
                  "gitlab_runner_become": False, "gitlab_runner_runners": list(definitions)}
    group_vars.update(extra)
    return {"all": {"children": {"gitlab_runners": {"hosts": hosts, "vars": group_vars}}}}


def config(tmp_path, host):
    return tomllib.loads((tmp_path / host / "config.toml").read_text(encoding="utf-8"))


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}

    def run(definitions=None, **kwargs):
        extra = kwargs.pop("extra", {})
        return ansible_playbook(SITE, inventory=inventory(tmp_path, definitions or DEFINITIONS, **extra), env=env,
                                **kwargs)

    return sim, run


def test_converge_then_nothing_to_do(fleet, tmp_path):
    sim, run = fleet
    first = run()
    assert first.rc == 0, first.output
    runners = {runner["description"]: runner for runner in sim.state()["runners"]}
    assert sorted(runners) == ["build-runner-a", "build-runner-b", "build-runner-c", "shared-docker"]
    shared = runners["shared-docker"]

    for host in HOSTS:
        data = config(tmp_path, host)
        entries = {entry["name"]: entry for entry in data["runners"]}
        assert sorted(entries) == [f"build-{host}", "shared-docker"]
        assert entries["shared-docker"]["token"] == shared["token"]
        assert entries["shared-docker"]["id"] == shared["id"]
        assert entries["shared-docker"]["docker"] == {"image": "alpine:3.20", "privileged": False}
        assert entries[f"build-{host}"]["token"] == runners[f"build-{host}"]["token"]
        assert entries[f"build-{host}"]["url"] == sim.url
        assert data["concurrent"] == 1
        assert stat.S_IMODE((tmp_path / host / "config.toml").stat().st_mode) == 0o600
    # The user sees names, ids and where tokens came from, never a token.
    assert "shared-docker: runner" in first.output and "token created" in first.output
    assert "glrt-" not in first.output

    sim.clear_requests()
    second = run()
    assert second.rc == 0, second.output
    assert all(second.changed(host) == 0 for host in HOSTS), second.output
    writes = [entry for entry in sim.requests() if entry["method"] != "GET" and entry["path"] != "/api/v4/runners/verify"]
    assert writes == []
    # One token check per distinct token: one shared token, three per-host tokens.
    assert len(sim.requests("POST", "/api/v4/runners/verify")) == 4


def test_check_mode_creates_nothing(fleet, tmp_path):
    sim, run = fleet
    result = run(check=True, diff=True)
    assert result.rc == 0, result.output
    assert sim.state()["runners"] == []
    assert [entry for entry in sim.requests() if entry["method"] != "GET"] == []
    assert not (tmp_path / "runner-a" / "config.toml").exists()
    assert "GitLab would create the runner, then its entry would be added to config.toml" in result.output
    assert "would be reset" not in result.output


def test_check_mode_says_a_token_would_be_reset_when_no_host_holds_one(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    for host in HOSTS:
        (tmp_path / host / "config.toml").unlink()
    shared = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared-docker")
    sim.clear_requests()
    result = run(check=True)
    assert result.rc == 0, result.output
    assert f"shared-docker (runner {shared['id']}): the runner exists in GitLab and no host of the run holds a token " \
           "GitLab accepts, so its token would be reset" in result.output
    assert "GitLab would create the runner" not in result.output
    assert [entry for entry in sim.requests() if entry["method"] != "GET"] == []


def test_token_rotated_on_one_host_reaches_the_others(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    shared = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared-docker")
    # runner-a's gitlab-runner rotated the token itself; b and c still carry the old, now dead, one.
    rotated = requests.post(f"{sim.url}/api/v4/runners/reset_authentication_token",
                            json={"token": shared["token"]}, timeout=10).json()["token"]
    path = tmp_path / "runner-a" / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(shared["token"], rotated), encoding="utf-8")

    healed = run()
    assert healed.rc == 0, healed.output
    for host in HOSTS:
        entry = next(e for e in config(tmp_path, host)["runners"] if e["name"] == "shared-docker")
        assert entry["token"] == rotated
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []


def test_removed_definition_leaves_hosts_and_gitlab(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    absent = [dict(DEFINITIONS[0]), dict(DEFINITIONS[1], state="absent")]
    result = run(absent)
    assert result.rc == 0, result.output
    assert [runner["description"] for runner in sim.state()["runners"]] == ["shared-docker"]
    for host in HOSTS:
        assert [entry["name"] for entry in config(tmp_path, host)["runners"]] == ["shared-docker"]


def test_duplicate_names_fail_before_any_call(fleet):
    sim, run = fleet
    result = run([DEFINITIONS[0], DEFINITIONS[0]])
    assert result.rc != 0
    assert "shared-docker declared more than once" in result.output
    assert sim.requests() == []


def test_group_runner_without_group_fails_naming_the_field(fleet):
    sim, run = fleet
    result = run([{"name": "lost", "runner_type": "group_type"}])
    assert result.rc != 0
    assert "gitlab_runner_runners[lost]: runner_type group_type needs the group that owns the runner" in result.output
    assert sim.requests() == []


def test_limit_never_resets_a_token_hosts_outside_hold(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    shared = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared-docker")
    # runner-c rotated; a run limited to runner-a must take the token from runner-c, not reset it.
    rotated = requests.post(f"{sim.url}/api/v4/runners/reset_authentication_token",
                            json={"token": shared["token"]}, timeout=10).json()["token"]
    path = tmp_path / "runner-c" / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(shared["token"], rotated), encoding="utf-8")

    limited = run(limit="runner-a")
    assert limited.rc == 0, limited.output
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []
    entry = next(e for e in config(tmp_path, "runner-a")["runners"] if e["name"] == "shared-docker")
    assert entry["token"] == rotated
    assert Path(tmp_path / "runner-b" / "config.toml").read_text(encoding="utf-8").count(shared["token"]) == 1


def test_definitions_folder_is_merged_like_inline_definitions(fleet, tmp_path):
    sim, run = fleet
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "global.toml").write_text('concurrent = 6\nlog_format = "json"\n', encoding="utf-8")
    (folder / "shared-shell.toml").write_text(
        '# one executor per file\nexecutor = "shell"\nlimit = 2\n\n'
        '[gitlab]\nrunner_type = "group_type"\ngroup = "platform"\ntags = ["shell"]\n\n'
        '[custom_build_dir]\nenabled = true\n', encoding="utf-8")
    first = run([DEFINITIONS[1]], extra={"gitlab_runner_definitions_dir": str(folder)})
    assert first.rc == 0, first.output
    shell = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared-shell")
    assert shell["tag_list"] == ["shell"] and shell["runner_type"] == "group_type"
    data = config(tmp_path, "runner-b")
    assert data["concurrent"] == 6 and data["log_format"] == "json"
    entry = next(e for e in data["runners"] if e["name"] == "shared-shell")
    assert (entry["executor"], entry["limit"], entry["custom_build_dir"]) == ("shell", 2, {"enabled": True})
    assert entry["token"] == shell["token"]

    again = run([DEFINITIONS[1]], extra={"gitlab_runner_definitions_dir": str(folder)})
    assert again.rc == 0 and all(again.changed(host) == 0 for host in HOSTS), again.output


def test_malformed_definition_file_names_the_file(fleet, tmp_path):
    sim, run = fleet
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "broken.toml").write_text('executor = "shell\n', encoding="utf-8")
    result = run([], extra={"gitlab_runner_definitions_dir": str(folder)})
    assert result.rc != 0
    assert "broken.toml is not valid TOML" in result.output
    assert sim.requests() == []


def test_central_rotation_resets_expiring_tokens_once_for_every_host(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(dict(SEED, settings={"version": "17.11.1-ee", "group_runner_token_expiration_interval": 86400}))
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}
    shared_only = [DEFINITIONS[0]]

    def run(rotate_before):
        extra = {"gitlab_runner_token_rotation": "central", "gitlab_runner_token_rotate_before": rotate_before}
        return ansible_playbook(SITE, inventory=inventory(tmp_path, shared_only, **extra), env=env)

    assert run(3600).rc == 0
    created = sim.state()["runners"][0]["token"]
    for host in HOSTS:
        entry = config(tmp_path, host)["runners"][0]
        assert entry["feature_flags"] == {"FF_DISABLE_AUTOMATIC_TOKEN_ROTATION": True}
        assert entry["token_expires_at"].year > 2000

    # The token expires within 25 hours: one reset, handed to every host in the same run.
    sim.clear_requests()
    rotated = run(90000)
    assert rotated.rc == 0, rotated.output
    assert len(sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")) == 1
    current = sim.state()["runners"][0]["token"]
    assert current != created
    assert {config(tmp_path, host)["runners"][0]["token"] for host in HOSTS} == {current}

    # Outside the window nothing happens.
    quiet = run(3600)
    assert quiet.rc == 0 and all(quiet.changed(host) == 0 for host in HOSTS), quiet.output


def test_no_secret_in_verbose_diff_output(fleet, tmp_path):
    sim, run = fleet
    first = run(verbosity=3, diff=True)
    assert first.rc == 0, first.output
    tokens = [runner["token"] for runner in sim.state()["runners"]]
    assert len(tokens) == 4
    for secret in tokens + [PAT]:
        assert secret not in first.output
    assert "glrt-" not in first.output
    # Token-carrying tasks are no_log; what happened is still reported.
    assert "added shared-docker, build-runner-a" in first.output


def test_rerun_reads_each_runner_by_the_id_its_hosts_carry(fleet):
    sim, run = fleet
    assert run().rc == 0
    sim.clear_requests()
    again = run()
    assert again.rc == 0, again.output
    calls = sorted((entry["method"], re.sub(r"/\d+$", "/:id", entry["path"])) for entry in sim.requests())
    # The preflight, then one read and one token check per runner (one shared, three per host): no group or
    # project lookup and no listing.
    assert calls == sorted([("GET", "/api/v4/personal_access_tokens/self"), ("GET", "/api/v4/version")]
                           + [("GET", "/api/v4/runners/:id")] * 4 + [("POST", "/api/v4/runners/verify")] * 4)


def test_runner_deleted_in_gitlab_is_made_again_though_hosts_carry_its_id(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    old = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared-docker")
    requests.delete(f"{sim.url}/api/v4/runners/{old['id']}", headers={"PRIVATE-TOKEN": PAT},
                    timeout=10).raise_for_status()

    sim.clear_requests()
    healed = run()
    assert healed.rc == 0, healed.output
    new = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared-docker")
    assert new["id"] != old["id"]
    assert len(sim.requests("POST", "/api/v4/user/runners")) == 1
    for host in HOSTS:
        entry = next(e for e in config(tmp_path, host)["runners"] if e["name"] == "shared-docker")
        assert (entry["id"], entry["token"]) == (new["id"], new["token"])

    # Hosts that disagree on the id: the runner is found by name again and the odd host is corrected.
    path = tmp_path / "runner-b" / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(f"id = {new['id']}\n", "id = 999999\n", 1),
                    encoding="utf-8")
    sim.clear_requests()
    corrected = run()
    assert corrected.rc == 0, corrected.output
    assert len(sim.requests("GET", "/api/v4/groups/platform/runners")) + \
        len(sim.requests("GET", r"/api/v4/groups/\d+/runners")) == 1
    assert [entry for entry in sim.requests() if entry["method"] != "GET" and not entry["path"].endswith("/verify")] == []
    assert next(e for e in config(tmp_path, "runner-b")["runners"] if e["name"] == "shared-docker")["id"] == new["id"]
    assert [host for host in HOSTS if corrected.changed(host)] == ["runner-b"]


SECRET_KEY = "s3-secret-key-canary-0000"
DB_PASSWORD = "db-password-canary"


def test_check_diff_shows_config_toml_with_every_secret_redacted(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    with_secrets = [dict(DEFINITIONS[0], settings={
        "docker": {"image": "alpine:3.21", "privileged": False},
        "environment": [f"DB_PASSWORD={DB_PASSWORD}", "GIT_DEPTH=10"],
        "cache": {"Type": "s3", "s3": {"ServerAddress": "s3.example.com", "AccessKey": "s3-access-key-canary",
                                       "SecretKey": SECRET_KEY, "BucketName": "runner-cache"}}}), DEFINITIONS[1]]
    preview = run(with_secrets, check=True, diff=True, verbosity=3,
                  extra={"gitlab_runner_listen_address": "127.0.0.1:9252"})
    assert preview.rc == 0, preview.output
    tokens = [runner["token"] for runner in sim.state()["runners"]]
    for secret in tokens + [PAT, SECRET_KEY, DB_PASSWORD, "s3-access-key-canary"]:
        assert secret not in preview.output
        assert secret not in str(preview.records)
    # The change itself is shown, host by host, secrets as <redacted>.
    assert preview.output.count("(after)") >= len(HOSTS)
    assert '-    image = "alpine:3.20"' in preview.output and '+    image = "alpine:3.21"' in preview.output
    assert 'SecretKey = "<redacted>"' in preview.output
    assert '"DB_PASSWORD=<redacted>", "GIT_DEPTH=<redacted>"' in preview.output
    written = preview.result("runnerops.gitlab.gitlab_runner : Write config.toml", "runner-a")
    assert written["changed"] is True and written["restart_required"] is True
    # Check mode wrote nothing.
    assert config(tmp_path, "runner-a")["runners"][0]["docker"]["image"] == "alpine:3.20"

    applied = run(with_secrets)
    assert applied.rc == 0, applied.output
    entry = next(e for e in config(tmp_path, "runner-a")["runners"] if e["name"] == "shared-docker")
    assert entry["cache"]["s3"]["SecretKey"] == SECRET_KEY
    again = run(with_secrets)
    assert all(again.changed(host) == 0 for host in HOSTS), again.output


def test_a_changed_global_setting_is_named_in_the_summary(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    changed = run(extra={"gitlab_runner_concurrent": 8})
    assert changed.rc == 0, changed.output
    assert all(config(tmp_path, host)["concurrent"] == 8 for host in HOSTS)
    assert all(changed.changed(host) == 1 for host in HOSTS), changed.output
    summary = changed.result("runnerops.gitlab.gitlab_runner : Report what changed in config.toml", host=HOSTS[0])
    assert summary["msg"] == [f"{host}: global settings changed: concurrent; added none; updated none; removed none; "
                              "unregistered none" for host in HOSTS] + [f"config.toml unchanged on 0 of {len(HOSTS)} hosts"]
    again = run(extra={"gitlab_runner_concurrent": 8})
    assert again.result("runnerops.gitlab.gitlab_runner : Report what changed in config.toml",
                        host=HOSTS[0])["msg"] == [f"config.toml unchanged on {len(HOSTS)} of {len(HOSTS)} hosts"]


def test_mistyped_definition_and_settings_keys_fail_before_any_gitlab_call(fleet, tmp_path):
    sim, run = fleet
    mistyped = [dict(DEFINITIONS[0], limt=2, settings={"docker": {"image": "alpine:3.20", "priviledged": True}})]
    result = run(definitions=mistyped)
    assert result.rc != 0
    assert sim.requests() == []
    failed = {record["host"]: record for record in result.records
              if record["type"] == "task" and record["status"] == "failed"}
    assert sorted(failed) == list(HOSTS)
    assert {record["task"] for record in failed.values()} == {
        "runnerops.gitlab.gitlab_runner : Stop on problems of the runner definitions and the role's variables"}
    message = failed[HOSTS[0]]["result"]["msg"]
    # Said once: the other hosts point to the first.
    assert all(failed[host]["result"]["msg"] == f"stopped with the whole run before any change: {HOSTS[0]} names "
               "the problems." for host in HOSTS[1:])
    assert "gitlab_runner_runners[shared-docker]: 'limt' is not a key of a runner definition; did you mean 'limit' " \
           "under settings?" in message
    assert "'priviledged' in [runners.docker] is not a key gitlab-runner" in message and \
           "did you mean 'privileged'?" in message
    assert len(message) < 1000
    assert not (tmp_path / HOSTS[0] / "config.toml").exists()


def in_days(days):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return moment.replace(microsecond=0)


@pytest.mark.parametrize("version", ["18.11.0-ee", "18.11.0"])
def test_a_short_lived_first_token_on_ee_and_a_clear_refusal_on_ce(make_sim, ansible_playbook, tmp_path, version):
    sim = make_sim(dict(SEED, settings={"version": version}))
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}
    expires = in_days(2)
    short_lived = [dict(DEFINITIONS[0], token_expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))]

    first = ansible_playbook(SITE, inventory=inventory(tmp_path, short_lived), env=env)
    (runner,) = sim.state()["runners"]
    if version.endswith("-ee"):
        assert first.rc == 0, first.output
        assert runner["token_expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for host in HOSTS:
            entry = config(tmp_path, host)["runners"][0]
            assert entry["token"] == runner["token"] and entry["token_expires_at"] == expires
            assert entry["token_obtained_at"].year > 2000
        return
    assert first.rc != 0
    assert runner["token_expires_at"] is None
    assert (f"shared-docker: Creating runner 'shared-docker' failed: GitLab created it as runner {runner['id']} but "
            f"did not apply token_expires_at {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}: its token expires never. This "
            "GitLab does not take an expiry when a runner is created") in first.output
    assert runner["token"] not in first.output
    assert not any((tmp_path / host / "config.toml").exists() for host in HOSTS)

    sim.clear_requests()
    again = ansible_playbook(SITE, inventory=inventory(tmp_path, short_lived), env=env)
    assert again.rc == 0, again.output
    assert sim.requests("POST", "/api/v4/user/runners") == []
    assert [item["description"] for item in sim.state()["runners"]] == ["shared-docker"]
    current = sim.state()["runners"][0]["token"]
    assert {config(tmp_path, host)["runners"][0]["token"] for host in HOSTS} == {current}


def test_a_deadline_without_an_expiry_fails_before_any_gitlab_call(fleet):
    sim, run = fleet
    result = run([dict(DEFINITIONS[0], token_rotation_deadline="2030-01-01T00:00:00Z")])
    assert result.rc != 0
    assert "gitlab_runner_runners[shared-docker]: token_rotation_deadline is set without token_expires_at." in \
        result.output
    assert sim.requests() == []


def test_hosts_carry_runners_of_two_gitlab_instances(make_sim, ansible_playbook, tmp_path):
    old, new = make_sim(SEED), make_sim(dict(SEED, users=[{"username": "alice", "tokens": [
        {"token": "glpat-new-instance-00000000", "scopes": ["api"], "name": "fleet"}]}]))
    env = {"GITLAB_URL": old.url, "GITLAB_PRIVATE_TOKEN": PAT}
    # A fleet moving to a new instance declares a runner on each for a while.
    both = [DEFINITIONS[0], dict(DEFINITIONS[0], name="shared-docker-new", api_url=new.url,
                                 api_token="glpat-new-instance-00000000")]
    first = ansible_playbook(SITE, inventory=inventory(tmp_path, both), env=env, verbosity=4)
    assert first.rc == 0, first.output
    (on_old,), (on_new,) = old.state()["runners"], new.state()["runners"]
    assert (on_old["description"], on_new["description"]) == ("shared-docker", "shared-docker-new")
    for host in HOSTS:
        entries = {entry["name"]: entry for entry in config(tmp_path, host)["runners"]}
        assert (entries["shared-docker"]["url"], entries["shared-docker"]["token"]) == (old.url, on_old["token"])
        assert (entries["shared-docker-new"]["url"], entries["shared-docker-new"]["token"]) == (new.url, on_new["token"])
    # One scope check per instance, each with its own token.
    assert len(old.requests("GET", "/api/v4/personal_access_tokens/self")) == 1
    assert len(new.requests("GET", "/api/v4/personal_access_tokens/self")) == 1
    assert "glpat-new-instance" not in first.output and PAT not in first.output

    again = ansible_playbook(SITE, inventory=inventory(tmp_path, both), env=env)
    assert again.rc == 0 and all(again.changed(host) == 0 for host in HOSTS), again.output
    assert len(new.state()["runners"]) == 1

    # Then the old runner goes: declared absent, it leaves the old instance and every host.
    moved = [dict(DEFINITIONS[0], state="absent"), both[1]]
    done = ansible_playbook(SITE, inventory=inventory(tmp_path, moved), env=env, verbosity=4)
    assert done.rc == 0, done.output
    assert old.state()["runners"] == [] and len(new.state()["runners"]) == 1
    assert all([entry["name"] for entry in config(tmp_path, host)["runners"]] == ["shared-docker-new"]
               for host in HOSTS)
    assert "glpat-new-instance" not in done.output and "glrt-" not in done.output


def test_central_rotation_resets_a_first_token_once_before_its_deadline(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    bound = [dict(DEFINITIONS[0], token_expires_at=in_days(10).strftime(stamp),
                  token_rotation_deadline=in_days(1).strftime(stamp))]

    def run(rotate_before):
        extra = {"gitlab_runner_token_rotation": "central", "gitlab_runner_token_rotate_before": rotate_before}
        return ansible_playbook(SITE, inventory=inventory(tmp_path, bound, **extra), env=env)

    # The deadline is beyond the window: nothing to do yet.
    assert run(3600).rc == 0
    first = sim.state()["runners"][0]["token"]
    sim.clear_requests()
    assert run(3600).rc == 0
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []

    # Within two days of the deadline the first token is reset once, for every host; the next run leaves the
    # second token alone, though the deadline is still ahead.
    rotated = run(2 * 86400)
    assert rotated.rc == 0, rotated.output
    current = sim.state()["runners"][0]["token"]
    assert current != first
    assert {config(tmp_path, host)["runners"][0]["token"] for host in HOSTS} == {current}
    sim.clear_requests()
    again = run(2 * 86400)
    assert again.rc == 0 and all(again.changed(host) == 0 for host in HOSTS), again.output
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []


def test_a_private_ca_reaches_each_host_and_its_runners(fleet, tmp_path):
    sim, run = fleet
    bundle = tmp_path / "private-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIBprivate\n-----END CERTIFICATE-----\n", encoding="ascii")
    own_ca = {"name": "own-ca", "runner_type": "group_type", "group": "platform", "tags": ["own"],
              "settings": {"tls-ca-file": "/etc/ssl/certs/ca-certificates.crt"}}
    copied = tmp_path / "certs" / "gitlab-ca.crt"
    extra = {"gitlab_runner_tls_ca_src": str(bundle), "gitlab_runner_tls_ca_file": str(copied)}
    first = run(DEFINITIONS + (own_ca,), extra=extra)
    assert first.rc == 0, first.output
    for host in HOSTS:
        assert copied.read_bytes() == bundle.read_bytes()
        entries = {entry["name"]: entry for entry in config(tmp_path, host)["runners"]}
        assert entries["shared-docker"]["tls-ca-file"] == str(copied)
        assert entries[f"build-{host}"]["tls-ca-file"] == str(copied)
        assert entries["own-ca"]["tls-ca-file"] == "/etc/ssl/certs/ca-certificates.crt"
    second = run(DEFINITIONS + (own_ca,), extra=extra)
    assert all(second.changed(host) == 0 for host in HOSTS), second.output
