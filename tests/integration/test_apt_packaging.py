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
from pathlib import Path

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

    def run(*args, status=None):
        state = [f"-o=Dir::State::status={status}"] if status else []
        return subprocess.run(["apt-get", *options, *state, *args], capture_output=True, text=True, check=False)

    updated = run("update")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    run.pool = root / "repo" / "debian" / "pool" / "main" / "g" / "gitlab-runner"
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


def installed_pair(tmp_path, version):
    """The machine's dpkg status with the gitlab-runner pair of ``version`` installed and held, as the role
    leaves a host it pinned."""
    stanzas = [
        ("gitlab-runner-helper-images", ""),
        ("gitlab-runner", f"python3 (>= 3.11), gitlab-runner-helper-images (= {version}-1)"),
    ]
    status = tmp_path / "status"
    text = Path("/var/lib/dpkg/status").read_text(encoding="utf-8").rstrip("\n") + "\n"
    for name, depends in stanzas:
        text += (f"\nPackage: {name}\nStatus: hold ok installed\nPriority: optional\nSection: devel\n"
                 f"Maintainer: runnerops.gitlab tests <tests@localhost>\nArchitecture: all\nVersion: {version}-1\n"
                 + (f"Depends: {depends}\n" if depends else "") + f"Description: {name}\n")
    status.write_text(text, encoding="utf-8")
    return status


@pytest.mark.parametrize("target", ["17.11.0", "17.10.1"])
def test_moving_a_held_pair_to_another_version_resolves_in_one_transaction(apt, tmp_path, target):
    start = "17.10.1" if target == "17.11.0" else "17.11.0"
    status = installed_pair(tmp_path, start)
    # What the role runs: both packages at the new version, allowed to change what it held, downgrades allowed.
    proc = apt("-s", "install", "--allow-change-held-packages", "--allow-downgrades",
               *_install.packages(target, "Debian")["names"], status=status)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installs(proc) == {"gitlab-runner": f"{target}-1", "gitlab-runner-helper-images": f"{target}-1"}


def test_a_held_pair_stays_on_a_plain_upgrade_and_moves_only_together(apt, tmp_path):
    status = installed_pair(tmp_path, "17.10.1")
    upgrade = apt("-s", "upgrade", status=status)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert installs(upgrade) == {} and "kept back" in upgrade.stdout
    # One package at a time, as a role installing the two in separate transactions asks: each order breaks.
    helper_first = apt("-s", "install", "--allow-change-held-packages", "gitlab-runner-helper-images=17.11.0-1",
                       status=status)
    assert helper_first.returncode != 0
    assert "Depends: gitlab-runner-helper-images (= 17.10.1-1) but 17.11.0-1 is to be installed" in helper_first.stdout
    runner_first = apt("-s", "install", "--allow-change-held-packages", "gitlab-runner=17.11.0-1", status=status)
    assert runner_first.returncode != 0
    assert "Depends: gitlab-runner-helper-images (= 17.11.0-1) but 17.10.1-1 is to be installed" in runner_first.stdout


def downloaded(apt, tmp_path, version, names=("gitlab-runner", "gitlab-runner-helper-images")):
    """The package files of ``version`` as install method package_url leaves them on the host, named as GitLab's
    release downloads name them; returns the apt-get arguments the role runs (in simulation: check mode)."""
    urls = []
    for name in names:
        built = apt.pool / f"{name}_{version}-1_all.deb"
        kept = tmp_path / ("gitlab-runner_amd64.deb" if name == "gitlab-runner" else f"{name}.deb")
        kept.write_bytes(built.read_bytes())
        urls.append({"url": f"https://gitlab-runner-downloads.s3.amazonaws.com/v{version}/deb/{kept.name}",
                     "checksum": "sha256:" + "0" * 64})
    return _install.package_files(urls, "Debian", str(tmp_path), check_mode=True)["apt_get"]


@pytest.mark.parametrize("target", ["17.11.0", "17.10.1"])
def test_package_files_move_a_held_pair_in_one_transaction(apt, tmp_path, target):
    start = "17.10.1" if target == "17.11.0" else "17.11.0"
    status = installed_pair(tmp_path, start)
    proc = apt(*downloaded(apt, tmp_path, target)[1:], status=status)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installs(proc) == {"gitlab-runner": f"{target}-1", "gitlab-runner-helper-images": f"{target}-1"}
    assert _install.apt_get_changed(proc.stdout) is True


def test_package_files_of_the_installed_version_change_nothing(apt, tmp_path):
    status = installed_pair(tmp_path, "17.11.0")
    proc = apt(*downloaded(apt, tmp_path, "17.11.0")[1:], status=status)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installs(proc) == {} and _install.apt_get_changed(proc.stdout) is False


def test_the_runner_file_alone_breaks_on_a_held_older_pair(apt, tmp_path):
    status = installed_pair(tmp_path, "17.10.1")
    proc = apt(*downloaded(apt, tmp_path, "17.11.0", names=("gitlab-runner",))[1:], status=status)
    assert proc.returncode != 0
    assert "gitlab-runner-helper-images (= 17.11.0-1) but 17.10.1-1 is to be installed" in proc.stdout
