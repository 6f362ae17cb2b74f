# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The role asks GitLab the same of a per-host runner as of a shared one.

Per-host runners are settled and deleted in files included only on the hosts that have them (a skipped
include costs a host less than an empty loop), so their ``gitlab_runner_create`` arguments are written a second
time: YAML anchors do not cross files. These tests keep the two copies one.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO_ROOT

TASKS = REPO_ROOT / "roles" / "gitlab_runner" / "tasks"


def create_task(file_name, task_name):
    tasks = yaml.safe_load((TASKS / file_name).read_text(encoding="utf-8"))
    task = next(task for task in tasks if task.get("name") == task_name)
    return task


@pytest.mark.parametrize("shared, per_host", [
    (("runners.yml", "Ensure shared runners in GitLab and settle their tokens"),
     ("runners-per-host.yml", "Ensure per-host runners in GitLab and settle their tokens")),
    (("absent.yml", "Delete shared runners declared absent"),
     ("absent-per-host.yml", "Delete the per-host runners of this host declared absent")),
])
def test_per_host_runners_get_the_arguments_of_shared_ones(shared, per_host):
    shared_task, per_host_task = create_task(*shared), create_task(*per_host)
    module = "runnerops.gitlab.gitlab_runner_create"
    assert per_host_task[module] == shared_task[module]
    for keyword in ("module_defaults", "delegate_to", "become", "no_log", "ignore_errors", "loop_control"):
        assert per_host_task.get(keyword) == shared_task.get(keyword), keyword
    # The shared task runs once for the play; the per-host one on each host that includes it.
    assert shared_task.get("run_once") is True and "run_once" not in per_host_task
