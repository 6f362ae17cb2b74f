# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare each instance's config.toml, parsed, with what GitLab holds.

    check_config.py EPHEMERAL_DIR GITLAB_URL HOST[,HOST...]

EPHEMERAL_DIR holds state.json (the simulator's state) and config-<host>.toml for each host.
Prints the differences and exits 1 when a file is not as expected. Tokens are never printed.
"""

import json
import sys
import tomllib
from pathlib import Path


def expected_for(host, runners, url):
    shared = runners["shared-docker"]
    own = runners[f"build-{host}"]
    return {
        "concurrent": 2,
        "check_interval": 3,
        "runners": [
            {"name": "shared-docker", "url": url, "id": shared["id"], "token": shared["token"], "executor": "docker",
             "docker": {"image": "alpine:3.20", "privileged": False}},
            {"name": f"build-{host}", "url": url, "id": own["id"], "token": own["token"], "executor": "shell"},
        ],
    }


def main(directory, url, hosts):
    directory = Path(directory)
    state = json.loads((directory / "state.json").read_text(encoding="utf-8"))
    runners = {runner["description"]: runner for runner in state["runners"]}
    failures = 0
    for host in hosts.split(","):
        data = tomllib.loads((directory / f"config-{host}.toml").read_text(encoding="utf-8"))
        for entry in data.get("runners", []):
            # Times are the run's own; check they are there, as gitlab-runner needs both.
            for key in ("token_obtained_at", "token_expires_at"):
                if key not in entry:
                    print(f"{host}: {entry.get('name')}: {key} is missing")
                    failures += 1
                entry.pop(key, None)
        expected = expected_for(host, runners, url)
        if data != expected:
            failures += 1
            shown = json.dumps(data, default=str, indent=1)
            for runner in runners.values():
                shown = shown.replace(runner["token"], "<token of runner %d>" % runner["id"])
            print(f"{host}: config.toml differs from the expected data:\n{shown}")
    print("config.toml as expected on every host" if not failures else f"{failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
