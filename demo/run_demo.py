# SPDX-License-Identifier: GPL-3.0-or-later
"""`make demo`: the fleet of ``examples/`` through runnerops.gitlab.site against the GitLab API simulator.

Copies ``examples/`` as the README's Quick start does, starts the simulator with its seed, prepares the two
stand-in hosts, converges the fleet, shows what GitLab and each host now hold (tokens redacted), runs again
to show nothing changes, and stops the simulator.

    python demo/run_demo.py [--collections-path DIR]

By default the collection is this checkout. With ``--collections-path`` (or the environment variable
``RUNNEROPS_COLLECTIONS_PATH``) it is the one installed in DIR, for example from the built tarball with
``ansible-galaxy collection install --offline -p DIR runnerops-gitlab-*.tar.gz``, so the demo runs
exactly what the package holds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.gitlab_sim.process import SimProcess  # noqa: E402  (needs the repository on sys.path)

EXAMPLES = REPO / "examples"
HOSTS = tuple(yaml.safe_load((EXAMPLES / "inventory" / "hosts.yml").read_text(encoding="utf-8"))
              ["gitlab_runners"]["hosts"])
TOKEN = "glpat-demo-fleet-token"
ZERO_TIME = "0001-01-01T00:00:00Z"
SECRET = re.compile(r"(glrt-|glpat-)[A-Za-z0-9_.-]+")


def redact(text):
    return SECRET.sub(lambda match: match.group(1) + "<redacted>", text)


def installed_collections_path(path):
    root = Path(path).resolve()
    manifest = root / "ansible_collections" / "runnerops" / "gitlab" / "MANIFEST.json"
    if not manifest.is_file():
        sys.exit(f"{root} holds no installed runnerops.gitlab collection (no {manifest.relative_to(root)})")
    return root


def collections_path(work):
    root = work / "collections"
    link = root / "ansible_collections" / "runnerops" / "gitlab"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    return root


def copy_examples(work):
    """``examples/`` as a user copies it, without what an earlier run there wrote."""
    fleet = work / "my-fleet"
    shutil.copytree(EXAMPLES, fleet, ignore=shutil.ignore_patterns("hosts"))
    return fleet


def run_playbook(fleet, playbook, env, title):
    print(f"\n===== {title} =====", flush=True)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventory", playbook]
    proc = subprocess.run(command, cwd=fleet, env=env, capture_output=True, text=True, check=False)
    print(redact(proc.stdout + proc.stderr))
    if proc.returncode:
        sys.exit(f"ansible-playbook failed with exit code {proc.returncode}")
    return proc.stdout


def show_state(sim, fleet):
    print("===== What GitLab holds =====")
    for runner in sim.state()["runners"]:
        managers = ", ".join(manager["system_id"] for manager in runner.get("managers", [])) or "none yet"
        print(f"  runner {runner['id']}: {runner['description']} ({runner['runner_type']}), tags "
              f"{','.join(runner.get('tag_list', []))}; managers: {managers}")
    zero = False
    for host in HOSTS:
        print(f"\n===== {host}: config.toml (tokens redacted) =====")
        text = (fleet / "hosts" / host / "config.toml").read_text(encoding="utf-8")
        zero = zero or ZERO_TIME in text
        print(redact(text))
    if zero:
        print(f"token_expires_at = {ZERO_TIME} is gitlab-runner's zero time: the token does not expire (GitLab sets "
              "an expiry only under a token expiration policy).")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections-path", default=os.environ.get("RUNNEROPS_COLLECTIONS_PATH"),
                        help="a collections path with runnerops.gitlab installed (default: this checkout)")
    args = parser.parse_args()
    installed = installed_collections_path(args.collections_path) if args.collections_path else None
    with tempfile.TemporaryDirectory(prefix="runnerops-demo-") as tmp, \
            SimProcess(EXAMPLES / "simulator-seed.yml") as sim:
        work = Path(tmp)
        print(f"GitLab API simulator at {sim.url}")
        collections = installed or collections_path(work)
        print(f"Collection runnerops.gitlab from {collections / 'ansible_collections' / 'runnerops' / 'gitlab'}")
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        env.update({"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": TOKEN, "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_HOME": str(work / "home"),
                    "ANSIBLE_LOCALHOST_WARNING": "false"})
        fleet = copy_examples(work)
        print(f"The fleet of examples/, copied to {fleet}")
        run_playbook(fleet, "local_hosts.yml", env, "Prepare the stand-in hosts")
        run_playbook(fleet, "runnerops.gitlab.site", env, "First run: create runners, write config.toml")
        show_state(sim, fleet)
        sim.clear_requests()
        second = run_playbook(fleet, "runnerops.gitlab.site", env, "Second run: nothing to change")
        calls = sim.requests()
        writes = [call for call in calls if call["method"] != "GET" and not call["path"].endswith("/verify")]
        print(f"API calls on the second run: {len(calls)}, of which writes: {len(writes)}")
        if re.search(r"changed=[1-9]", second) or writes:
            sys.exit("the second run changed something")


if __name__ == "__main__":
    main()
