# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What ``ansible-galaxy collection build`` puts in the tarball, built from a working copy full of clutter."""

from __future__ import annotations

import json
import tarfile
from fnmatch import fnmatch

import pytest

from tests.packaging._collection import CLUTTER, VERSION, collection_files

# Parts of a path that mark a file the package must not hold, wherever it sits.
FORBIDDEN_PARTS = {".venv", ".tox", ".ci", ".git", ".ansible", ".pytest_cache", ".mypy_cache", ".hypothesis",
                   ".cache", ".molecule", "__pycache__", "htmlcov"}
FORBIDDEN_NAMES = ("*.pyc", "*.pyo", "*.tar.gz", "*.retry", ".coverage")
# Output folders, at the collection's root.
FORBIDDEN_FOLDERS = ("dist/", "context/", "tests/output/", "benchmarks/results/")

# What users run and read: every file of these must ship.
SHIPPED = ("plugins/*", "roles/*", "playbooks/*", "meta/*", "docs/docsite/*", "awx/*", "changelogs/changelog.yaml",
           "README.md", "requirements.txt", "bindep.txt", "execution-environment.yml")


@pytest.fixture(scope="module")
def members(tarball):
    with tarfile.open(tarball) as archive:
        return {member.name: member for member in archive.getmembers()}


@pytest.fixture(scope="module")
def manifest(tarball):
    with tarfile.open(tarball) as archive:
        return json.load(archive.extractfile("MANIFEST.json"))


def test_the_tarball_holds_no_test_output_caches_or_virtual_environments(members):
    leaked = sorted(name for name in members if FORBIDDEN_PARTS.intersection(name.split("/"))
                    or any(fnmatch(name.rsplit("/", 1)[-1], pattern) for pattern in FORBIDDEN_NAMES)
                    or (name + "/").startswith(FORBIDDEN_FOLDERS))
    assert leaked == []


def test_none_of_the_planted_clutter_is_packaged(members):
    assert sorted(set(CLUTTER) & set(members)) == []


def test_every_file_users_need_is_packaged(members):
    wanted = [path for path in collection_files() if any(fnmatch(path, pattern) for pattern in SHIPPED)]
    assert len(wanted) > 20
    assert sorted(path for path in wanted if path not in members) == []


def test_the_package_holds_every_module_the_runtime_and_the_role(members):
    for path in ("meta/runtime.yml", "plugins/modules/gitlab_runner_create.py", "plugins/modules/gitlab_runner_info.py",
                 "plugins/modules/runner_config_info.py", "plugins/modules/runner_config_sync.py",
                 "plugins/lookup/runner_definitions.py", "plugins/module_utils/_gitlab.py",
                 "plugins/doc_fragments/_gitlab.py", "roles/gitlab_runner/meta/argument_specs.yml",
                 "roles/gitlab_runner/tasks/main.yml", "playbooks/site.yml", "meta/execution-environment.yml"):
        assert path in members, path


def test_manifest_names_the_collection_its_version_and_license(manifest):
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("runnerops", "gitlab", VERSION)
    assert info["license"] == ["GPL-3.0-or-later"]
    assert info["dependencies"] == {}


def test_the_tarball_stays_small(tarball):
    # Everything the collection is made of compresses to well under a megabyte; a venv or a cache does not.
    assert tarball.stat().st_size < 1024 * 1024
