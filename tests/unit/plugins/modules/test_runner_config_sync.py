# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""runner_config_sync's main(): what a playbook author sees in the result, and what lands on disk."""

from __future__ import annotations

import datetime
import io
import json
import os
import stat
from pathlib import Path
from urllib.error import HTTPError

import pytest
import tomlkit

from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_sync, _manager_api, _system_id
from ansible_collections.runnerops.gitlab.plugins.modules import runner_config_sync

FIXTURES = Path(__file__).resolve().parents[1] / "module_utils" / "fixtures" / "config_toml"
TOKEN = "glrt-t2_ModuleTestToken00001"
LEGACY_TOKEN = "glrt-t3_FixtureLegacyShell04"


@pytest.fixture(autouse=True)
def machine_id(tmp_path, monkeypatch):
    path = tmp_path / "machine-id"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setattr(_system_id, "MACHINE_ID_PATHS", (str(path),))
    return _system_id.generated_system_id([str(path)])


@pytest.fixture
def config_dir(tmp_path):
    directory = tmp_path / "etc"
    directory.mkdir()
    return directory


@pytest.fixture
def gitlab(monkeypatch):
    """Stands in for GitLab's runner-side API: answers DELETE /runners/managers with queued statuses."""

    class Answers:
        def __init__(self):
            self.statuses = []
            self.calls = []

        def __call__(self, url, **kwargs):
            self.calls.append({"url": url, "body": json.loads(kwargs["data"]), "method": kwargs["method"]})
            status = self.statuses.pop(0)
            if status >= 400:
                raise HTTPError(url, status, "error", {}, io.BytesIO(json.dumps({"message": str(status)}).encode()))
            return io.BytesIO(b"")

    answers = Answers()
    monkeypatch.setattr(_manager_api, "open_url", answers)
    return answers


def shell_runner(**extra):
    spec = {"name": "shell-01", "url": "https://gitlab.example.com", "token": TOKEN, "executor": "shell",
            "token_obtained_at": "2026-02-01T10:00:00Z"}
    spec.update(extra)
    return spec


def sync(run_module, path, check_mode=False, diff=False, **args):
    args["path"] = str(path)
    return run_module(runner_config_sync, args, check_mode=check_mode, diff=diff)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def warnings_of(result):
    """Warning texts; ansible-core 2.19 and later return each one as a structured summary."""
    return [warning["event"]["msg"] if isinstance(warning, dict) else warning
            for warning in result.get("warnings", [])]


def copy_fixture(name, directory):
    path = directory / "config.toml"
    path.write_bytes((FIXTURES / f"{name}.toml").read_bytes())
    return path


def test_first_write_then_nothing_to_do(run_module, config_dir):
    path = config_dir / "config.toml"
    first = sync(run_module, path, concurrent=2, runners=[shell_runner(settings={"limit": 1})])
    assert first["changed"] is True
    assert (first["added"], first["updated"], first["removed"], first["unregistered"]) == (["shell-01"], [], [], [])
    assert first["backup_file"] is None
    data = tomlkit.parse(path.read_text()).unwrap()
    assert data["concurrent"] == 2
    assert data["runners"][0]["token"] == TOKEN and data["runners"][0]["limit"] == 1
    assert mode_of(path) == 0o600

    second = sync(run_module, path, concurrent=2, runners=[shell_runner(settings={"limit": 1})])
    assert second["changed"] is False
    assert second["added"] == [] and second["updated"] == []


def test_token_never_appears_in_the_result(run_module, config_dir):
    result = sync(run_module, config_dir / "config.toml", diff=True, runners=[shell_runner()])
    assert "glrt-" not in json.dumps(result)
    assert 'token = "<redacted>"' in result["diff"]["after"]


def test_check_mode_writes_nothing_and_still_reports(run_module, config_dir):
    path = config_dir / "config.toml"
    result = sync(run_module, path, check_mode=True, diff=True, runners=[shell_runner()])
    assert result["changed"] is True and result["added"] == ["shell-01"]
    assert not path.exists()
    assert result["diff"]["before"] == ""
    assert 'name = "shell-01"' in result["diff"]["after"]


def test_change_of_a_setting_updates_the_entry_and_makes_a_backup(run_module, config_dir):
    path = copy_fixture("hand_edited", config_dir)
    os.chmod(path, 0o644)
    before = path.read_bytes()
    result = sync(run_module, path, backup=True, prune=False, runners=[{"name": "docker-01", "settings": {"limit": 4}}])
    assert result["changed"] is True and result["updated"] == ["docker-01"]
    backup = Path(result["backup_file"])
    assert backup.read_bytes() == before and mode_of(backup) == 0o600
    assert mode_of(path) == 0o600
    assert "limit = 4 # memory bound" in path.read_text()


