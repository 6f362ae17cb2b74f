# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Faults from GitLab, faults on the hosts, an interrupted play, and hostile input, each run through
playbooks/site.yml with -vvv and --diff. Every scenario audits the fleet afterwards."""

from __future__ import annotations

import os

import pytest

from tests.reliability.conftest import CREATE_ONLY, DEFINITIONS, EXPIRED, HOSTS, write_config

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


# --- Host faults -------------------------------------------------------------------------------------

def test_malformed_config_on_one_host_leaves_it_untouched(fleet):
    broken = "# broken on purpose\n[[runners]\nname = 'x'\n"
    write_config(fleet.config_path("host-b"), broken)
    result = fleet.run()
    assert result.rc != 0
    assert result.recap["host-b"]["failures"] == 1
    assert "line" in result.output and "column" in result.output
    assert fleet.config_path("host-b").read_text(encoding="utf-8") == broken
    assert set(fleet.entries("host-a")) == {"shared", "own-host-a"}
    fleet.config_path("host-b").unlink()
    converged(fleet.run(), fleet)


def test_config_path_that_is_a_directory(fleet):
    fleet.config_path("host-c").mkdir()
    result = fleet.run()
    assert result.recap["host-c"]["failures"] == 1
    assert "directory" in result.output
    assert result.recap["host-a"]["failures"] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config(fleet):
    write_config(fleet.config_path("host-a"), "concurrent = 1\n")
    os.chmod(fleet.config_path("host-a"), 0)
    result = fleet.run()
    assert result.recap["host-a"]["failures"] == 1


def test_runner_rewrite_between_runs_keeps_the_newer_token(fleet):
    converged(fleet.run(), fleet)
    import requests
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


# --- Bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("definitions, message", [
    ([DEFINITIONS[0], DEFINITIONS[0]], "declared more than once"),
    ([{"name": "x", "runner_type": "group_type"}], "needs group"),
    ([{"name": "x", "runner_type": "group_type", "group": "nowhere"}], "404"),
    ([{"name": "x", "runner_type": "instance_type", "group": "platform"}], "takes neither group nor project"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "maximum_timeout": 60}], "maximum_timeout"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "tags": [f"t{i}" for i in range(51)]}],
     "tags"),
    ([{"name": "x", "runner_type": "group_type", "group": "platform", "executr": "shell"}], "executr"),
])
def test_bad_input_changes_nothing(fleet, definitions, message):
    result = fleet.run(definitions)
    assert result.rc != 0
    assert message in result.output
    assert writes(fleet.sim) == []
    assert all(not fleet.config_path(host).exists() for host in HOSTS)


def test_url_without_scheme(fleet):
    result = fleet.run(extra={"gitlab_runner_api_url": "gitlab.example.com"})
    assert result.rc != 0
    assert "gitlab_runner_api_url must be GitLab's base URL with its scheme" in result.output
    assert fleet.sim.requests() == []
