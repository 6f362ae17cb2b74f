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
CHECKSUM = re.compile(r"^(md5|sha1|sha224|sha256|sha384|sha512):[0-9a-fA-F]+$")
EXTENSIONS = {"Debian": ".deb", "RedHat": ".rpm"}


def _problem(reason, fix):
    return RunnerOpsError("Choosing the gitlab-runner packages", reason, fix=fix)


def parse_version(version):
    """``(major, minor, patch)`` of ``17.11.0`` or ``17.11.0-1`` (a package revision is allowed, and kept aside)."""
    match = VERSION.match(str(version).strip())
    if not match:
        raise _problem(f"gitlab_runner_version {str(version)!r} is not a version.",
                       'give a version such as "17.11.0" (or "17.11.0-1"), or "latest".')
    return tuple(int(part) for part in match.groups()[:3]), match.group(4) or "1"


def _family(os_family):
    if os_family not in FAMILIES:
        raise _problem(f"the OS family {os_family!r} has no gitlab-runner package in GitLab's repositories.",
                       "install gitlab-runner another way and set gitlab_runner_install_method: none.")


def _locks(names, full):
    """What dnf's versionlock list (EL 8 and 9: one ``<name>-<epoch>:<version>-<release>.*`` per line) holds for each
    package: its pinned version, or nothing (``full`` None)."""
    return [{"name": name, "regexp": f"^{re.escape(name)}-\\d+:", "line": f"{name}-0:{full}.*" if full else None,
             "state": "present" if full else "absent"} for name in names]


def packages(version, os_family):
    """``{names, state, version, selections, locks}`` for the package task of ``os_family`` and the hold after it.

    ``names`` go to one apt or dnf transaction: pinned (``gitlab-runner=17.11.0-1`` on Debian,
    ``gitlab-runner-17.11.0-1`` on RedHat) with the helper images of the same version when the version has
    them. ``latest`` names both, unpinned. ``selections``: ``{name, selection}`` for dpkg, ``hold`` for each
    pinned package, ``install`` (an earlier hold released) for both under ``latest``. ``locks``: the lines of dnf's
    versionlock list (``{name, regexp, line, state}``), written before the transaction so that it may move them.
    """
    _family(os_family)
    version = str(version).strip()
    if version == "latest":
        names = [RUNNER, HELPER_IMAGES]
        return {"names": names, "state": "latest", "version": None,
                "selections": [{"name": name, "selection": "install"} for name in names], "locks": _locks(names, None)}
    number, revision = parse_version(version)
    held = [RUNNER] + ([HELPER_IMAGES] if number >= HELPER_IMAGES_SINCE else [])
    full = "{}.{}.{}-{}".format(*number, revision)
    separator = "=" if os_family == "Debian" else "-"
    return {"names": [f"{name}{separator}{full}" for name in held], "state": "present", "version": full,
            "selections": [{"name": name, "selection": "hold"} for name in held], "locks": _locks(held, full)}


def package_name(filename):
    """The package a GitLab file holds, from its name: ``gitlab-runner_17.11.0-1_amd64.deb``,
    ``gitlab-runner-helper-images.deb`` (release downloads) or ``gitlab-runner-17.11.0-1.x86_64.rpm``."""
    for name in (HELPER_IMAGES, RUNNER):
        rest = filename[len(name):]
        if filename.startswith(name) and (rest[:1] in ("_", ".") or re.match(r"^-\d", rest)):
            return name
    return None