def test_only_the_mode_differs(run_module, config_dir):
    path = copy_fixture("register_shell", config_dir)
    os.chmod(path, 0o644)
    before = path.read_bytes()
    assert sync(run_module, path, check_mode=True)["changed"] is True
    assert mode_of(path) == 0o644
    assert sync(run_module, path)["changed"] is True
    assert mode_of(path) == 0o600 and path.read_bytes() == before
    assert sync(run_module, path, mode="0640")["changed"] is True
    assert mode_of(path) == 0o640


def test_malformed_file_fails_with_line_and_column_and_is_not_touched(run_module, config_dir):
    path = config_dir / "config.toml"
    path.write_bytes(b'concurrent = 4\n[[runners]\n  name = "x"\n')
    before = path.read_bytes()
    result = sync(run_module, path, runners=[shell_runner()])
    assert result["failed"] is True
    assert "line 2, column" in result["msg"]
    assert path.read_bytes() == before
    assert sorted(item.name for item in config_dir.iterdir()) == ["config.toml"]


def test_typo_fails_with_a_suggestion(run_module, config_dir):
    result = sync(run_module, config_dir / "config.toml",
                  runners=[shell_runner(settings={"docker": {"privilegd": True}})])
    assert result["failed"] is True
    assert "did you mean 'privileged'?" in result["msg"]
    assert "validate_keys=warn" in result["msg"]
    assert not (config_dir / "config.toml").exists()


def test_warn_mode_writes_and_warns(run_module, config_dir):
    result = sync(run_module, config_dir / "config.toml", validate_keys="warn",
                  runners=[shell_runner(settings={"pre_clone_script": "echo hi"})])
    assert result["changed"] is True
    assert any("'pre_get_sources_script'" in warning for warning in warnings_of(result))


def test_wrong_type_fails_naming_the_key(run_module, config_dir):
    result = sync(run_module, config_dir / "config.toml", validate_keys="warn",
                  runners=[shell_runner(settings={"limit": "many"})])
    assert result["failed"] is True
    assert "'limit' in [[runners]] must be an integer, got a string" in result["msg"]


def test_token_in_settings_is_refused_without_echoing_it(run_module, config_dir):
    result = sync(run_module, config_dir / "config.toml", runners=[{"name": "a", "settings": {"token": TOKEN}}])
    assert result["failed"] is True
    assert "runners[].token" in result["msg"]
    assert TOKEN not in json.dumps(result)


def test_newer_token_on_disk_is_kept_with_a_warning(run_module, config_dir):
    path = copy_fixture("rotated_token", config_dir)
    # The module runs on the real clock: the token on disk must not have expired yet.
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(path.read_text().replace("2026-06-01T10:00:00Z", expires))
    os.chmod(path, 0o600)
    before = path.read_bytes()
    result = sync(run_module, path, concurrent=4, runners=[{
        "name": "docker-01", "token": TOKEN, "token_obtained_at": "2026-02-01T00:00:00Z"}])
    assert result["changed"] is False
    assert any("kept the token on disk (obtained 2026-03-01T10:00:00Z)" in warning for warning in warnings_of(result))
    assert path.read_bytes() == before


def test_prune_unregisters_the_manager_first(run_module, config_dir, gitlab, machine_id):
    path = copy_fixture("hand_edited", config_dir)
    gitlab.statuses = [204]
    result = sync(run_module, path, unregister_pruned=True, runners=[{"name": "docker-01"}])
    assert result["removed"] == ["shell-legacy"] and result["unregistered"] == ["shell-legacy"]
    assert gitlab.calls == [{"url": "https://gitlab.example.com/api/v4/runners/managers", "method": "DELETE",
                             "body": {"token": LEGACY_TOKEN, "system_id": machine_id}}]
    assert "shell-legacy" not in path.read_text()
    assert LEGACY_TOKEN not in json.dumps(result)


def test_system_id_file_is_preferred_for_unregistering(run_module, config_dir, gitlab):
    path = copy_fixture("hand_edited", config_dir)
    (config_dir / ".runner_system_id").write_text("s_a1b2c3d4e5f6")
    gitlab.statuses = [404]
    result = sync(run_module, path, unregister_pruned=True, runners=[{"name": "docker-01"}])
    assert result["unregistered"] == ["shell-legacy"]
    assert gitlab.calls[0]["body"]["system_id"] == "s_a1b2c3d4e5f6"


def test_refused_token_warns_naming_the_entry(run_module, config_dir, gitlab):
    path = copy_fixture("hand_edited", config_dir)
    gitlab.statuses = [403]
    result = sync(run_module, path, unregister_pruned=True, runners=[{"name": "docker-01"}])
    assert result["changed"] is True and result["removed"] == ["shell-legacy"] and result["unregistered"] == []
    assert any(warning.startswith("runners[shell-legacy]: GitLab refused the entry's token (403)")
               for warning in warnings_of(result))


