# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the packaging tests share: the collection's name and version, its files, and Ansible's tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text(encoding="utf-8"))
NAMESPACE, NAME, VERSION = GALAXY["namespace"], GALAXY["name"], GALAXY["version"]
TARBALL_NAME = f"{NAMESPACE}-{NAME}-{VERSION}.tar.gz"

# Files a working copy collects that must never reach the package, relative to the collection root.
CLUTTER = (
    ".venv/bin/python",
    ".venv/lib/python3.12/site-packages/gitlab/__init__.py",
    ".tox/py312/bin/python",
    ".ci/run",
    ".git/HEAD",
    ".ansible/collections/ansible_collections/placeholder",
    "tests/output/junit/python3.12-sanity.xml",
    "tests/output/.tmp/sanity/output.json",
    "plugins/modules/__pycache__/gitlab_runner_create.cpython-312.pyc",
    "plugins/module_utils/_gitlab.pyc",
    ".pytest_cache/v/cache/lastfailed",
    "tests/unit/.pytest_cache/v/cache/nodeids",
    ".mypy_cache/3.12/gitlab.data.json",
    ".hypothesis/examples/0a1b2c/3d4e5f",
    "molecule/default/.cache/molecule/state.yml",
    "molecule/.molecule/default/state.yml",
    "roles/gitlab_runner/.ansible/tmp/placeholder",
    ".coverage",
    "htmlcov/index.html",
    "benchmarks/results/fleet-1000.json",
    "dist/runnerops-gitlab-0.0.1.tar.gz",
    "context/Containerfile",
    "context/_build/requirements.txt",
    "runnerops-gitlab-0.0.9.tar.gz",
    "playbooks/site.retry",
)


def run(command, **kwargs):
    """Run a command, failing the test with its output when it fails."""
    kwargs.setdefault("env", tool_env())
    proc = subprocess.run([str(part) for part in command], capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, f"{' '.join(str(part) for part in command)} exited {proc.returncode}:\n" \
                                 f"{proc.stdout}\n{proc.stderr}"
    return proc


def tool_env(collections_path=None, home=None):
    """The environment for Ansible's tools: no outside ANSIBLE_* settings, this virtual environment first."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    if home is not None:
        env["ANSIBLE_HOME"] = str(home)
    if collections_path is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
        env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    return env


def collection_files():
    """The collection's files as git lists them: tracked, plus new files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode("utf-8")
    return sorted(path for path in listed.split("\0") if path and (REPO_ROOT / path).is_file())
