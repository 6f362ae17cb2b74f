# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The health check's decision: which hosts' gitlab-runner made no contact with GitLab since the check began."""

from __future__ import annotations

import pytest

from ansible_collections.runnerops.gitlab.plugins.filter import fleet as fleet_filters
from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet, _health

RUNNERS = [{"id": 7, "name": "shared", "hosts": {"h1": "s_000000000001", "h2": "s_000000000002"}}]


def read(runner_id, *managers, failed=None):
    """A gitlab_runner_info loop result for one runner: its managers as (system_id, contacted_at, version)."""
    if failed:
        return {"item": {"id": runner_id}, "failed": True, "msg": failed}
    return {"item": {"id": runner_id}, "runners": [{"id": runner_id, "managers": [
        {"system_id": sid, "contacted_at": at, "version": version} for sid, at, version in managers]}]}


BEFORE = [read(7, ("s_000000000001", "2026-11-30T10:00:00.000Z", "17.10.1"),
               ("s_000000000002", "2026-11-30T10:00:00.000Z", "17.10.1"))]


def test_every_host_that_contacted_since_the_check_began_is_healthy():
    now = [read(7, ("s_000000000001", "2026-11-30T10:00:03.000Z", "17.10.1"),
                ("s_000000000002", "2026-11-30T10:00:04.500Z", "17.10.1"))]
    assert _health.problems(RUNNERS, BEFORE, now, "17.10.1") == []
    assert _health.problems(RUNNERS, BEFORE, now) == []


@pytest.mark.parametrize("now, words", [
    ([read(7, ("s_000000000001", "2026-11-30T10:00:03.000Z", "17.10.1"),
           ("s_000000000002", "2026-11-30T10:00:00.000Z", "17.10.1"))],
     "h2: gitlab-runner made no contact for runner shared (id 7) while the check waited (last contact "
     "2026-11-30T10:00:00Z)."),
    ([read(7, ("s_000000000001", "2026-11-30T10:00:03.000Z", "17.10.1"))],
     "h2: GitLab lists no runner manager with its system id s_000000000002 for runner shared (id 7)"),
    ([read(7, failed="Reading runner 7 failed: 404 Not found.")], "runner shared (id 7): Reading runner 7 failed"),
])
def test_a_host_without_a_fresh_contact_is_named_with_the_causes(now, words):
    lines = _health.problems(RUNNERS, BEFORE, now, "17.10.1")
    assert any(words in line for line in lines), lines
    assert not any(line.startswith("h1:") for line in lines), lines
    assert lines[-1] == _health.CAUSES


def test_a_host_on_another_version_is_named_without_the_causes_of_a_missing_contact():
    now = [read(7, ("s_000000000001", "2026-11-30T10:00:03.000Z", "17.10.1"),
                ("s_000000000002", "2026-11-30T10:00:03.000Z", "17.11.0"))]
    assert _health.problems(RUNNERS, BEFORE, now, "17.10.1") == [
        "h2: gitlab-runner reports version 17.11.0 for runner shared (id 7), not 17.10.1: the service still runs the "
        "version it started with, or the package did not change."]


def test_a_manager_first_seen_during_the_check_counts_as_contact():
    now = [read(7, ("s_000000000001", "2026-11-30T10:00:03Z", "17.10.1"),
                ("s_000000000002", "2026-11-30T10:00:03Z", "17.10.1"))]
    assert _health.problems(RUNNERS, [read(7)], now) == []


def test_the_plan_holds_the_runners_of_the_roles_gitlab_with_each_hosts_system_id():
    entries = {"h1": [{"name": "shared", "id": 7}, {"name": "own-h1", "id": 9}, {"name": "other", "id": 3}],
               "h2": [{"name": "shared", "id": 7}, {"name": "pending"}],
               "h3": [{"name": "shared", "id": 7}]}
    system_ids = {"h1": "s_000000000001", "h2": "s_000000000002", "h3": None}
    own = {"h1": {"shared", "own-h1"}, "h2": {"shared", "pending"}, "h3": {"shared"}}
    assert _health.plan(entries, system_ids, own) == [
        {"id": 7, "name": "shared", "hosts": {"h1": "s_000000000001", "h2": "s_000000000002"}},
        {"id": 9, "name": "own-h1", "hosts": {"h1": "s_000000000001"}},
    ]


