# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of gitlab-runner, built by runnerops.gitlab's tests. It is not GitLab Runner.

It does just enough of what the real service does for the tests to observe it from GitLab's side:
`--version`, and `run`, which re-reads config.toml, keeps the runner system id beside it the way
gitlab-runner does, and polls /api/v4/jobs/request with each runner's token and that system id, so
the GitLab API simulator records every host as a runner manager that made contact. A job it is
handed runs as a child shell, as the shell executor runs one, up to `concurrent` at a time, and its
end is reported with PUT /api/v4/jobs/:id. SIGQUIT stops it the way gitlab-runner stops: no new
jobs, the running ones finish, then it exits; any other stop signal kills it at once.
"""

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
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


def call(url, method, payload):
    """(status, parsed JSON body or None) of one API call; status is a text when GitLab cannot be reached."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError) as error:
        return f"unreachable ({error.__class__.__name__})", None


def info(runner):
    return {"name": "gitlab-runner", "version": VERSION, "executor": runner.get("executor")}


def poll(runner, sid):
    payload = {"token": runner["token"], "system_id": sid, "info": info(runner)}
    return call(runner["url"].rstrip("/") + "/api/v4/jobs/request", "POST", payload)


# job id -> (child process, job, runner)
RUNNING = {}
STOPPING = []


def start_job(job, runner):
    script = "\n".join(line for step in job.get("steps") or () for line in step.get("script") or ())
    env = dict(os.environ, CI="true", GITLAB_CI="true", CI_JOB_ID=str(job["id"]))
    child = subprocess.Popen(["/bin/bash", "-ec", script], env=env, cwd="/")
    RUNNING[job["id"]] = (child, job, runner)
    print(f"job {job['id']}: started (pid {child.pid})", flush=True)


def report_finished_jobs():
    for job_id, (child, job, runner) in list(RUNNING.items()):
        code = child.poll()
        if code is None:
            continue
        del RUNNING[job_id]
        payload = {"token": job["token"], "state": "success" if code == 0 else "failed",
                   "exit_code": code if code >= 0 else None, "info": info(runner)}
        if code != 0:
            payload["failure_reason"] = "script_failure"
        status, _body = call(runner["url"].rstrip("/") + f"/api/v4/jobs/{job_id}", "PUT", payload)
        print(f"job {job_id}: {payload['state']} (exit {code}), reported -> {status}", flush=True)


def stop_gracefully(_signum, _frame):
    # As gitlab-runner does on SIGQUIT: take no new job, let the running ones finish, then exit cleanly.
    print(f"received SIGQUIT: no new jobs, stopping once the running ones are done (jobs={len(RUNNING)})",
          flush=True)
    STOPPING.append(True)


def run(config_path):
    signal.signal(signal.SIGQUIT, stop_gracefully)
    while not STOPPING:
        interval = 3
        try:
            with open(config_path, "rb") as stream:
                config = tomllib.load(stream)
            interval = config.get("check_interval") or 3
            concurrent = config.get("concurrent") or 1
            sid = system_id(config_path)
            for runner in config.get("runners", []):
                if runner.get("token") and runner.get("url") and not STOPPING:
                    status, job = poll(runner, sid) if len(RUNNING) < concurrent else ("busy", None)
                    print(f"runner {runner.get('name')!r}: jobs/request -> {status}", flush=True)
                    if status == 201 and job:
                        start_job(job, runner)
        except (OSError, tomllib.TOMLDecodeError) as error:
            print(f"cannot load {config_path}: {error}", flush=True)
        for _tick in range(int(interval * 10)):
            report_finished_jobs()
            if STOPPING:
                break
            time.sleep(0.1)
    while RUNNING:
        report_finished_jobs()
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
