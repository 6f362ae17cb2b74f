# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which gitlab-runner packages one install names and holds."""

from __future__ import annotations

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils import _install
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError


@pytest.mark.parametrize("version, family, names, held", [
    ("17.11.0", "Debian", ["gitlab-runner=17.11.0-1", "gitlab-runner-helper-images=17.11.0-1"],
     ["gitlab-runner", "gitlab-runner-helper-images"]),
    ("19.2.0-1", "Debian", ["gitlab-runner=19.2.0-1", "gitlab-runner-helper-images=19.2.0-1"],
     ["gitlab-runner", "gitlab-runner-helper-images"]),
    ("17.7.0", "RedHat", ["gitlab-runner-17.7.0-1", "gitlab-runner-helper-images-17.7.0-1"],
     ["gitlab-runner", "gitlab-runner-helper-images"]),
    # Before 17.7.0 the helper images were inside gitlab-runner.
    ("17.6.1", "Debian", ["gitlab-runner=17.6.1-1"], ["gitlab-runner"]),
    ("16.11.0", "RedHat", ["gitlab-runner-16.11.0-1"], ["gitlab-runner"]),
    (" 17.10.1 ", "Debian", ["gitlab-runner=17.10.1-1", "gitlab-runner-helper-images=17.10.1-1"],
     ["gitlab-runner", "gitlab-runner-helper-images"]),
])
def test_a_pinned_version_names_the_pair_of_its_version_and_holds_it(version, family, names, held):
    chosen = _install.packages(version, family)
    assert chosen["names"] == names and chosen["state"] == "present"
    assert chosen["selections"] == [{"name": name, "selection": "hold"} for name in held]


def test_latest_names_both_unpinned_and_releases_a_hold():
    chosen = _install.packages("latest", "Debian")
    assert chosen == {"names": ["gitlab-runner", "gitlab-runner-helper-images"], "state": "latest", "version": None,
                      "selections": [{"name": "gitlab-runner", "selection": "install"},
                                     {"name": "gitlab-runner-helper-images", "selection": "install"}]}


@pytest.mark.parametrize("version, family, words", [
    ("17.11", "Debian", ["'17.11' is not a version", 'such as "17.11.0"']),
    ("v17.11.0", "Debian", ["is not a version"]),
    ("17.11.0*", "Debian", ["is not a version"]),
    ("17.11.0", "Suse", ["'Suse' has no gitlab-runner package", "gitlab_runner_install_method: none"]),
])
def test_what_cannot_be_installed_is_named_with_the_fix(version, family, words):
    with pytest.raises(RunnerOpsError) as caught:
        _install.packages(version, family)
    for word in words:
        assert word in str(caught.value)
