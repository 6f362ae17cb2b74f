# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The gitlab-runner TEST DOUBLE against the simulator: it takes a job, runs it as a child shell, and on SIGQUIT
lets it finish before it exits, as gitlab-runner does. Sent to every process of the service instead (systemd's
default ``KillMode=control-group``), SIGQUIT kills the job too: the reason the role's drop-in sets
``KillMode=mixed``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gitlab_sim import SimProcess

DOUBLE = Path(__file__).resolve().parents[1] / "gitlab_runner_double" / "files" / "gitlab-runner.py"
TOKEN = "glrt-t1_double0000000000000"


@pytest.fixture
def sim():
    with SimProcess({"runners": [{"runner_type": "instance_type", "token": TOKEN}]}) as process:
        yield process


@pytest.fixture
def double(sim, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'concurrent = 1\ncheck_interval = 1\n\n[[runners]]\nname = "double"\nurl = "{sim.url}"\n'
                      f'id = 1\ntoken = "{TOKEN}"\nexecutor = "shell"\n', encoding="utf-8")
    source = DOUBLE.read_text(encoding="utf-8").replace("@VERSION@", "17.10.1")
    program = tmp_path / "gitlab-runner"
    program.write_text(source, encoding="utf-8")
    process = subprocess.Popen([sys.executable, str(program), "run", "--config", str(config)], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def job_in(sim, status):
    return next((job for job in sim.state()["jobs"] if job["status"] == status), None)


def test_sigquit_lets_the_running_job_finish(sim, double, tmp_path):
    done = tmp_path / "job-done"
    sim.queue_job(1, ["sleep 3", f"echo finished > {done}"])
    running = wait_for(lambda: job_in(sim, "running"))
    assert running["system_id"].startswith("s_")
    double.send_signal(signal.SIGQUIT)
    assert double.wait(timeout=30) == 0
    finished = sim.state()["jobs"][0]
    assert (finished["status"], finished["exit_code"]) == ("success", 0)
    assert done.read_text(encoding="utf-8") == "finished\n"
    assert "received SIGQUIT" in double.stdout.read()


def test_no_new_job_after_sigquit(sim, double):
    sim.queue_job(1, ["sleep 2"])
    wait_for(lambda: job_in(sim, "running"))
    double.send_signal(signal.SIGQUIT)
    sim.queue_job(1, ["true"], name="late")
    assert double.wait(timeout=30) == 0
    assert [job["status"] for job in sim.state()["jobs"]] == ["success", "pending"]


def test_sigquit_to_every_process_of_the_service_kills_the_job(sim, double, tmp_path):
    done = tmp_path / "job-done"
    sim.queue_job(1, ["sleep 3", f"echo finished > {done}"])
    wait_for(lambda: job_in(sim, "running"))
    os.killpg(double.pid, signal.SIGQUIT)
    assert double.wait(timeout=30) == 0
    assert sim.state()["jobs"][0]["status"] == "failed"
    assert not done.exists()
