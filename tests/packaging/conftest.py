# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection as users get it: the tarball ``ansible-galaxy collection build`` makes, installed offline.

Fixtures (built once per test session, outside the checkout):
- ``source_tree``: a copy of the collection's files (what git tracks or would track), with the clutter a
  working copy collects planted in it: virtual environments, caches, test output, old tarballs;
- ``tarball``: the package built from that copy;
- ``collections_path``: a clean collections path with the tarball installed by ``ansible-galaxy collection
  install --offline``.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REPO_ROOT
from tests.packaging._collection import BIN, CLUTTER, NAME, NAMESPACE, TARBALL_NAME, collection_files, run, tool_env


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("source") / f"{NAMESPACE}.{NAME}"
    for relative in collection_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    for relative in CLUTTER:
        planted = root / relative
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text("clutter\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tarball(source_tree, tmp_path_factory):
    output = tmp_path_factory.mktemp("dist")
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", output, source_tree],
        env=tool_env(home=output / "ansible-home"))
    built = output / TARBALL_NAME
    assert built.is_file(), f"no {TARBALL_NAME} in {sorted(path.name for path in output.iterdir())}"
    return built


@pytest.fixture(scope="session")
def collections_path(tarball, tmp_path_factory):
    root = tmp_path_factory.mktemp("collections")
    run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", root, tarball],
        env=tool_env(collections_path=root, home=root.parent / "ansible-home"))
    assert (root / "ansible_collections" / NAMESPACE / NAME / "MANIFEST.json").is_file()
    return root
