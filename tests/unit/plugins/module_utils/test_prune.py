# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pruning's decision: which managers and per-host runners of the fleet are stale, from GitLab's last contacts."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet, _prune, _runner_desired

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)
WEEK = 7 * 24 * 3600
DEFINITIONS = _fleet.definitions([
    {"name": "shared", "runner_type": "group_type", "group": "platform"},
    {"name": "build", "runner_type": "project_type", "project": "platform/app", "per_host": True},
])


def ago(days):
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def manager(system_id, days=None, created_days=None):
    return {"system_id": system_id, "contacted_at": ago(days) if days is not None else None,
            "created_at": ago(created_days) if created_days is not None else None}


def runner(runner_id, description, *managers, runner_type="group_type", created_days=30):
    owner = {"type": "group", "id": 5, "path": "platform"} if runner_type == "group_type" else \
        {"type": "project", "id": 9, "path": "platform/app"}
    return {"id": runner_id, "description": description, "runner_type": runner_type, "owner": owner,
            "created_at": ago(created_days), "managers": list(managers)}


def holding(host, *entries):
    return {host: {"system_id": f"s_{host[-1] * 12}", "system_id_source": "file",
                   "runners": [{"name": name, "id": runner_id, "url": "https://gitlab.example.com", "token": token}
                               for name, runner_id, token in entries]}}


def plan(runners, inventory=("a", "b"), gathered=None, threshold=WEEK):
    gathered = gathered if gathered is not None else holding("a", ("shared", 1, "glrt-shared"))
    return _prune.prune_plan({"a": DEFINITIONS, "b": DEFINITIONS}, inventory, gathered, [{"runners": runners}],
                             threshold, now=NOW)


def test_stale_managers_of_a_shared_runner_go_with_a_token_a_host_holds():
    result = plan([runner(1, "shared", manager("s_a", 0.04), manager("s_old", 10), manager("s_new", None, 8))])
    assert [(item["runner_id"], item["system_id"], item["token"], item["url"]) for item in result["managers"]] == [
        (1, "s_old", "glrt-shared", "https://gitlab.example.com"),
        (1, "s_new", "glrt-shared", "https://gitlab.example.com")]
    assert result["runners"] == []
    assert "glrt-" not in repr(result["lines"])


@pytest.mark.parametrize("managers", [
    [manager("s_a", 6.9)],                     # seen within the threshold
    [manager("s_a", None, 1)],                 # never contacted, created yesterday
    [{"system_id": "s_a"}],                    # GitLab says neither: unknown, kept
])
def test_a_manager_not_proven_stale_stays(managers):
    assert plan([runner(1, "shared", *managers)]) == {"managers": [], "runners": [], "lines": ["nothing stale to prune"]}


def test_runners_the_fleet_does_not_declare_are_never_touched():
    result = plan([runner(7, "other-team", manager("s_x", 30)),
                   runner(8, "builder-c", manager("s_c", 30), runner_type="project_type")])
    assert result == {"managers": [], "runners": [], "lines": ["nothing stale to prune"]}


def test_a_per_host_runner_of_a_host_gone_from_the_inventory_is_deleted_when_all_its_managers_are_stale():
    result = plan([runner(4, "build-c", manager("s_c", 10), runner_type="project_type")])
    assert result["runners"] == [{"id": 4, "name": "build-c", "runner_type": "project_type",
                                  "project": 9, "line": result["lines"][0]}]
    assert result["lines"][0].startswith("build-c (runner 4): delete the runner; its host c is in no inventory group")


@pytest.mark.parametrize("inventory, managers, deleted", [
    (("a", "b"), [manager("s_c", 10), manager("s_d", 0.1)], False),   # still used by a live host
    (("a", "b", "c"), [manager("s_c", 10)], False),                    # its host is in the inventory
    (("a", "b"), [], True),                                             # no manager, created a month ago
])
def test_a_per_host_runner_goes_only_when_its_host_is_gone_and_nobody_uses_it(inventory, managers, deleted):
    result = plan([runner(4, "build-c", *managers, runner_type="project_type")], inventory=inventory, gathered={})
    assert bool(result["runners"]) is deleted


def test_without_a_token_in_the_run_stale_managers_stay_and_the_output_says_why():
    result = plan([runner(1, "shared", manager("s_old", 10))], gathered={})
    assert result["managers"] == []
    assert result["lines"] == ["shared (runner 1): kept 1 stale manager(s) (s_old): no host of this run holds the "
                               "runner's token; run with a host that carries it"]


def test_the_longest_per_host_name_wins():
    definitions = _fleet.definitions([{"name": "build", "per_host": True}, {"name": "build-arm", "per_host": True}])
    runner = {"description": "build-arm-c", "runner_type": "instance_type"}
    assert _prune.per_host_owner(runner, _prune.fleet_names({"a": definitions})[1]) == ("build-arm", "c")


OWN = {"name": "acc-own", "runner_type": "project_type", "project": "acme/platform/app", "per_host": True}


@pytest.mark.parametrize("runner, owner", [
    ({"runner_type": "project_type", "owner": {"type": "project", "id": 5, "path": "acme/platform/app"}}, "h9"),
    ({"runner_type": "project_type", "owner": {"type": "project", "id": 5, "path": "ACME/Platform/App"}}, "h9"),
    # A runner of the parent group that happens to bear the name: GitLab lists it among the project's runners.
    ({"runner_type": "group_type", "owner": {"type": "group", "id": 1, "path": "acme"}}, None),
    ({"runner_type": "project_type", "owner": {"type": "project", "id": 6, "path": "acme/other"}}, None),
    ({"runner_type": "instance_type", "owner": {"type": "instance", "id": None, "path": None}}, None),
])
def test_a_per_host_runner_is_the_fleets_only_with_its_definitions_type_and_owner(runner, owner):
    per_host = _prune.fleet_names({"a": _fleet.definitions([OWN])})[1]
    found = _prune.per_host_owner(dict(runner, description="acc-own-h9"), per_host)
    assert found == (None if owner is None else ("acc-own", owner))


@pytest.mark.parametrize("ref, expected", [("5", True), ("6", False), ("acme/platform/app", True),
                                           ("Acme/Platform/App/", True), ("acme/platform", False)])
def test_an_owner_is_named_by_its_id_or_its_path_in_any_case(ref, expected):
    assert _runner_desired.owner_named_by(5, "acme/platform/app", ref) is expected


def test_reads_cover_the_owners_of_the_definitions_and_the_runners_hosts_carry():
    reads = _prune.prune_reads({"a": DEFINITIONS}, holding("a", ("shared", 1, "glrt-shared"), ("x", 12, "glrt-x")))
    assert reads == [{"group": "platform"}, {"project": "platform/app"}, {"id": 1}, {"id": 12}]
