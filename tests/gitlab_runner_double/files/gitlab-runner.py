# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of gitlab-runner, built by runnerops.gitlab's tests. It is not GitLab Runner.

It does just enough of what the real service does for the tests to observe it from GitLab's side:
`--version`, and `run`, which re-reads config.toml, keeps the runner system id beside it the way
gitlab-runner does, and polls /api/v4/jobs/request with each runner's token and that system id, so
the GitLab API simulator records every host as a runner manager that made contact.
"""

import hashlib
import hmac
import json
import os
import re
import signal
import sys
import time
import tomllib
import urllib.error
import urllib.request

VERSION = "@VERSION@"
SYSTEM_ID_PATTERN = re.compile(r"^[sr]_[0-9a-zA-Z]{12}$")


def print_version():
    print(f"Version:      {VERSION}")
    print("Git revision: 00000000 (test double)")
    print("Git branch:   test-double")
    print("GO version:   none (test double)")
    print("OS/Arch:      linux/amd64")


def machine_id():
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, encoding="ascii") as stream:
                value = stream.read().strip()
            if value:
                return value
        except OSError:
            continue
    return None


def system_id(config_path):
    path = os.path.join(os.path.dirname(config_path), ".runner_system_id")
    try:
        with open(path, encoding="ascii") as stream:
            value = stream.read().strip()
        if SYSTEM_ID_PATTERN.match(value):
            return value
    except OSError:
        pass
    mid = machine_id()
    value = "s_" + hmac.new(mid.encode(), b"gitlab-runner", hashlib.sha256).hexdigest()[:12]
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="ascii") as stream:
        stream.write(value)
    return value


def poll(runner, sid):
    body = json.dumps({"token": runner["token"], "system_id": sid,
                       "info": {"name": "gitlab-runner", "version": VERSION, "executor": runner.get("executor")}})
    request = urllib.request.Request(runner["url"].rstrip("/") + "/api/v4/jobs/request", data=body.encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return f"unreachable ({error.__class__.__name__})"


STOPPING = []


def stop_gracefully(_signum, _frame):
    # As gitlab-runner does on SIGQUIT: take no new job, let the running ones finish, then exit cleanly.
    print("received SIGQUIT: no new jobs, stopping once the running ones are done", flush=True)
    STOPPING.append(True)


def run(config_path):
    signal.signal(signal.SIGQUIT, stop_gracefully)
    while not STOPPING:
        interval = 3
        try:
            with open(config_path, "rb") as stream:
                config = tomllib.load(stream)
            interval = config.get("check_interval") or 3
            sid = system_id(config_path)
            for runner in config.get("runners", []):
                if runner.get("token") and runner.get("url"):
                    print(f"runner {runner.get('name')!r}: jobs/request -> {poll(runner, sid)}", flush=True)
        except (OSError, tomllib.TOMLDecodeError) as error:
            print(f"cannot load {config_path}: {error}", flush=True)
        for _tick in range(int(interval * 10)):
            if STOPPING:
                break
            time.sleep(0.1)
    print("stopped", flush=True)


def main(argv):
    if not argv or argv[0] in ("--version", "-v", "version"):
        print_version()
        return 0
    if argv[0] == "run":
        config = "/etc/gitlab-runner/config.toml"
        for index, arg in enumerate(argv):
            if arg in ("--config", "-c") and index + 1 < len(argv):
                config = argv[index + 1]
            elif arg.startswith("--config="):
                config = arg.split("=", 1)[1]
        run(config)
        return 0
    print(f"gitlab-runner test double: command {argv[0]!r} is not implemented", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
