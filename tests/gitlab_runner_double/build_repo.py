# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a signed local apt repository holding a TEST DOUBLE of the gitlab-runner packages.

The repository has the layout of GitLab's own (``<root>/debian/dists/<codename>/main``, key at
``<root>/gpgkey``), so the role's real repository code path installs from it when
``gitlab_runner_repository_url`` points at a server for ``<root>``. Signed with a throwaway key.

It is packaged as GitLab packages gitlab-runner: from 17.7.0 on, ``gitlab-runner`` depends on
``gitlab-runner-helper-images`` of exactly its own version (``Depends: gitlab-runner-helper-images
(= 17.11.0-1)``), so with two versions in the repository, installing an older ``gitlab-runner`` alone
fails in apt as it does against GitLab's repository.

    python tests/gitlab_runner_double/build_repo.py OUTDIR [--version 17.11.0 ...] [--codename bookworm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The first version GitLab ships with its helper images in a package of their own.
HELPER_IMAGES_SINCE = (17, 7, 0)

CONTROL = """Package: gitlab-runner
Version: {version}-1
Architecture: all
Maintainer: runnerops.gitlab tests <tests@localhost>
Depends: {depends}
Section: devel
Priority: optional
Description: TEST DOUBLE of gitlab-runner for runnerops.gitlab's tests
 Not GitLab Runner. It answers --version and, as a service, polls the GitLab
 API's jobs/request endpoint with each configured token so tests can see it.
"""

HELPER_CONTROL = """Package: gitlab-runner-helper-images
Version: {version}-1
Architecture: all
Maintainer: runnerops.gitlab tests <tests@localhost>
Section: devel
Priority: optional
Description: TEST DOUBLE of gitlab-runner-helper-images for runnerops.gitlab's tests
 Not GitLab's helper images: a placeholder archive where the real package keeps them.
"""

POSTINST = """#!/bin/sh
set -e
if ! getent passwd gitlab-runner >/dev/null; then
  useradd --system --create-home --home-dir /home/gitlab-runner --shell /bin/bash gitlab-runner
fi
install -d -m 0700 /etc/gitlab-runner
"""


def run(*command, cwd=None, env=None, stdout=None):
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=stdout)


def version_tuple(version):
    return tuple(int(part) for part in version.split("-")[0].split("."))


def package(root, target):
    run("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(target), stdout=subprocess.DEVNULL)
    return target


def build_helper_deb(version, pool):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pkg"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(HELPER_CONTROL.format(version=version), encoding="utf-8")
        images = root / "usr" / "lib" / "gitlab-runner" / "helper-images"
        images.mkdir(parents=True)
        (images / "prebuilt-x86_64.tar.xz").write_text(f"test double helper images {version}\n", encoding="ascii")
        return package(root, pool / f"gitlab-runner-helper-images_{version}-1_all.deb")


def build_deb(version, pool):
    depends = "python3 (>= 3.11)"
    if version_tuple(version) >= HELPER_IMAGES_SINCE:
        build_helper_deb(version, pool)
        depends += f", gitlab-runner-helper-images (= {version}-1)"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pkg"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(CONTROL.format(version=version, depends=depends), encoding="utf-8")
        postinst = root / "DEBIAN" / "postinst"
        postinst.write_text(POSTINST, encoding="utf-8")
        postinst.chmod(0o755)
        binary = root / "usr" / "bin" / "gitlab-runner"
        binary.parent.mkdir(parents=True)
        # The shebang is added here: Debian has python3 but no "python" on PATH.
        source = (HERE / "files" / "gitlab-runner.py").read_text(encoding="utf-8").replace("@VERSION@", version)
        binary.write_text("#!/usr/bin/python3\n" + source, encoding="utf-8")
        binary.chmod(0o755)
        unit = root / "lib" / "systemd" / "system" / "gitlab-runner.service"
        unit.parent.mkdir(parents=True)
        shutil.copy(HERE / "files" / "gitlab-runner.service", unit)
        return package(root, pool / f"gitlab-runner_{version}-1_all.deb")


def sign(release_dir, out_dir):
    gnupg_home = tempfile.mkdtemp(prefix="runnerops-gpg-")
    env = dict(os.environ, GNUPGHOME=gnupg_home)
    try:
        run("gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key",
            "runnerops test repository <tests@localhost>", "ed25519", "sign", "never", env=env)
        run("gpg", "--batch", "--quiet", "--yes", "--clearsign", "-o", str(release_dir / "InRelease"),
            str(release_dir / "Release"), env=env)
        run("gpg", "--batch", "--quiet", "--yes", "-abs", "-o", str(release_dir / "Release.gpg"),
            str(release_dir / "Release"), env=env)
        with open(out_dir / "gpgkey", "wb") as stream:
            subprocess.run(["gpg", "--batch", "--armor", "--export"], env=env, check=True, stdout=stream)
    finally:
        shutil.rmtree(gnupg_home, ignore_errors=True)
    expired_key(out_dir / "expired-gpgkey")


def expired_key(path):
    """A key made in 2020 that expired a day later: what a host set up years ago still trusts when the repository
    is signed with a newer key, as GitLab's was when its key expired."""
    gnupg_home = tempfile.mkdtemp(prefix="runnerops-gpg-")
    env = dict(os.environ, GNUPGHOME=gnupg_home)
    try:
        run("gpg", "--batch", "--quiet", "--faked-system-time", "20200101T000000!", "--passphrase", "",
            "--quick-gen-key", "runnerops expired test key <expired@localhost>", "ed25519", "sign", "1d", env=env)
        with open(path, "wb") as stream:
            subprocess.run(["gpg", "--batch", "--armor", "--export"], env=env, check=True, stdout=stream)
    finally:
        shutil.rmtree(gnupg_home, ignore_errors=True)


def build(out_dir, versions, codename):
    debian = out_dir / "debian"
    pool = debian / "pool" / "main" / "g" / "gitlab-runner"
    pool.mkdir(parents=True, exist_ok=True)
    for version in versions:
        build_deb(version, pool)
    release_dir = debian / "dists" / codename
    for arch in ("amd64", "arm64"):
        binary_dir = release_dir / "main" / f"binary-{arch}"
        binary_dir.mkdir(parents=True, exist_ok=True)
        with open(binary_dir / "Packages", "wb") as stream:
            subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=debian, check=True, stdout=stream)
    # Written beside, then moved in: apt-ftparchive would otherwise list the half-written file itself.
    release_tmp = debian / "Release.tmp"
    with open(release_tmp, "wb") as stream:
        subprocess.run(["apt-ftparchive",
                        "-o", f"APT::FTPArchive::Release::Codename={codename}",
                        "-o", f"APT::FTPArchive::Release::Suite={codename}",
                        "-o", "APT::FTPArchive::Release::Components=main",
                        "-o", "APT::FTPArchive::Release::Architectures=amd64 arm64",
                        "release", "."], cwd=release_dir, check=True, stdout=stream)
    release_tmp.replace(release_dir / "Release")
    sign(release_dir, out_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--version", dest="versions", action="append")
    parser.add_argument("--codename", default="bookworm")
    args = parser.parse_args()
    build(args.out_dir.resolve(), args.versions or ["17.11.0"], args.codename)
    print(args.out_dir.resolve())


if __name__ == "__main__":
    main()