def package_files(items, os_family, folder, check_mode=False):
    """``{downloads: [{url, checksum, dest, name}], files, apt_get, selections}`` for ``gitlab_runner_package_urls``:
    where each package is kept on the host, apt-get's arguments to install them in one transaction (Debian), and
    the holds of what they install (the files pin a version by nature)."""
    _family(os_family)
    field = "gitlab_runner_package_urls"
    if not isinstance(items, list) or not items:
        raise _problem(f"{field} is empty, and install method package_url installs from it.",
                       "list each package of the version as {url, checksum}: gitlab-runner, and from 17.7.0 on "
                       "gitlab-runner-helper-images too, which it depends on.")
    downloads = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, dict) or not str(item.get("url") or "").strip():
            raise _problem(f"{where} has no url.", "give each package as {url, checksum}.")
        url = str(item["url"]).strip()
        filename = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not filename.endswith(EXTENSIONS[os_family]):
            raise _problem(f"{where}.url {url!r} does not end in {EXTENSIONS[os_family]}, the package format of "
                           f"{os_family} hosts.", f"give the {EXTENSIONS[os_family]} package of GitLab's release.")
        name = package_name(filename)
        if name is None:
            raise _problem(f"{where}.url {url!r} is not a gitlab-runner package: the file is named {filename!r}.",
                           "give the URLs of gitlab-runner and gitlab-runner-helper-images, as GitLab names them.")
        checksum = str(item.get("checksum") or "").strip()
        if not CHECKSUM.match(checksum):
            raise _problem(f"{where}.checksum {checksum!r} is not '<algorithm>:<hex digest>'.",
                           "give the package's checksum, such as sha256:<hex> from GitLab's release page, so that "
                           "nothing else is installed as gitlab-runner.")
        if any(download["name"] == name for download in downloads):
            raise _problem(f"{field} names {name} twice.", "give one URL per package.")
        downloads.append({"url": url, "checksum": checksum, "name": name,
                          "dest": f"{folder.rstrip('/')}/{filename}"})
    files = [download["dest"] for download in downloads]
    return {"downloads": downloads, "files": files, "apt_get": apt_get_install(files, check_mode),
            "selections": [{"name": download["name"], "selection": "hold"} for download in downloads]}


def apt_get_install(files, check_mode=False):
    """apt-get's arguments to install ``files`` (local packages) in one transaction, moving a held pair up or down."""
    return (["apt-get", "install", "--yes", "--allow-downgrades", "--allow-change-held-packages",
             "-o", "DPkg::Lock::Timeout=120"] + (["--simulate"] if check_mode else []) + list(files))


def apt_get_changed(stdout):
    """Whether apt-get installed, upgraded, downgraded or removed anything, from its summary line."""
    summary = re.search(r"^(\d+) upgraded, (\d+) newly installed, (?:(\d+) downgraded, )?(\d+) to remove",
                        stdout or "", re.MULTILINE)
    if summary is None:
        raise _problem("apt-get printed no summary of what it did.", "read its output in the task result.")
    return any(int(count or 0) for count in summary.groups())


def installed(version, os_family, facts):
    """Whether the host has exactly the pinned packages of ``version``, as ``package_facts`` lists them in ``facts``
    (``{name: [{version, release}]}``): the upgrade leaves such a host's service alone."""
    wanted = packages(version, os_family)
    if wanted["version"] is None:
        raise _problem("an upgrade needs the version it installs, and latest is none.",
                       'give the version to roll out, such as "17.11.0".')
    for name in (selection["name"] for selection in wanted["selections"]):
        found = {f"{item.get('version')}-{item.get('release')}" if item.get("release") else str(item.get("version"))
                 for item in (facts or {}).get(name) or ()}
        if found != {wanted["version"]}:
            return False
    return True


def upgrade_report(needed_by_host, version, check_mode=False):
    """One line for a batch of the rolling upgrade: the hosts moved to ``version``, and those already on it (in check
    mode: the hosts that would be moved, and nothing confirmed)."""
    moved = sorted(host for host, needed in needed_by_host.items() if needed)
    kept = sorted(host for host, needed in needed_by_host.items() if not needed)
    parts = []
    if moved:
        parts.append(f"{'would upgrade' if check_mode else 'upgraded'} to {version}: {', '.join(moved)}")
    if kept:
        parts.append(f"already on {version}: {', '.join(kept)}")
    if not parts:
        return "No host of this batch is left."
    return "; ".join(parts) + (" (check mode: nothing stopped or confirmed)." if check_mode else ", confirmed by GitLab.")