def test_the_filter_reads_one_result_and_compares_the_version_without_its_revision():
    now = read(7, ("s_000000000001", "2026-11-30T10:00:03Z", "17.10.1"),
               ("s_000000000002", "2026-11-30T10:00:03Z", "17.10.1"))
    assert fleet_filters.fleet_health_problems(RUNNERS, BEFORE, now, "17.10.1-1") == []
    assert fleet_filters.fleet_health_problems(RUNNERS, BEFORE, now, "latest") == []
    assert "not 17.11.0" in fleet_filters.fleet_health_problems(RUNNERS, BEFORE, now, "17.11.0")[0]


def test_a_read_whose_retries_ran_out_still_counts_for_what_it_listed():
    exhausted = dict(read(7, ("s_000000000001", "2026-11-30T10:00:03Z", "17.10.1"),
                          ("s_000000000002", "2026-11-30T10:00:00Z", "17.10.1")), failed=True, attempts=5)
    lines = _health.problems(RUNNERS, BEFORE, [exhausted])
    assert lines[0].startswith("h2: gitlab-runner made no contact for runner shared (id 7)") and len(lines) == 2


def test_each_host_sees_only_its_own_lines():
    now = [read(7, ("s_000000000001", "2026-11-30T10:00:03Z", "17.10.1"),
                ("s_000000000002", "2026-11-30T10:00:00Z", "17.10.1"))]
    assert fleet_filters.fleet_health_problems(RUNNERS, BEFORE, now, "17.10.1", "h1") == []
    lines = fleet_filters.fleet_health_problems(RUNNERS, BEFORE, now, "17.10.1", "h2")
    assert lines[0].startswith("h2: gitlab-runner made no contact") and lines[1] == _health.CAUSES
    assert _health.problems(RUNNERS, BEFORE, now, host="h9") == []
    # A runner that could not be read leaves each of its hosts unconfirmed.
    failed = [read(7, failed="Reading runner 7 failed: 404 Not found.")]
    for host in ("h1", "h2"):
        assert _health.problems(RUNNERS, BEFORE, failed, host=host)[0].startswith("runner shared (id 7): Reading")


def report(host, system_id, *entries):
    return _fleet.host_report(host, {"system_id": system_id, "runners": [
        {"name": name, "id": runner_id, "url": url} for name, runner_id, url in entries]})


def test_the_held_plan_takes_the_entries_of_one_gitlab_from_config_toml():
    reports = [report("h1", "s_000000000001", ("shared", 7, "https://gitlab.example.com/"),
                      ("elsewhere", 8, "https://other.example.com"), ("unregistered", None, "https://gitlab.example.com")),
               report("h2", "s_000000000002", ("shared", 7, "https://gitlab.example.com/ci")),
               report("h3", "s_000000000003"),
               report("h4", None, ("shared", 7, "https://gitlab.example.com"))]
    plan = _health.held_plan(reports, "https://gitlab.example.com")
    assert plan == [{"id": 7, "name": "shared", "hosts": {"h1": "s_000000000001", "h2": "s_000000000002"}}]
    lines = _health.unconfirmable(reports, "https://gitlab.example.com/")
    assert sorted(lines) == ["h3", "h4"]
    assert lines["h3"] == ("h3: config.toml holds no registered runner of https://gitlab.example.com (entries: none), "
                           "so GitLab cannot confirm it runs the new version. Run the role on the host first, or leave "
                           "it out with target or --limit.")
    assert lines["h4"].startswith("h4: gitlab-runner has no runner system id on the host yet")


def test_a_host_whose_runners_point_elsewhere_cannot_be_confirmed():
    reports = [report("h1", "s_000000000001", ("shared", 7, "http://127.0.0.1:9"), ("new", None, "https://gitlab.example.com"))]
    assert _health.held_plan(reports, "https://gitlab.example.com") == []
    assert "(entries: shared (http://127.0.0.1:9), new (https://gitlab.example.com))" in \
        _health.unconfirmable(reports, "https://gitlab.example.com")["h1"]
