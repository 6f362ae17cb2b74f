# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""runner_config_info's main() on files shaped like the ones gitlab-runner writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils import _system_id
from ansible_collections.runnerops.gitlab.plugins.modules import runner_config_info

FIXTURES = Path(__file__).resolve().parents[1] / "module_utils" / "fixtures" / "config_toml"


@pytest.fixture
def machine_id(tmp_path, monkeypatch):
    path = tmp_path / "machine-id"
    path.write_text("fedcba9876543210fedcba9876543210\n")
    monkeypatch.setattr(_system_id, "MACHINE_ID_PATHS", (str(path),))
    return _system_id.generated_system_id([str(path)])


def info(run_module, path):
    return run_module(runner_config_info, {"path": str(path)}, check_mode=True)


def test_missing_file_is_an_empty_config_with_the_id_gitlab_runner_would_generate(run_module, tmp_path, machine_id):
    result = info(run_module, tmp_path / "config.toml")
    assert result["changed"] is False and "failed" not in result
    assert result["exists"] is False
    assert (result["global_settings"], result["runners"]) == ({}, [])
    assert (result["system_id"], result["system_id_source"]) == (machine_id, "generated")
    assert machine_id.startswith("s_") and len(machine_id) == 14


def test_register_output_and_system_id_file(run_module, tmp_path, machine_id):
    path = tmp_path / "config.toml"
    shutil.copy(FIXTURES / "register_docker.toml", path)
    (tmp_path / ".runner_system_id").write_text("s_89e5e9956577")
    result = info(run_module, path)
    assert result["exists"] is True
    assert result["global_settings"] == {"concurrent": 1, "check_interval": 0, "connection_max_age": "15m0s",
                                         "shutdown_timeout": 0, "session_server": {"session_timeout": 1800}}
    (runner,) = result["runners"]
    expected = {"name": "docker-01", "url": "https://gitlab.example.com", "id": 43,
                "token": "glrt-t2_FixtureDockerToken002", "token_obtained_at": "2026-01-12T14:03:27Z",
                "token_expires_at": "0001-01-01T00:00:00Z", "executor": "docker"}
    assert {key: runner[key] for key in expected} == expected
    assert runner["settings"]["docker"]["volumes"] == ["/cache"]
    assert runner["settings"]["cache"] == {"MaxUploadedArchiveSize": 0, "s3": {}, "gcs": {}, "azure": {}}
    assert (result["system_id"], result["system_id_source"]) == ("s_89e5e9956577", "file")


def test_rotated_token_times(run_module, tmp_path, machine_id):
    path = tmp_path / "config.toml"
    shutil.copy(FIXTURES / "rotated_token.toml", path)
    (runner,) = info(run_module, path)["runners"]
    assert (runner["token_obtained_at"], runner["token_expires_at"]) == ("2026-03-01T10:00:00Z", "2026-06-01T10:00:00Z")


def test_no_machine_id_and_no_file_gives_no_id(run_module, tmp_path, monkeypatch):
    monkeypatch.setattr(_system_id, "MACHINE_ID_PATHS", (str(tmp_path / "none"),))
    result = info(run_module, tmp_path / "config.toml")
    assert (result["system_id"], result["system_id_source"]) == (None, None)


def test_malformed_file_fails_naming_line_and_column(run_module, tmp_path, machine_id):
    path = tmp_path / "config.toml"
    path.write_text('concurrent = 1\ncheck_interval = "3\n')
    result = info(run_module, path)
    assert result["failed"] is True
    assert "line 2" in result["msg"] and "column" in result["msg"]


@pytest.mark.parametrize("broken", ["file", "directory"])
def test_a_link_to_nothing_is_out_of_reach_not_empty(run_module, tmp_path, machine_id, broken):
    """A config.toml (or its directory) on a volume that is not mounted: reading it as "no file" would make the
    host look as if it held no token."""
    if broken == "file":
        path = tmp_path / "config.toml"
        path.symlink_to(tmp_path / "volume" / "config.toml")
        link = path
    else:
        link = tmp_path / "etc-gitlab-runner"
        link.symlink_to(tmp_path / "volume")
        path = link / "config.toml"
    result = info(run_module, path)
    assert result["failed"] is True
    assert f"{link} is a symbolic link to {tmp_path / 'volume'}" in result["msg"]
    assert "does not exist" in result["msg"] and "mount or restore" in result["msg"]


def test_a_link_to_a_file_is_read_through(run_module, tmp_path, machine_id):
    volume = tmp_path / "volume"
    volume.mkdir()
    shutil.copy(FIXTURES / "register_docker.toml", volume / "config.toml")
    (tmp_path / "config.toml").symlink_to(volume / "config.toml")
    result = info(run_module, tmp_path / "config.toml")
    assert result["exists"] is True and [runner["name"] for runner in result["runners"]] == ["docker-01"]


@pytest.mark.parametrize("content", ["not-an-id", "s_123", "s_89e5e9956577x", "x_89e5e9956577"])
def test_a_system_id_gitlab_runner_would_not_accept_is_named(run_module, tmp_path, machine_id, content):
    (tmp_path / ".runner_system_id").write_text(content)
    result = info(run_module, tmp_path / "config.toml")
    assert result["failed"] is True
    assert str(tmp_path / ".runner_system_id") in result["msg"]
    assert "not a runner system id (s_ or r_ and 12 letters or digits)" in result["msg"]
    # What the file holds may be anything; it is counted, never echoed.
    assert content not in result["msg"].replace(str(tmp_path), "")


@pytest.mark.parametrize("content", ["", "\n", "  r_AbCdEf123456\n"])
def test_an_empty_or_padded_system_id_file_reads_as_gitlab_runner_reads_it(run_module, tmp_path, machine_id, content):
    (tmp_path / ".runner_system_id").write_text(content)
    result = info(run_module, tmp_path / "config.toml")
    expected = ("r_AbCdEf123456", "file") if content.strip() else (machine_id, "generated")
    assert (result["system_id"], result["system_id_source"]) == expected


def test_a_system_id_link_to_nothing_is_named(run_module, tmp_path, machine_id):
    (tmp_path / ".runner_system_id").symlink_to(tmp_path / "volume" / ".runner_system_id")
    result = info(run_module, tmp_path / "config.toml")
    assert result["failed"] is True and "is a symbolic link to" in result["msg"]


def test_a_link_to_a_file_not_written_yet_in_a_directory_that_exists_is_a_missing_file(run_module, tmp_path,
                                                                                       machine_id):
    (tmp_path / "volume").mkdir()
    (tmp_path / "config.toml").symlink_to(tmp_path / "volume" / "config.toml")
    result = info(run_module, tmp_path / "config.toml")
    assert "failed" not in result and result["exists"] is False
