# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the molecule scenarios with everything they need on this machine.

- the base image localhost/debian-systemd:bookworm (built from a Debian rootfs once, then cached);
- a signed local apt repository holding the TEST DOUBLE of the gitlab-runner package, served on
  loopback so the role's real repository code path installs from it;
- the GitLab API simulator on loopback;
- containers.podman, which molecule's podman driver needs, taken from the PyPI `ansible` wheel.

    python molecule/run.py [SCENARIO ...]     (default: every scenario)
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.gitlab_runner_double.build_repo import build as build_apt_repository  # noqa: E402
from tests.gitlab_sim.process import SimProcess  # noqa: E402

IMAGE = "localhost/debian-systemd:bookworm"
DEBIAN_MIRROR = os.environ.get("RUNNEROPS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("RUNNEROPS_CACHE", Path.home() / ".cache" / "runnerops-gitlab"))
TOKEN = "glpat-molecule-fleet-token"


def run(*command, **kwargs):
    print("+", " ".join(str(part) for part in command), flush=True)
    return subprocess.run([str(part) for part in command], check=True, **kwargs)


def ensure_image():
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory(prefix="runnerops-rootfs-") as rootfs:
        run("debootstrap", "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus,python3,sudo,procps,ca-certificates",
            "bookworm", rootfs, DEBIAN_MIRROR, stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run("podman", "import", "--change", 'CMD ["/sbin/init"]', "-", IMAGE, stdin=tar.stdout,
            stdout=subprocess.DEVNULL)
        tar.wait()


def ensure_podman_collection():
    root = CACHE / "collections"
    if (root / "ansible_collections" / "containers" / "podman" / "MANIFEST.json").exists():
        return root
    wheels = CACHE / "wheels"
    run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "ansible", "-d", wheels)
    wheel = sorted(wheels.glob("ansible-*.whl"))[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = [name for name in archive.namelist() if name.startswith("ansible_collections/containers/podman/")]
        archive.extractall(root, names)
    return root


def collection_link(work):
    link = work / "collections" / "ansible_collections" / "runnerops" / "gitlab"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    return link.parent.parent.parent


def serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(scenarios):
    ensure_image()
    podman_collections = ensure_podman_collection()
    with tempfile.TemporaryDirectory(prefix="runnerops-molecule-") as tmp:
        work = Path(tmp)
        build_apt_repository(work / "repo", ["17.10.1", "17.11.0"], "bookworm")
        repo_server = serve(work / "repo")
        try:
            with SimProcess(REPO / "molecule" / "seed.yml") as sim:
                env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
                env.update({
                    "RUNNEROPS_GITLAB_URL": sim.url,
                    "RUNNEROPS_GITLAB_TOKEN": TOKEN,
                    "RUNNEROPS_REPO_URL": f"http://127.0.0.1:{repo_server.server_address[1]}",
                    "ANSIBLE_COLLECTIONS_PATH": f"{collection_link(work)}:{podman_collections}",
                    "ANSIBLE_NOCOLOR": "1",
                    "PY_COLORS": "0",
                    # molecule calls ansible-config and ansible-playbook by name.
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                })
                command = [shutil.which("molecule", path=str(Path(sys.executable).parent)) or "molecule", "test"]
                for scenario in scenarios or ["--all"]:
                    run(*command, *(["-s", scenario] if scenario != "--all" else ["--all"]), cwd=REPO, env=env)
        finally:
            repo_server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
