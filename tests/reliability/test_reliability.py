# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Faults from GitLab, faults on the hosts, an interrupted play, and hostile input, each run through
playbooks/site.yml with -vvv and --diff. Every scenario audits the fleet afterwards."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import COLLECTIONS_ROOT
from tests.reliability.conftest import CREATE_ONLY, DEFINITIONS, EXPIRED, HOSTS, PAT, SPARE, write_config

WRITES = ("POST", "PUT", "DELETE")


def writes(sim):
    return [entry for entry in sim.requests() if entry["method"] in WRITES and not entry["path"].endswith("/verify")]


def converged(result, fleet):
    assert result.rc == 0, result.output
    audit = fleet.audit()
    assert audit == {"lost": 0, "orphaned": 0, "half_written": 0}


# --- GitLab faults ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("POST", "/api/v4/user/runners"),
    ("GET", r"/api/v4/(groups|projects)/\d+/runners"),
])
def test_rate_limit_is_obeyed(fleet, method, path):
    fleet.sim.fault(path, method=method, status=429, retry_after=1, times=2)
    converged(fleet.run(), fleet)
    statuses = [entry["status"] for entry in fleet.sim.requests(method, path)]
    assert statuses.count(429) == 2


def test_rate_limit_on_verify_during_a_rerun(fleet):
    converged(fleet.run(), fleet)
    fleet.sim.fault("/api/v4/runners/verify", method="POST", status=429, retry_after=1, times=2)
    rerun = fleet.run()
    converged(rerun, fleet)
    assert all(rerun.changed(host) == 0 for host in HOSTS), rerun.output


def test_server_error_burst_is_retried(fleet):
    fleet.sim.fault(r"/api/v4/(groups|projects)/\d+/runners", method="GET", status=502, times=3)
    converged(fleet.run(), fleet)


def test_create_failing_for_good_fails_clearly_and_creates_nothing(fleet):
    fleet.sim.fault("/api/v4/user/runners", method="POST", status=500, times=None)
    result = fleet.run()
    assert result.rc != 0
    assert "GitLab answered 500" in result.output
    assert [runner["description"] for runner in fleet.sim.state()["runners"]] == ["legacy-one"]
    fleet.sim.clear_faults()
    converged(fleet.run(), fleet)


def test_lost_create_response_is_recovered_without_duplicate(fleet):
    fleet.sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after", times=1)
    first = fleet.run()
    # Whether the first run recovers by itself or fails, the rerun must heal without a duplicate.
    if first.rc != 0:
        first = fleet.run()
    converged(first, fleet)
    shared = [runner for runner in fleet.sim.state()["runners"] if runner["description"] == "shared"]
    assert len(shared) == 1


def test_expired_api_token_fails_before_any_write(fleet):
    result = fleet.run(token=EXPIRED)
    assert result.rc != 0
    assert "has expired" in result.output
    assert writes(fleet.sim) == []


def test_missing_scope_is_found_at_preflight(fleet):
    result = fleet.run(token=CREATE_ONLY)
    assert result.rc != 0
    assert "read_api" in result.output
    assert writes(fleet.sim) == []
    assert fleet.sim.requests("POST", "/api/v4/user/runners") == []


def test_read_slower_than_the_timeout_is_retried(fleet):
    # gitlab_runner_api_timeout is 5 seconds in these scenarios.
    fleet.sim.fault(r"/api/v4/(groups|projects)/\d+/runners", method="GET", action="delay", delay=7, times=1)
    converged(fleet.run(), fleet)
    assert len(fleet.sim.requests("GET", r"/api/v4/(groups|projects)/\d+/runners")) >= 2


