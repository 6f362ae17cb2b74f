# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The packages the role names, resolved by the machine's real apt against the signed test repository.

The repository holds the TEST DOUBLE packaged as GitLab packages gitlab-runner: from 17.7.0 on, each
``gitlab-runner`` depends on ``gitlab-runner-helper-images`` of exactly its version. apt runs in simulation
(``-s``) with its own lists and cache, over the machine's installed packages, so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils import _install
from tests.gitlab_runner_double.build_repo import build

pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("apt-get", "apt-ftparchive", "dpkg-deb", "gpg")),
                                reason="needs apt, apt-utils, dpkg-dev and gnupg")

VERSIONS = ["16.11.0", "17.10.1", "17.11.0"]


@pytest.fixture(scope="module")
def apt(tmp_path_factory):
    """``apt(*args)``: apt-get on the test repository alone; returns the completed process."""
    root = tmp_path_factory.mktemp("apt")
    build(root / "repo", VERSIONS, "bookworm")
    for folder in ("lists/partial", "archives/partial", "sources.list.d", "preferences.d"):
        (root / folder).mkdir(parents=True)
    (root / "sources.list").write_text(
        f"deb [signed-by={root / 'repo' / 'gpgkey'}] file://{root / 'repo' / 'debian'} bookworm main\n",
        encoding="utf-8")
    options = [f"-o=Dir::State::Lists={root / 'lists'}", f"-o=Dir::Cache={root}",
               f"-o=Dir::Cache::Archives={root / 'archives'}", f"-o=Dir::Etc::SourceList={root / 'sources.list'}",
               f"-o=Dir::Etc::SourceParts={root / 'sources.list.d'}", f"-o=Dir::Etc::Preferences.d={root / 'preferences.d'}",
               "-o=APT::Architecture=amd64", "-o=Debug::NoLocking=1"]

    def run(*args):
        return subprocess.run(["apt-get", *options, *args], capture_output=True, text=True, check=False)

    updated = run("update")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    return run


def installs(proc):
    """``{package: version}`` apt would install."""
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith("Inst "):
            parts = line.split()
            found[parts[1]] = parts[2].strip("()[]") if parts[2].startswith("(") else parts[3].strip("()")
    return found


@pytest.mark.parametrize("version, expected", [
    ("17.10.1", {"gitlab-runner": "17.10.1-1", "gitlab-runner-helper-images": "17.10.1-1"}),
    ("17.11.0", {"gitlab-runner": "17.11.0-1", "gitlab-runner-helper-images": "17.11.0-1"}),
    ("16.11.0", {"gitlab-runner": "16.11.0-1"}),
    ("latest", {"gitlab-runner": "17.11.0-1", "gitlab-runner-helper-images": "17.11.0-1"}),
])
def test_the_packages_the_role_names_resolve_in_one_transaction(apt, version, expected):
    proc = apt("-s", "install", *_install.packages(version, "Debian")["names"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installs(proc) == expected


def test_an_older_gitlab_runner_pinned_alone_breaks_as_it_does_against_gitlabs_repository(apt):
    # What the role asked before: the pinned runner alone, so apt offers the newest helper, which it refuses.
    proc = apt("-s", "install", "gitlab-runner=17.10.1-1")
    assert proc.returncode != 0
    assert "gitlab-runner-helper-images (= 17.10.1-1) but 17.11.0-1 is to be installed" in proc.stdout + proc.stderr
