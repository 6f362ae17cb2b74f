# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lock two runs on one machine take turns on."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._lock import ExclusiveLock, api_lock_path

HOLDER = """
import fcntl, os, sys, time
handle = os.open(sys.argv[1], os.O_RDONLY if os.path.isdir(sys.argv[1]) else os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(path, seconds):
    """Another process holding the lock on ``path`` for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_file_is_created_0600_in_a_private_directory(tmp_path):
    path = api_lock_path(str(tmp_path / "locks"), "https://gitlab.example.com/")
    with ExclusiveLock(path, 1, "runner 'docker'"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(tmp_path / "locks").st_mode) == 0o700
    assert api_lock_path(str(tmp_path / "locks"), "https://GitLab.example.com") == path
    assert api_lock_path(str(tmp_path / "locks"), "https://gitlab.other.example") != path


def test_second_run_waits_for_the_first_then_proceeds(tmp_path):
    path = tmp_path / "gitlab.lock"
    holder = hold(path, 1.0)
    started = time.monotonic()
    with ExclusiveLock(str(path), 30, "runner 'docker'"):
        waited = time.monotonic() - started
    holder.wait()
    assert waited >= 0.5


def test_lock_held_too_long_fails_naming_it_and_the_fix(tmp_path):
    path = tmp_path / "gitlab.lock"
    holder = hold(path, 5)
    try:
        with pytest.raises(RunnerOpsError) as caught:
            with ExclusiveLock(str(path), 0.3, "runner 'docker'"):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert f"Waiting for the lock on {path} for runner 'docker' failed: another run has held it for 0.3 seconds." \
        in str(caught.value)
    assert "let the other play finish first" in caught.value.fix


def test_lock_of_a_killed_run_is_free_at_once(tmp_path):
    holder = hold(tmp_path / "gitlab.lock", 60)
    holder.kill()
    holder.wait()
    with ExclusiveLock(str(tmp_path / "gitlab.lock"), 0.5, "runner 'docker'"):
        pass


def test_directory_lock_takes_turns_without_creating_a_file(tmp_path):
    holder = hold(tmp_path, 5)
    try:
        with pytest.raises(RunnerOpsError):
            with ExclusiveLock(str(tmp_path), 0.2, "writing config.toml"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with ExclusiveLock(str(tmp_path), 0.2, "writing config.toml"):
        assert list(tmp_path.iterdir()) == []
