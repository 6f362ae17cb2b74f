# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Two checkouts testing at once build in folders of their own: sanity, package, docs and the EE context."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO_ROOT


def build_dirs(checkout):
    proc = subprocess.run(["make", "-s", "build-dirs"], cwd=checkout, capture_output=True, text=True, check=True)
    return proc.stdout.split()


def test_two_checkouts_never_share_a_build_folder(tmp_path):
    checkouts = []
    for name in ("one", "two"):
        checkout = tmp_path / name / "runnerops.gitlab"
        checkout.mkdir(parents=True)
        for file in ("Makefile", "galaxy.yml"):
            shutil.copy2(REPO_ROOT / file, checkout / file)
        checkouts.append(checkout)
    first, second = (build_dirs(checkout) for checkout in checkouts)
    assert len(first) == len(second) == 4
    assert len(set(first)) == 4
    assert not set(first) & set(second)
    for mine, theirs in ((first, second), (second, first)):
        for folder in mine:
            assert not any(folder == other or folder.startswith(other + "/") or other.startswith(folder + "/")
                           for other in theirs), (folder, theirs)
    assert build_dirs(checkouts[0]) == first