def test_create_answer_slower_than_the_timeout_is_recovered_without_duplicate(fleet):
    # GitLab creates the runner, but its answer (with the only copy of the token) arrives too late.
    fleet.sim.fault("/api/v4/user/runners", method="POST", action="delay", delay=7, when="after", times=1)
    result = fleet.run()
    converged(result, fleet)
    assert "was lost" in result.output
    assert len(fleet.sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")) == 1
    names = [runner["description"] for runner in fleet.sim.state()["runners"]]
    assert len(names) == len(set(names))


def late_create(fleet):
    """GitLab takes longer than the client waits (gitlab_runner_api_timeout is 5 seconds here) and commits the create
    after the client gave up: its lookup right after the timeout finds nothing, and the run fails."""
    fleet.sim.fault("/api/v4/user/runners", method="POST", action="delay", delay=8, times=1)
    result = fleet.run()
    assert result.rc != 0
    assert "none was created; running again is safe" in result.output
    deadline = time.monotonic() + 30
    while not [runner for runner in fleet.sim.state()["runners"] if runner["description"] == "shared"]:
        assert time.monotonic() < deadline, "the late create never arrived"
        time.sleep(0.2)


def test_a_create_committed_late_is_protected_while_another_run_could_be_claiming_it(fleet):
    late_create(fleet)
    result = fleet.run()
    assert result.rc != 0
    assert "no host has used its token yet" in result.output and "run again after 300 seconds" in result.output
    assert fleet.sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []


def test_a_create_committed_late_is_adopted_by_the_first_run_after_the_claim_window(fleet):
    # The simulator's clock runs 10 minutes behind while the late create is committed: to the next run the runner is
    # that old, and no host ever used it.
    fleet.sim.advance_clock(-600)
    late_create(fleet)
    fleet.sim.advance_clock(600)
    converged(fleet.run(), fleet)
    shared = [runner for runner in fleet.sim.state()["runners"] if runner["description"] == "shared"]
    assert len(shared) == 1
    assert len(fleet.sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")) == 1
    # Every host carries the adopted runner's token, and GitLab takes it from each of them.
    for host in HOSTS:
        entry = fleet.entries(host)["shared"]
        assert entry["id"] == shared[0]["id"] and entry["token"] == shared[0]["token"]
        answer = requests.post(f"{fleet.sim.url}/api/v4/runners/verify", timeout=30,
                               json={"token": entry["token"], "system_id": f"s_check{host[-1]}0000000"[:14]})
        assert answer.status_code == 200 and answer.json()["id"] == shared[0]["id"]


def watch_state(sim, condition, then, timeout=60):
    """Run ``then()`` in the background as soon as ``condition(state)`` holds."""
    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(sim.state()):
                then()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_api_token_expiring_mid_run_fails_clearly_and_the_rerun_recovers(fleet):
    # The token expires right after GitLab created the shared runner, before the per-host runners: its
    # answer (with the token) still arrives, then every call answers 401.
    fleet.sim.fault("/api/v4/user/runners", method="POST", action="delay", delay=2, when="after", times=1)
    watcher = watch_state(fleet.sim, lambda state: any(r["description"] == "shared" for r in state["runners"]),
                          lambda: requests.delete(f"{fleet.sim.url}/api/v4/personal_access_tokens/self",
                                                  headers={"PRIVATE-TOKEN": PAT}, timeout=10).raise_for_status())
    result = fleet.run()
    watcher.join()
    assert result.rc != 0
    assert ("GitLab answered 401: Token was revoked. You have to re-authorize from the user. Fix: the api_token was "
            "revoked: create a new token") in result.output, result.output[-6000:]
    assert [r["description"] for r in fleet.sim.state()["runners"]] == ["legacy-one", "shared"]
    # The play stopped before writing: no host holds a token that nobody can recover.
    assert all(not fleet.config_path(host).exists() for host in HOSTS)

    healed = fleet.run(token=SPARE)
    converged(healed, fleet)
    shared = [r for r in fleet.sim.state()["runners"] if r["description"] == "shared"]
    assert len(shared) == 1


# --- Host faults -------------------------------------------------------------------------------------

def test_malformed_config_on_one_host_leaves_it_untouched(fleet):
    broken = "# broken on purpose\n[[runners]\nname = 'x'\n"
    write_config(fleet.config_path("host-b"), broken)
    result = fleet.run()
    assert result.rc != 0
    assert result.recap["host-b"]["failures"] == 1
    assert "line" in result.output and "column" in result.output
    assert fleet.config_path("host-b").read_text(encoding="utf-8") == broken
    # The other hosts share a runner whose token host-b may hold: they stop with it, and nothing is created.
    for host in ("host-a", "host-c"):
        assert result.recap[host]["failures"] == 1
        assert f"{host}: stopped with host-b, which could not be read: both carry shared" in result.output
        assert not fleet.config_path(host).exists()
    assert writes(fleet.sim) == []
    fleet.config_path("host-b").unlink()
    converged(fleet.run(), fleet)


def test_empty_config_is_filled_in(fleet):
    write_config(fleet.config_path("host-b"), "")
    converged(fleet.run(), fleet)
    assert set(fleet.entries("host-b")) == {"shared", "own-host-b"}


def test_config_path_that_is_a_directory(fleet):
    fleet.config_path("host-c").mkdir()
    result = fleet.run()
    assert result.recap["host-c"]["failures"] == 1
    assert "host-c: Reading" in result.output and "it is a directory" in result.output
    assert all(result.recap[host]["failures"] == 1 for host in ("host-a", "host-b"))
    assert writes(fleet.sim) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config(fleet):
    write_config(fleet.config_path("host-a"), "concurrent = 1\n")
    os.chmod(fleet.config_path("host-a"), 0)
    result = fleet.run()
    assert result.recap["host-a"]["failures"] == 1


def test_runner_rewrite_between_runs_keeps_the_newer_token(fleet):
    converged(fleet.run(), fleet)
    shared = next(runner for runner in fleet.sim.state()["runners"] if runner["description"] == "shared")
    rotated = requests.post(f"{fleet.sim.url}/api/v4/runners/reset_authentication_token",
                            json={"token": shared["token"]}, timeout=10).json()["token"]
    path = fleet.config_path("host-a")
    path.write_text(path.read_text(encoding="utf-8").replace(shared["token"], rotated), encoding="utf-8")
    converged(fleet.run(), fleet)
    assert all(fleet.entries(host)["shared"]["token"] == rotated for host in HOSTS)


def test_missing_system_id_file(fleet):
    (fleet.tmp_path / "host-a" / ".runner_system_id").unlink()
    result = fleet.run()
    converged(result, fleet)


@pytest.fixture
def own_filesystem(fleet):
    """host-b's directory on a tmpfs of its own, small enough to fill (needs the right to mount)."""
    directory = fleet.tmp_path / "host-b"
    system_id = (directory / ".runner_system_id").read_bytes()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(directory)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (directory / ".runner_system_id").write_bytes(system_id)
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


# The same definitions with a setting that changes config.toml on every host.
NEW_IMAGE = [dict(DEFINITIONS[0], settings={"docker": {"image": "alpine:3.21"}}), DEFINITIONS[1]]


def test_full_filesystem_fails_clearly_and_leaves_the_file_whole(fleet, own_filesystem):
    converged(fleet.run(), fleet)
    path = fleet.config_path("host-b")
    before = path.read_bytes()
    subprocess.run(["dd", "if=/dev/zero", f"of={own_filesystem / 'filler'}", "bs=1k"],
                   capture_output=True, check=False)
    result = fleet.run(NEW_IMAGE)
    assert result.rc != 0
    assert result.recap["host-b"]["failures"] == 1
    assert "No space left on device" in result.output
    assert "check the free space" in result.output
    assert path.read_bytes() == before
    assert sorted(p.name for p in own_filesystem.iterdir()) == [".runner_system_id", "config.toml", "filler"]
    assert fleet.entries("host-a")["shared"]["docker"]["image"] == "alpine:3.21"

    (own_filesystem / "filler").unlink()
    converged(fleet.run(NEW_IMAGE), fleet)
    assert fleet.entries("host-b")["shared"]["docker"]["image"] == "alpine:3.21"


def test_read_only_filesystem_fails_clearly_and_leaves_the_file_whole(fleet, own_filesystem):
    converged(fleet.run(), fleet)
    path = fleet.config_path("host-b")
    before = path.read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(own_filesystem)], check=True)
    result = fleet.run(NEW_IMAGE)
    assert result.rc != 0
    assert result.recap["host-b"]["failures"] == 1
    assert "Read-only file system" in result.output
    assert path.read_bytes() == before
    assert result.recap["host-a"]["failures"] == 0

    subprocess.run(["mount", "-o", "remount,rw", str(own_filesystem)], check=True)
    converged(fleet.run(NEW_IMAGE), fleet)