def test_failed_unregister_leaves_the_file(run_module, config_dir, gitlab, monkeypatch):
    monkeypatch.setattr(_manager_api.time, "sleep", lambda seconds: None)
    path = copy_fixture("hand_edited", config_dir)
    before = path.read_bytes()
    gitlab.statuses = [500, 500, 500]
    result = sync(run_module, path, unregister_pruned=True, runners=[{"name": "docker-01"}])
    assert result["failed"] is True and result["status"] == 500
    assert "shell-legacy" in result["msg"] and "left as it was" in result["msg"]
    assert path.read_bytes() == before
    assert LEGACY_TOKEN not in json.dumps(result)


def test_check_mode_contacts_nobody(run_module, config_dir, gitlab):
    path = copy_fixture("hand_edited", config_dir)
    before = path.read_bytes()
    result = sync(run_module, path, check_mode=True, unregister_pruned=True, runners=[{"name": "docker-01"}])
    assert result["unregistered"] == ["shell-legacy"] and result["changed"] is True
    assert gitlab.calls == []
    assert path.read_bytes() == before


def test_write_system_id(run_module, config_dir, machine_id):
    path = copy_fixture("register_shell", config_dir)
    os.chmod(path, 0o600)
    id_file = config_dir / ".runner_system_id"
    assert sync(run_module, path, check_mode=True, write_system_id=True)["changed"] is True
    assert not id_file.exists()
    assert sync(run_module, path, write_system_id=True)["changed"] is True
    assert id_file.read_text() == machine_id and mode_of(id_file) == 0o600
    assert sync(run_module, path, write_system_id=True)["changed"] is False


def test_missing_directory_fails_with_a_fix(run_module, tmp_path):
    result = sync(run_module, tmp_path / "missing" / "config.toml", runners=[shell_runner()])
    assert result["failed"] is True
    assert "directory exists" in result["msg"]


def test_token_gitlab_runner_rotates_while_the_module_plans_is_kept(run_module, config_dir, monkeypatch):
    path = config_dir / "config.toml"
    assert sync(run_module, path, runners=[shell_runner()])["changed"] is True
    rotated = "glrt-t2_RotatedByTheRunner0001"
    real_plan = _config_sync.plan_sync
    planned = []

    def plan_then_runner_rotates(*args, **kwargs):
        plan = real_plan(*args, **kwargs)
        if not planned:
            # gitlab-runner rotates the token and rewrites the file right after the module read it.
            text = path.read_text(encoding="utf-8").replace(TOKEN, rotated)
            path.write_text(text.replace("2026-02-01T10:00:00Z", "2026-03-01T10:00:00Z"), encoding="utf-8")
        planned.append(plan)
        return plan

    monkeypatch.setattr(_config_sync, "plan_sync", plan_then_runner_rotates)
    result = sync(run_module, path, concurrent=7, runners=[shell_runner()])
    assert len(planned) == 2
    data = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    assert data["concurrent"] == 7
    assert data["runners"][0]["token"] == rotated
    assert any("kept the token on disk (obtained 2026-03-01T10:00:00Z)" in text for text in warnings_of(result))


def test_secrets_are_masked_in_the_result_and_the_diff_shows_them_redacted(run_module, config_dir):
    path = config_dir / "config.toml"
    settings = {"environment": ["DB_PASSWORD=hunter2-canary", "GIT_DEPTH=10"],
                "cache": {"Type": "s3", "s3": {"SecretKey": "s3-secret-canary", "BucketName": "cache"}},
                "kubernetes": {"bearer_token": "k8s-bearer-canary"}}
    result = sync(run_module, path, diff=True, concurrent=10, runners=[shell_runner(settings=settings)])
    text = json.dumps(result)
    for secret in ("hunter2-canary", "s3-secret-canary", "k8s-bearer-canary", TOKEN):
        assert secret not in text
    # A short environment value is not masked everywhere: the diff still says concurrent = 10.
    assert "concurrent = 10" in result["diff"]["after"]
    assert '"DB_PASSWORD=<redacted>", "GIT_DEPTH=<redacted>"' in result["diff"]["after"]
    assert 'SecretKey = "<redacted>"' in result["diff"]["after"]
    assert result["restart_required"] is False
    assert tomlkit.parse(path.read_text()).unwrap()["runners"][0]["cache"]["s3"]["SecretKey"] == "s3-secret-canary"


def test_restart_required_when_a_setting_read_only_at_start_changes(run_module, config_dir):
    path = config_dir / "config.toml"
    assert sync(run_module, path, runners=[shell_runner()])["restart_required"] is False
    assert sync(run_module, path, listen_address="127.0.0.1:9252", runners=[shell_runner()],
                check_mode=True)["restart_required"] is True
    assert sync(run_module, path, listen_address="127.0.0.1:9252", runners=[shell_runner()])["restart_required"]
    assert sync(run_module, path, listen_address="127.0.0.1:9252", runners=[shell_runner()])[
        "restart_required"] is False
