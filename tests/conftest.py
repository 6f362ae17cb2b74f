# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test harness: the collection on an ``ansible_collections`` path, the GitLab simulator, and real
``ansible-playbook`` runs.

Fixtures:
- ``make_sim(seed)``: starts ``python -m tests.gitlab_sim`` on a free port with a seed dict and
  returns its ``SimProcess`` (stopped at teardown).
- ``ansible_playbook(playbook, ...)``: runs the real ``ansible-playbook`` against this checkout of
  the collection and returns a ``PlaybookRun`` (exit code, output, per-task results, recap).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.reliability import figures as reliability_figures

REPO_ROOT = Path(__file__).resolve().parent.parent
CALLBACK_DIR = REPO_ROOT / "tests" / "integration" / "callback_plugins"


def _collections_root():
    """A directory holding ``ansible_collections/runnerops/gitlab`` -> this checkout.

    It lives outside the checkout so tools that walk the tree never meet a link back into it.
    """
    digest = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"runnerops-gitlab-{os.getuid()}-{digest}"
    link = root / "ansible_collections" / "runnerops" / "gitlab"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        except FileExistsError:
            pass
    return root


COLLECTIONS_ROOT = _collections_root()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))


@pytest.fixture
def make_sim(tmp_path):
    from tests.gitlab_sim.process import SimProcess

    started = []

    def start(seed=None):
        seed_file = tmp_path / f"seed-{len(started)}.yml"
        seed_file.write_text(yaml.safe_dump(seed or {}), encoding="utf-8")
        sim = SimProcess(seed_file).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@dataclass
class PlaybookRun:
    """What one ``ansible-playbook`` run showed."""

    command: list
    rc: int
    stdout: str
    stderr: str
    records: list = field(default_factory=list)

    @property
    def output(self):
        return self.stdout + self.stderr

    @property
    def recap(self):
        for record in reversed(self.records):
            if record["type"] == "stats":
                return record["recap"]
        return {}

    def tasks(self, name=None, host=None):
        """Task results, optionally only those of one task name and one host."""
        return [
            record for record in self.records
            if record["type"] == "task"
            and (name is None or record["task"] == name)
            and (host is None or record["host"] == host)
        ]

    def result(self, name, host="localhost"):
        """The one result of task ``name`` on ``host``."""
        matches = self.tasks(name, host)
        assert len(matches) == 1, f"expected one result of {name!r} on {host}, got {len(matches)}:\n{self.output}"
        return matches[0]["result"]

    def changed(self, host="localhost"):
        return self.recap[host]["changed"]

    def failed(self, host="localhost"):
        return self.recap[host]["failures"]


def playbook_env(tmp_path, extra=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_ROOT),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CALLBACKS_ENABLED": "record_results",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "true",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "PYTHONPATH": str(COLLECTIONS_ROOT),
    })
    env.update(extra or {})
    return env


@pytest.fixture
def ansible_playbook(tmp_path):
    counter = {"runs": 0}

    def run(playbook, inventory=None, extra_vars=None, check=False, diff=False, verbosity=0,
            env=None, limit=None, timeout=600):
        counter["runs"] += 1
        run_dir = tmp_path / f"run-{counter['runs']}"
        run_dir.mkdir()
        if isinstance(playbook, (list, dict)):
            playbook_file = run_dir / "playbook.yml"
            playbook_file.write_text(yaml.safe_dump(playbook if isinstance(playbook, list) else [playbook],
                                                    sort_keys=False), encoding="utf-8")
        elif isinstance(playbook, str) and "\n" in playbook:
            playbook_file = run_dir / "playbook.yml"
            playbook_file.write_text(playbook, encoding="utf-8")
        else:
            playbook_file = Path(playbook)
        results_file = run_dir / "results.jsonl"
        command = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook_file)]
        if inventory is None:
            inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}
        if isinstance(inventory, dict):
            inventory_file = run_dir / "inventory.yml"
            inventory_file.write_text(yaml.safe_dump(inventory), encoding="utf-8")
            inventory = inventory_file
        command += ["-i", str(inventory)]
        if extra_vars:
            vars_file = run_dir / "extra_vars.json"
            vars_file.write_text(json.dumps(extra_vars), encoding="utf-8")
            command += ["-e", f"@{vars_file}"]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if limit:
            command += ["--limit", limit]
        if verbosity:
            command.append("-" + "v" * verbosity)
        run_env = playbook_env(tmp_path, dict(env or {}, RUNNEROPS_RESULTS_FILE=str(results_file)))
        proc = subprocess.run(command, cwd=run_dir, env=run_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        records = []
        if results_file.exists():
            records = [json.loads(line) for line in results_file.read_text(encoding="utf-8").splitlines() if line]
        return PlaybookRun(command=command, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                           records=records)

    return run


def pytest_runtest_logreport(report):
    reliability_figures.collect(report)


def pytest_terminal_summary(terminalreporter):
    reliability_figures.summarize(terminalreporter)