def test_crash_between_temporary_write_and_rename_leaves_the_old_file_whole(fleet):
    converged(fleet.run(), fleet)
    path = fleet.config_path("host-b")
    before = path.read_bytes()
    hook = Path(__file__).parent / "crash_hook"
    crashed = fleet.run(NEW_IMAGE, env={"PYTHONPATH": f"{hook}{os.pathsep}{COLLECTIONS_ROOT}",
                                        "RELIABILITY_CRASH_DIR": str(path.parent)})
    assert crashed.rc != 0
    assert crashed.recap["host-b"]["failures"] == 1
    assert path.read_bytes() == before
    # The killed write left its temporary file (the new content); the next write removes it.
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] != []
    assert fleet.entries("host-a")["shared"]["docker"]["image"] == "alpine:3.21"

    healed = fleet.run(NEW_IMAGE)
    converged(healed, fleet)
    assert fleet.entries("host-b")["shared"]["docker"]["image"] == "alpine:3.21"


# --- Fleet faults ------------------------------------------------------------------------------------

def test_play_interrupted_after_create_before_write_heals(fleet):
    # A play stopped after GitLab created the runners and before any host wrote its token.
    interrupted = fleet.run(tags="gitlab_runner_preflight,gitlab_runner_runners")
    assert interrupted.rc == 0, interrupted.output
    assert len(fleet.sim.state()["runners"]) == 1 + 1 + len(HOSTS)
    assert all(not fleet.config_path(host).exists() for host in HOSTS)
    healed = fleet.run()
    converged(healed, fleet)
    names = [runner["description"] for runner in fleet.sim.state()["runners"]]
    assert len(names) == len(set(names))


