# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which gitlab-runner packages one install names and holds."""

from __future__ import annotations

import re

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
    chosen.pop("locks")
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


def debs(**versions):
    """package_facts' packages on a Debian host."""
    return {name.replace("_", "-"): [{"name": name.replace("_", "-"), "version": version, "source": "apt"}]
            for name, version in versions.items()}


@pytest.mark.parametrize("facts, family, version, expected", [
    (debs(gitlab_runner="17.11.0-1", gitlab_runner_helper_images="17.11.0-1"), "Debian", "17.11.0", True),
    (debs(gitlab_runner="17.10.1-1", gitlab_runner_helper_images="17.10.1-1"), "Debian", "17.11.0", False),
    # A pair left half upgraded is not the version.
    (debs(gitlab_runner="17.11.0-1", gitlab_runner_helper_images="17.10.1-1"), "Debian", "17.11.0", False),
    (debs(gitlab_runner="17.11.0-1"), "Debian", "17.11.0", False),
    (debs(gitlab_runner="16.11.0-1"), "Debian", "16.11.0", True),
    ({}, "Debian", "17.11.0", False),
    ({"gitlab-runner": [{"version": "17.11.0", "release": "1"}],
      "gitlab-runner-helper-images": [{"version": "17.11.0", "release": "1"}]}, "RedHat", "17.11.0", True),
    ({"gitlab-runner": [{"version": "17.11.0", "release": "1"}, {"version": "17.10.1", "release": "1"}],
      "gitlab-runner-helper-images": [{"version": "17.11.0", "release": "1"}]}, "RedHat", "17.11.0", False),
])
def test_a_host_has_the_version_only_with_the_whole_pinned_pair(facts, family, version, expected):
    assert _install.installed(version, family, facts) is expected


def test_an_upgrade_needs_a_version():
    with pytest.raises(RunnerOpsError, match="an upgrade needs the version it installs"):
        _install.installed("latest", "Debian", {})


def test_the_batch_report_names_each_kind_of_host():
    assert _install.upgrade_report({"h2": True, "h1": True, "h3": False}, "17.11.0") == (
        "upgraded to 17.11.0: h1, h2; already on 17.11.0: h3, confirmed by GitLab.")
    assert _install.upgrade_report({"h1": False}, "17.11.0") == "already on 17.11.0: h1, confirmed by GitLab."
    assert _install.upgrade_report({}, "17.11.0") == "No host of this batch is left."
    assert _install.upgrade_report({"h1": True, "h2": False}, "17.10.1", check_mode=True) == (
        "would upgrade to 17.10.1: h1; already on 17.10.1: h2 (check mode: nothing stopped or confirmed).")


URLS = [{"url": "https://packages.gitlab.com/runner/gitlab-runner/debian/pool/bookworm/main/g/gitlab-runner/"
                "gitlab-runner_17.11.0-1_amd64.deb", "checksum": "sha256:" + "a" * 64},
        {"url": "https://gitlab-runner-downloads.s3.amazonaws.com/v17.11.0/deb/gitlab-runner-helper-images.deb",
         "checksum": "sha256:" + "b" * 64}]


def test_package_files_are_kept_under_the_folder_and_installed_in_one_transaction():
    chosen = _install.package_files(URLS, "Debian", "/var/cache/gitlab-runner-packages/")
    assert [(d["name"], d["dest"]) for d in chosen["downloads"]] == [
        ("gitlab-runner", "/var/cache/gitlab-runner-packages/gitlab-runner_17.11.0-1_amd64.deb"),
        ("gitlab-runner-helper-images", "/var/cache/gitlab-runner-packages/gitlab-runner-helper-images.deb")]
    assert chosen["apt_get"] == ["apt-get", "install", "--yes", "--allow-downgrades", "--allow-change-held-packages",
                                 "-o", "DPkg::Lock::Timeout=120", *chosen["files"]]
    assert "--simulate" in _install.package_files(URLS, "Debian", "/x", check_mode=True)["apt_get"]
    assert chosen["selections"] == [{"name": "gitlab-runner", "selection": "hold"},
                                    {"name": "gitlab-runner-helper-images", "selection": "hold"}]


@pytest.mark.parametrize("filename, name", [
    ("gitlab-runner_17.11.0-1_amd64.deb", "gitlab-runner"),
    ("gitlab-runner_amd64.deb", "gitlab-runner"),
    ("gitlab-runner-helper-images_17.11.0-1_all.deb", "gitlab-runner-helper-images"),
    ("gitlab-runner-helper-images.rpm", "gitlab-runner-helper-images"),
    ("gitlab-runner-17.11.0-1.x86_64.rpm", "gitlab-runner"),
    ("gitlab-runner-helper-images-17.11.0-1.noarch.rpm", "gitlab-runner-helper-images"),
    ("gitlab-runner-extras_1.0_all.deb", None),
    ("docker-ce_27.0_amd64.deb", None),
])
def test_the_package_a_file_holds_comes_from_gitlabs_file_names(filename, name):
    assert _install.package_name(filename) == name


@pytest.mark.parametrize("items, family, words", [
    ([], "Debian", ["gitlab_runner_package_urls is empty", "gitlab-runner-helper-images too"]),
    ("https://x/gitlab-runner.deb", "Debian", ["gitlab_runner_package_urls is empty"]),
    ([{"checksum": "sha256:aa"}], "Debian", ["gitlab_runner_package_urls[0] has no url"]),
    ([URLS[0]], "RedHat", ["gitlab_runner_package_urls[0].url", "does not end in .rpm"]),
    ([dict(URLS[0], url="https://x/docker-ce_27.0_amd64.deb")], "Debian", ["is not a gitlab-runner package"]),
    ([dict(URLS[0], checksum="")], "Debian", ["gitlab_runner_package_urls[0].checksum '' is not", "sha256:<hex>"]),
    ([URLS[0], dict(URLS[1], checksum="sha256:not-hex")], "Debian", ["gitlab_runner_package_urls[1].checksum"]),
    ([URLS[0], URLS[0]], "Debian", ["names gitlab-runner twice"]),
])
def test_wrong_package_urls_are_named_with_the_fix(items, family, words):
    with pytest.raises(RunnerOpsError) as caught:
        _install.package_files(items, family, "/var/cache/gitlab-runner-packages")
    for word in words:
        assert word in str(caught.value)


def test_apt_gets_summary_says_whether_anything_changed():
    assert _install.apt_get_changed("...\n0 upgraded, 0 newly installed, 0 to remove and 3 not upgraded.\n") is False
    assert _install.apt_get_changed("0 upgraded, 0 newly installed, 2 downgraded, 0 to remove and 0 not upgraded.")
    assert _install.apt_get_changed("2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.")
    with pytest.raises(RunnerOpsError, match="no summary"):
        _install.apt_get_changed("E: Unable to locate package")


def test_dnf_versionlock_lines_pin_each_held_package_and_latest_removes_them():
    locks = _install.packages("17.11.0", "RedHat")["locks"]
    assert [(lock["name"], lock["line"], lock["state"]) for lock in locks] == [
        ("gitlab-runner", "gitlab-runner-0:17.11.0-1.*", "present"),
        ("gitlab-runner-helper-images", "gitlab-runner-helper-images-0:17.11.0-1.*", "present")]
    runner = re.compile(locks[0]["regexp"])
    assert runner.search("gitlab-runner-0:17.10.1-1.*") and not runner.search("gitlab-runner-helper-images-0:17.10.1-1.*")
    assert {lock["state"] for lock in _install.packages("latest", "RedHat")["locks"]} == {"absent"}
