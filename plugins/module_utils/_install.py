# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which gitlab-runner packages a host installs, pins and holds, from the version asked and its OS family.

From 17.7.0 on GitLab ships the helper images as ``gitlab-runner-helper-images``, and ``gitlab-runner``
depends on exactly its own version of it. Pinning ``gitlab-runner`` alone then fails as soon as a newer
helper package exists (the package manager offers the newest helper, which the pinned runner refuses), and
upgrading a pinned pair one package at a time fails the other way: both must be named in one transaction.
"""

from __future__ import annotations

import re

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError

RUNNER = "gitlab-runner"
HELPER_IMAGES = "gitlab-runner-helper-images"
HELPER_IMAGES_SINCE = (17, 7, 0)
FAMILIES = ("Debian", "RedHat")
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-(\d+))?$")


def _problem(reason, fix):
    return RunnerOpsError("Choosing the gitlab-runner packages", reason, fix=fix)


def parse_version(version):
    """``(major, minor, patch)`` of ``17.11.0`` or ``17.11.0-1`` (a package revision is allowed, and kept aside)."""
    match = VERSION.match(str(version).strip())
    if not match:
        raise _problem(f"gitlab_runner_version {str(version)!r} is not a version.",
                       'give a version such as "17.11.0" (or "17.11.0-1"), or "latest".')
    return tuple(int(part) for part in match.groups()[:3]), match.group(4) or "1"


def packages(version, os_family):
    """``{names, state, version, selections}`` for the package task of ``os_family`` and the hold after it.

    ``names`` go to one apt or dnf transaction: pinned (``gitlab-runner=17.11.0-1`` on Debian,
    ``gitlab-runner-17.11.0-1`` on RedHat) with the helper images of the same version when the version has
    them. ``latest`` names both, unpinned. ``selections``: ``{name, selection}`` for dpkg, ``hold`` for each
    pinned package, ``install`` (an earlier hold released) for both under ``latest``.
    """
    if os_family not in FAMILIES:
        raise _problem(f"the OS family {os_family!r} has no gitlab-runner package in GitLab's repositories.",
                       "install gitlab-runner another way and set gitlab_runner_install_method: none.")
    version = str(version).strip()
    if version == "latest":
        names = [RUNNER, HELPER_IMAGES]
        return {"names": names, "state": "latest", "version": None,
                "selections": [{"name": name, "selection": "install"} for name in names]}
    number, revision = parse_version(version)
    held = [RUNNER] + ([HELPER_IMAGES] if number >= HELPER_IMAGES_SINCE else [])
    full = "{}.{}.{}-{}".format(*number, revision)
    separator = "=" if os_family == "Debian" else "-"
    return {"names": [f"{name}{separator}{full}" for name in held], "state": "present", "version": full,
            "selections": [{"name": name, "selection": "hold"} for name in held]}