def test_host_lost_mid_play_leaves_the_others_converged_and_the_rerun_completes_it(fleet):
    lost = fleet.run(host_vars={"host-b": {"ansible_connection": "lost_local"}},
                     env={"ANSIBLE_CONNECTION_PLUGINS": str(Path(__file__).parent / "connection_plugins"),
                          "RELIABILITY_LOST_AT": "runner_config_sync"})
    assert lost.rc != 0
    assert lost.recap["host-b"]["unreachable"] == 1
    assert all(lost.recap[host]["failures"] == 0 and lost.recap[host]["unreachable"] == 0
               for host in ("host-a", "host-c"))
    assert set(fleet.entries("host-a")) == {"shared", "own-host-a"}
    assert not fleet.config_path("host-b").exists()

    healed = fleet.run()
    converged(healed, fleet)
    # host-b gets the shared token the others hold (no reset), and its own runner's token by a reset.
    resets = fleet.sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")
    assert len(resets) == 1
    assert healed.changed("host-a") == 0 and healed.changed("host-c") == 0


def test_two_plays_on_the_same_fleet_at_once_create_each_runner_once_and_agree_on_tokens(fleet):
    # Two launches of the same job at once (from one controller): they take turns on the lock in
    # gitlab_runner_create, so the second finds what the first created, and the later token reset wins
    # on every host (token_obtained_at), without a healing run.
    results = {}
    # A slow listing keeps the first play between "not found" and "created" while the second one looks.
    fleet.sim.fault(r"/api/v4/groups/\d+/runners", method="GET", action="delay", delay=2, when="after", times=2)

    def play(index):
        results[index] = fleet.run()

    threads = [threading.Thread(target=play, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.5)
    for thread in threads:
        thread.join()
    assert [results[index].rc for index in range(2)] == [0, 0], results[1].output[-4000:]
    names = sorted(runner["description"] for runner in fleet.sim.state()["runners"])
    assert names == sorted(["legacy-one", "shared"] + [f"own-{host}" for host in HOSTS])
    assert len(fleet.sim.requests("POST", "/api/v4/user/runners")) == 1 + len(HOSTS)
    assert fleet.audit() == {"lost": 0, "orphaned": 0, "half_written": 0}
    assert all(set(fleet.entries(host)) == {"shared", f"own-{host}"} for host in HOSTS)


# --- Bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("definitions, message", [
    ([DEFINITIONS[0], DEFINITIONS[0]], "declared more than once"),
    ([{"name": "x", "runner_type": "group_type"}], "needs the group that owns the runner"),
    ([{"name": "x", "runner_type": "group_type", "group": "nowhere"}], "404"),
    ([{"name": "x", "runner_type": "instance_type", "group": "platform"}],
     "group is set but runner_type is instance_type"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "maximum_timeout": 60}], "maximum_timeout"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "tags": [f"t{i}" for i in range(51)]}],
     "tags"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "executr": "shell"}], "executr"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "maximum_timeout": "ten minutes"}],
     "maximum_timeout"),
])
def test_bad_input_changes_nothing(fleet, definitions, message):
    result = fleet.run(definitions)
    assert result.rc != 0
    assert message in result.output
    assert writes(fleet.sim) == []
    assert all(not fleet.config_path(host).exists() for host in HOSTS)


def test_runner_token_given_as_the_api_token(fleet):
    result = fleet.run(token="glrt-t1_reliabilityRunnerTok")
    assert result.rc != 0
    assert "api_token is a runner authentication token (glrt-), which cannot call GitLab's REST API" in result.output
    assert fleet.sim.requests() == []
    assert all(not fleet.config_path(host).exists() for host in HOSTS)


def test_url_without_scheme(fleet):
    result = fleet.run(extra={"gitlab_runner_api_url": "gitlab.example.com"})
    assert result.rc != 0
    assert "gitlab_runner_api_url is 'gitlab.example.com', not GitLab's base URL with its scheme" in result.output
    # Only the cause that applies: the token is set.
    assert "gitlab_runner_api_token is not set" not in result.output
    assert fleet.sim.requests() == []


def test_missing_api_token_names_the_token_alone(fleet):
    result = fleet.run(token="")
    assert result.rc != 0
    assert "gitlab_runner_api_token is not set" in result.output
    assert "base URL" not in result.output
    assert fleet.sim.requests() == []
