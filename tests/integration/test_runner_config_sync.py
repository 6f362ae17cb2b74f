# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""runner_config_sync and runner_config_info in real ansible-playbook runs (local connection).

Each test asserts what a user sees (task results, messages, the recap), what is on disk, and, for
unregistering, what GitLab saw (the simulator's state and request log).
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
from pathlib import Path

import tomlkit

TOKEN = "glrt-t2_IntegrationToken0001"
OLD_SHELL_TOKEN = "glrt-t1_OldShellToken000001"
STALE_TOKEN = "glrt-t1_UnknownToGitLab00001"
SYSTEM_ID = "s_0123456789ab"
OTHER_HOST = "s_ba9876543210"


def play(tasks, **extra):
    return {"name": "config.toml", "hosts": "localhost", "gather_facts": False, "tasks": tasks, **extra}


def sync_task(name, path, **args):
    return {"name": name, "runnerops.gitlab.runner_config_sync": {"path": str(path), **args}}


def docker_runner(url="https://gitlab.example.com", **settings):
    return {"name": "docker-01", "url": url, "id": 43, "token": TOKEN, "executor": "docker",
            "token_obtained_at": "2026-02-01T10:00:00Z",
            "settings": {"limit": 2, "docker": {"image": "alpine:3.20", "volumes": ["/cache"]}, **settings}}


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    return tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()


def in_days(days):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_write_same_again_then_change(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    runner = docker_runner()
    changed_runner = docker_runner(limit=4)
    run = ansible_playbook(play([
        sync_task("Write config.toml", path, concurrent=4, connection_max_age="15m", runners=[runner]),
        sync_task("Write the same again", path, concurrent=4, connection_max_age="15m", runners=[runner]),
        sync_task("Change a setting", path, concurrent=4, connection_max_age="15m", runners=[changed_runner],
                  backup=True),
        {"name": "Read it back", "runnerops.gitlab.runner_config_info": {"path": str(path)},
         "register": "__config", "no_log": True},
    ]))
    assert run.rc == 0, run.output
    names = ("Write config.toml", "Write the same again", "Change a setting")
    first, again, change = (run.result(name) for name in names)
    assert first["changed"] is True and first["added"] == ["docker-01"]
    assert again["changed"] is False and again["added"] == [] and again["updated"] == []
    assert change["changed"] is True and change["updated"] == ["docker-01"]
    assert run.changed() == 2

    data = read(path)
    assert data["concurrent"] == 4
    (entry,) = data["runners"]
    assert (entry["token"], entry["limit"], entry["docker"]["image"]) == (TOKEN, 4, "alpine:3.20")
    assert entry["token_obtained_at"] == datetime.datetime(2026, 2, 1, 10, tzinfo=datetime.timezone.utc)
    assert mode_of(path) == 0o600
    backup = change["backup_file"]
    assert backup.startswith(str(path) + ".") and mode_of(backup) == 0o600
    assert read(tmp_path / backup)["runners"][0]["limit"] == 2


def test_file_rewritten_by_gitlab_runner_in_its_style_is_not_changed(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    args = {"concurrent": 4, "connection_max_age": "15m", "runners": [docker_runner()]}
    first = ansible_playbook(play([sync_task("Write config.toml", path, **args)]))
    assert first.rc == 0, first.output
    obtained = read(path)["runners"][0]["token_obtained_at"]
    # The same content as gitlab-runner's encoder writes it after a rotation check: its key order, zero
    # values it fills in, connection_max_age as "15m0s", keys of the executor sections, no comments.
    path.write_text(f"""concurrent = 4
check_interval = 0
connection_max_age = "15m0s"
shutdown_timeout = 0

[session_server]
  session_timeout = 1800

[[runners]]
  name = "docker-01"
  limit = 2
  url = "https://gitlab.example.com"
  id = 43
  token = "{TOKEN}"
  token_obtained_at = {obtained.strftime("%Y-%m-%dT%H:%M:%SZ")}
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.cache]
    MaxUploadedArchiveSize = 0
  [runners.docker]
    tls_verify = false
    image = "alpine:3.20"
    privileged = false
    disable_entrypoint_overwrite = false
    oom_kill_disable = false
    disable_cache = false
    volumes = ["/cache"]
    shm_size = 0
    network_mtu = 0
""", encoding="utf-8")
    os.chmod(path, 0o600)
    rewritten = path.read_bytes()

    again = ansible_playbook(play([sync_task("Write config.toml", path, **args)]))
    assert again.rc == 0, again.output
    assert again.result("Write config.toml")["changed"] is False
    assert again.changed() == 0
    assert path.read_bytes() == rewritten


def test_newer_token_on_disk_is_kept(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    rotated = "glrt-t2_RotatedByRunner00003"
    path.write_text(f"""concurrent = 4

[[runners]]
  name = "docker-01"
  url = "https://gitlab.example.com"
  id = 43
  token = "{rotated}"
  token_obtained_at = 2026-03-01T10:00:00Z
  token_expires_at = {in_days(60)}
  executor = "docker"
  limit = 2
  [runners.docker]
    image = "alpine:3.20"
    volumes = ["/cache"]
""", encoding="utf-8")
    os.chmod(path, 0o600)
    before = path.read_bytes()
    run = ansible_playbook(play([sync_task("Write config.toml", path, concurrent=4, runners=[docker_runner()])]))
    assert run.rc == 0, run.output
    assert run.result("Write config.toml")["changed"] is False
    assert "[WARNING]: runners[docker-01]: kept the token on disk (obtained 2026-03-01T10:00:00Z)" in run.output
    assert path.read_bytes() == before
    assert rotated not in run.output and TOKEN not in run.output


def test_prune_unregisters_the_manager_in_gitlab(ansible_playbook, make_sim, tmp_path):
    sim = make_sim({"runners": [
        {"description": "old-shell", "runner_type": "instance_type", "token": OLD_SHELL_TOKEN,
         "managers": [{"system_id": SYSTEM_ID}, {"system_id": OTHER_HOST}]},
    ]})
    path = tmp_path / "config.toml"
    (tmp_path / ".runner_system_id").write_text(SYSTEM_ID)
    path.write_text(f"""concurrent = 4

[[runners]]
  name = "docker-01"
  url = "https://gitlab.example.com"
  id = 43
  token = "{TOKEN}"
  token_obtained_at = 2026-02-01T10:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  limit = 2
  [runners.docker]
    image = "alpine:3.20"
    volumes = ["/cache"]

[[runners]]
  # Retired; its manager must leave GitLab too.
  name = "old-shell"
  url = "{sim.url}/"
  id = 1
  token = "{OLD_SHELL_TOKEN}"
  token_obtained_at = 2025-11-02T08:15:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "shell"

[[runners]]
  name = "stale"
  url = "{sim.url}"
  token = "{STALE_TOKEN}"
  executor = "shell"
""", encoding="utf-8")
    os.chmod(path, 0o600)
    args = {"concurrent": 4, "runners": [docker_runner()], "unregister_pruned": True, "timeout": 10}
    run = ansible_playbook(play([sync_task("Prune", path, **args), sync_task("Prune again", path, **args)]))
    assert run.rc == 0, run.output

    prune = run.result("Prune")
    assert prune["changed"] is True
    assert prune["removed"] == ["old-shell", "stale"]
    assert prune["unregistered"] == ["old-shell"]
    assert "[WARNING]: runners[stale]: GitLab refused the entry's token (403)" in run.output
    again = run.result("Prune again")
    assert again["changed"] is False and again["removed"] == [] and again["unregistered"] == []

    managers = [manager["system_id"] for manager in sim.state()["runners"][0]["managers"]]
    assert managers == [OTHER_HOST]
    calls = sim.requests("DELETE", "/api/v4/runners/managers")
    assert [(call["body"]["system_id"], call["status"]) for call in calls] == [(SYSTEM_ID, 204), (SYSTEM_ID, 403)]
    assert [item["name"] for item in read(path)["runners"]] == ["docker-01"]
    for token in (OLD_SHELL_TOKEN, STALE_TOKEN, TOKEN):
        assert token not in run.output


def test_malformed_file_fails_and_stays_byte_identical(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'concurrent = 4\n\n[[runners]]\n  name = "docker-01"\n  limit = 2 2\n')
    before = path.read_bytes()
    run = ansible_playbook(play([sync_task("Write config.toml", path, runners=[docker_runner()])]))
    assert run.rc != 0
    (task,) = run.tasks("Write config.toml")
    assert task["status"] == "failed"
    assert f"Reading {path} failed: it is not valid TOML: line 5, column" in task["result"]["msg"]
    assert "line 5, column" in run.output
    assert path.read_bytes() == before
    assert sorted(item.name for item in tmp_path.iterdir() if item.name.startswith((".config", "config"))) == \
        ["config.toml"]


def test_typo_fails_with_a_suggestion(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    run = ansible_playbook(play([sync_task("Write config.toml", path,
                                           runners=[docker_runner(docker={"imagee": "alpine:3.20"})])]))
    assert run.rc != 0
    assert "'imagee' in [runners.docker] is not a key gitlab-runner 19.3 knows; did you mean 'image'?" in \
        run.result("Write config.toml")["msg"]
    assert not path.exists()


def test_check_mode_and_diff_never_show_a_token(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("""concurrent = 4

[[runners]]
  # Token rotated by hand on 2026-01-10; previous one was glrt-t2_PreviousToken0000001
  name = "docker-01"
  url = "https://gitlab.example.com"
  token = "glrt-t2_OnDiskToken000000001"
  token_obtained_at = 2026-01-10T09:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      SecretKey = "cache-secret-key-1234"

[[runners]]
  name = "old"
  url = "https://gitlab.example.com"
  token = "glrt-t1_PrunedToken00000001"
  executor = "shell"
""", encoding="utf-8")
    os.chmod(path, 0o600)
    before = path.read_bytes()
    run = ansible_playbook(play([sync_task("Preview", path, concurrent=8, unregister_pruned=True,
                                           runners=[docker_runner(), {**docker_runner(), "name": "new"}])]),
                           check=True, diff=True, verbosity=3)
    assert run.rc == 0, run.output
    result = run.result("Preview")
    assert result["changed"] is True
    assert (result["added"], result["updated"], result["removed"], result["unregistered"]) == \
        (["new"], ["docker-01"], ["old"], ["old"])
    assert path.read_bytes() == before
    assert "-concurrent = 4" in run.output and "+concurrent = 8" in run.output
    assert 'token = "<redacted>"' in run.output
    assert "glrt-" not in run.output
    assert "cache-secret-key-1234" not in run.output


DOCS_KUBERNETES = (Path(__file__).parents[1] / "unit" / "plugins" / "module_utils" / "fixtures" / "config_toml"
                   / "docs_kubernetes.toml")
K8S_TOKEN = "glrt-t3_KubernetesDocsToken01"


def test_gitlab_runner_docs_example_keeps_its_zero_times_then_takes_a_rotated_token(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    shutil.copyfile(DOCS_KUBERNETES, path)
    os.chmod(path, 0o600)
    limit_only = [{"name": "kubernetes-01", "settings": {"limit": 4}}]
    as_it_is = [{"name": "kubernetes-01", "url": "https://gitlab.com/", "id": 0, "token": K8S_TOKEN,
                 "token_obtained_at": "0001-01-01T00:00:00Z", "token_expires_at": "0001-01-01T00:00:00Z",
                 "executor": "kubernetes", "settings": {"limit": 4}}]
    rotated_at = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).replace(microsecond=0)
    rotated = [{"name": "kubernetes-01", "token": TOKEN, "token_obtained_at": rotated_at.isoformat()}]
    run = ansible_playbook(play([
        sync_task("Set a limit", path, prune=False, runners=limit_only),
        sync_task("Set it again", path, prune=False, runners=limit_only),
        sync_task("Declare the entry as it is", path, prune=False, runners=as_it_is),
    ]))
    assert run.rc == 0, run.output
    assert [run.result(name)["changed"] for name in ("Set a limit", "Set it again", "Declare the entry as it is")] == \
        [True, False, False]
    text = path.read_text(encoding="utf-8")
    assert 'token_obtained_at = "0001-01-01T00:00:00Z"' in text and 'token_expires_at = "0001-01-01T00:00:00Z"' in text

    later = ansible_playbook(play([sync_task("Hand over the rotated token", path, prune=False, runners=rotated)]))
    assert later.rc == 0, later.output
    assert later.result("Hand over the rotated token")["changed"] is True
    assert not later.result("Hand over the rotated token").get("warnings")
    entry = read(path)["runners"][0]
    assert entry["token"] == TOKEN and entry["token_obtained_at"] == rotated_at
    assert TOKEN not in later.output and K8S_TOKEN not in run.output


def test_a_table_declared_twice_fails_naming_file_line_and_column(ansible_playbook, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('concurrent = 1\n\n[[runners]]\n  name = "docker-01"\n  [runners.docker]\n    image = "alpine"\n'
                    '  [runners.docker]\n    privileged = true\n', encoding="utf-8")
    before = path.read_bytes()
    run = ansible_playbook(play([
        {"name": "Read config.toml", "runnerops.gitlab.runner_config_info": {"path": str(path)}},
    ]))
    assert run.rc != 0
    assert run.result("Read config.toml")["msg"] == (
        f'Reading {path} failed: it is not valid TOML: line 7, column 12: Key "docker" already exists. '
        "Fix: correct the file at that place or restore it from a backup; it was left as it is.")
    assert "Traceback" not in run.output
    assert path.read_bytes() == before


def test_a_symlinked_config_toml_stays_a_link_and_its_target_is_written(ansible_playbook, tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    target = volume / "config.toml"
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    run = ansible_playbook(play([
        sync_task("Write config.toml", link, concurrent=2, runners=[docker_runner()]),
        sync_task("Write it again", link, concurrent=2, runners=[docker_runner()]),
    ]))
    assert run.rc == 0, run.output
    assert [run.result(name)["changed"] for name in ("Write config.toml", "Write it again")] == [True, False]
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert read(target)["runners"][0]["token"] == TOKEN
    assert mode_of(target) == 0o600
    assert sorted(item.name for item in volume.iterdir()) == ["config.toml"]
