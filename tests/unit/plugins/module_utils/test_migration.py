# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The migration from registration tokens: every rule of the plan, a host's writes, the deletions."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.runnerops.gitlab.plugins.filter import migration as filters
from ansible_collections.runnerops.gitlab.plugins.module_utils import _migration
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import host_reports

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)
RECENT = "2026-11-30T11:30:00Z"
HOURS_AGO = "2026-11-30T06:00:00Z"
SID = {"a": "s_aaaaaaaaaaaa", "b": "s_bbbbbbbbbbbb", "c": "s_cccccccccccc", "far": "s_ffffffffffff"}
GROUP = {"type": "group", "id": 7, "path": "platform"}
SUFFIX = " (legacy, being migrated)"


def entry(name, runner_id, token, obtained="2025-03-01T10:00:00Z", **extra):
    return dict({"name": name, "id": runner_id, "token": token, "token_obtained_at": obtained,
                 "url": "https://gitlab.example.com"}, **extra)


def gathered(**hosts):
    """``{host: runner_config_info result}`` from ``host=[entries]``."""
    return {host: {"system_id": SID[host], "runners": entries} for host, entries in hosts.items()}


def legacy_runner(runner_id, description, managers=(), tags=("docker",), owner=None, **extra):
    owner = owner or GROUP
    return dict({"id": runner_id, "description": description, "runner_type": "group_type", "owner": owner,
                 "tags": list(tags), "run_untagged": False, "locked": False, "access_level": "not_protected",
                 "paused": False, "maximum_timeout": None, "maintenance_note": None,
                 "managers": [{"system_id": SID[host], "status": status} for host, status in managers]}, **extra)


def new_runner(runner_id, description, managers=(), owner=None):
    owner = owner or GROUP
    return {"id": runner_id, "description": description, "runner_type": "group_type", "owner": owner, "tags": [],
            "managers": [{"system_id": SID.get(host, host), "status": "online", "contacted_at": contacted,
                          "ip_address": "10.0.0.9", "version": "17.11.0"} for host, contacted in managers]}


def read(*runners):
    return {"results": [{"item": runner["id"], "runners": [runner]} for runner in runners]}


def lookups(plan, found):
    """The registered lookups by name, answering ``found[legacy id]`` for each item of ``look_for``."""
    return {"results": [{"item": item, "runners": found.get(item["id"], [])} for item in plan["look_for"]]}


def plan_of(hosts, legacy, marked=(), found=None, window=7200):
    reports = host_reports(hosts)
    staged = _migration.plan(reports, legacy=legacy, marked=[{"runners": list(marked)}])
    return _migration.plan(reports, legacy=legacy, marked=[{"runners": list(marked)}],
                           existing=lookups(staged, found or {}), now=NOW, window=window)


def only(plan):
    [item] = plan["runners"]
    return item


# Two hosts on legacy runner 11; runner-c (here "c") on 12.
HOSTS = gathered(a=[entry("docker-builders", 11, "LEGACYshared01")], b=[entry("builders-b", 11, "LEGACYshared01")],
                 c=[entry("app-shell", 12, "t3_LEGACYshell02"), entry("current", 13, "glrt-current")])


def test_first_stage_names_the_legacy_runners_to_read_and_nothing_else():
    plan = _migration.plan(host_reports(dict(HOSTS, far={"system_id": SID["far"], "runners": [
        entry("env", 14, "$RUNNER_TOKEN"), entry("no-id", None, "LEGACYnoid")]})))
    assert plan["read"] == [11, 12]
    assert (plan["look_for"], plan["runners"], plan["mark"], plan["create"], plan["unusable"]) == ([], [], [], [], [])
    assert plan["left"] == ["a entry 'docker-builders'", "b entry 'builders-b'", "c entry 'app-shell'",
                            "far entry 'no-id'"]


def test_a_legacy_runner_is_created_for_every_host_that_holds_it():
    plan = plan_of(HOSTS, read(legacy_runner(11, "docker-builders", [("a", "online"), ("b", "online")],
                                             tags=("docker", "linux"), maximum_timeout=3600)))
    item = only(plan)
    assert [(holder["host"], holder["name"]) for holder in item["holders"]] == [
        ("a", "docker-builders"), ("b", "builders-b")]
    assert item["attributes"] == {"tags": ["docker", "linux"], "run_untagged": False, "locked": False,
                                  "access_level": "not_protected", "paused": False, "maximum_timeout": 3600}
    assert (item["blocked"], item["new"], item["mark_as"]) == ("", None, "docker-builders" + SUFFIX)
    assert plan["mark"] == plan["create"] == [item]
    assert item["line"] == (
        "legacy runner 11 (docker-builders, group_type of group platform, tags docker, linux): create runner "
        "docker-builders with the same attributes; replace the token of a entry docker-builders, b entry "
        "builders-b; then delete legacy runner 11 once every host using it verified runner docker-builders.")
    # Runner 12 was not read here, so its entry is unusable: GitLab no longer has it.
    assert plan["unusable"] == ["c entry 'app-shell' holds a legacy token of runner 12, which GitLab no longer has; "
                                "give the host a runner with playbooks/site.yml and remove the entry"]
    assert plan["left"] == ["c entry 'app-shell'"]


@pytest.mark.parametrize("case, hosts, legacy, marked, found, blocked", [
    ("no description, no holder to name it after",
     {}, read(), [legacy_runner(21, "", tags=("runnerops-migrating",))], {},
     "it has no description to name the new runner after"),
    ("two candidates carry the name",
     gathered(a=[entry("x", 11, "LEGACY1")]), read(legacy_runner(11, "builders")), [],
     {11: [new_runner(31, "builders"), new_runner(32, "builders")]},
     "runners 31 and 32 already carry the name builders; delete the extra one"),
    ("legacy twins share a description",
     gathered(a=[entry("x", 11, "LEGACY1")], b=[entry("y", 12, "LEGACY2")]),
     read(legacy_runner(11, "builders"), legacy_runner(12, "builders")), [], {},
     "legacy runners 11 and 12 share the description builders; give them distinct descriptions in GitLab first"),
    ("a live manager outside the run would be cut off",
     gathered(a=[entry("x", 11, "LEGACY1")]), read(legacy_runner(11, "builders")), [],
     {11: [new_runner(31, "builders", [("far", RECENT)])]},
     "runner 31 (builders) already serves live managers s_ffffffffffff (IP address 10.0.0.9, version 17.11.0, "
     "last contact 2026-11-30T11:30:00Z) outside this run (in contact within the last 7200 seconds); add the hosts "
     "that already moved to it to target, so its token is reused instead of reset"),
])
def test_a_legacy_runner_is_left_alone_when(case, hosts, legacy, marked, found, blocked):
    plan = plan_of(hosts, legacy, marked, found)
    assert {item["blocked"] for item in plan["runners"]} == {blocked}, case
    assert plan["mark"] == plan["create"] == []
    assert all(item["line"].endswith(f") cannot be migrated: {blocked}.") for item in plan["runners"])
    holders = [f"{holder['host']} entry '{holder['name']}'" for item in plan["runners"] for holder in item["holders"]]
    assert plan["left"] == holders


@pytest.mark.parametrize("case, managers, window, blocked", [
    ("a manager in contact hours ago is not live", [("far", HOURS_AGO)], 7200, False),
    ("a wider window makes it live", [("far", HOURS_AGO)], 6 * 3600 + 60, True),
    ("a manager that never made contact is not live", [("far", None)], 7200, False),
    ("a live manager that is a host of the run does not block", [("b", RECENT)], 7200, False),
])
def test_only_live_managers_outside_the_run_block(case, managers, window, blocked):
    hosts = gathered(a=[entry("x", 11, "LEGACY1")], b=[])
    item = only(plan_of(hosts, read(legacy_runner(11, "builders")), found={11: [new_runner(31, "builders", managers)]},
                        window=window))
    assert bool(item["blocked"]) is blocked, case


def test_a_host_holding_the_new_runner_lends_its_token_so_live_managers_do_not_block():
    hosts = gathered(a=[entry("x", 31, "glrt-moved", obtained="2026-11-01T08:00:00Z")],
                     b=[entry("y", 11, "LEGACY1")])
    found = {11: [new_runner(31, "builders", [("a", RECENT), ("far", RECENT)])]}
    item = only(plan_of(hosts, read(legacy_runner(11, "builders", [("a", "online"), ("b", "online")])), found=found))
    assert (item["blocked"], item["new_holders"], item["unverified"]) == ("", ["a"], [])
    assert _migration.known_tokens(item, host_reports(hosts)) == [{"token": "glrt-moved", "system_id": SID["a"]}]
    assert _migration.known_tokens(item, host_reports(hosts), details=True) == [
        {"token": "glrt-moved", "system_id": SID["a"], "host": "a", "obtained_at": "2026-11-01T08:00:00Z"}]


def test_a_new_runner_of_an_earlier_run_is_reused_and_hosts_already_moved_are_verified_again():
    # a moved to runner 31 in an earlier run but GitLab has not seen it there; b still holds the legacy token.
    hosts = gathered(a=[entry("x", 31, "glrt-moved", obtained="0001-01-01T00:00:00Z")], b=[entry("y", 11, "LEGACY1")])
    item = only(plan_of(hosts, read(legacy_runner(11, "builders" + SUFFIX, tags=("docker", "runnerops-migrating"))),
                        found={11: [new_runner(31, "builders"), new_runner(11, "builders" + SUFFIX)]}))
    assert (item["name"], item["marked"], item["new"]["id"], item["blocked"]) == ("builders", True, 31, "")
    assert item["attributes"]["tags"] == ["docker"]
    assert item["unverified"] == [{"host": "a", "name": "x"}]
    assert item["line"] == (
        f"legacy runner 11 (builders{SUFFIX}, group_type of group platform, tags docker): reuse runner 31 builders "
        "from an earlier run; replace the token of b entry y; verify a, already moved; then delete legacy runner 11 "
        "once every host using it verified runner builders.")
    # Marked already: not marked again; an unknown age is left out.
    plan = plan_of(hosts, read(legacy_runner(11, "builders" + SUFFIX, tags=("runnerops-migrating",))),
                   found={11: [new_runner(31, "builders")]})
    assert (plan["mark"], [each["id"] for each in plan["create"]]) == ([], [11])
    assert _migration.known_tokens(item, host_reports(hosts), details=True) == [
        {"token": "glrt-moved", "system_id": SID["a"], "host": "a"}]


def test_a_runner_of_another_owner_with_the_name_is_not_a_candidate():
    other = {"type": "group", "id": 8, "path": "other"}
    item = only(plan_of(gathered(a=[entry("x", 11, "LEGACY1")]), read(legacy_runner(11, "builders")),
                        found={11: [new_runner(41, "builders", owner=other)]}))
    assert (item["new"], item["blocked"]) == (None, "")


def test_a_marked_runner_no_host_holds_is_planned_for_deletion_only():
    marked = legacy_runner(12, "app-shell" + SUFFIX, tags=("shell", "runnerops-migrating"))
    plan = plan_of(gathered(a=[]), read(), [marked], found={12: [new_runner(32, "app-shell")]})
    item = only(plan)
    assert (item["name"], item["holders"], item["blocked"]) == ("app-shell", [], "")
    assert plan["mark"] == plan["create"] == [] and plan["left"] == []
    assert item["line"] == (f"legacy runner 12 (app-shell{SUFFIX}, group_type of group platform, tags shell): reuse "
                            "runner 32 app-shell from an earlier run; then delete legacy runner 12 once every host "
                            "using it verified runner app-shell.")
    assert _migration.deletions(plan["runners"], [], {"a": SID["a"]}) == {
        "delete": [dict(item, new_id=32)], "kept": []}


def test_marked_runners_come_from_the_first_listing_that_answered():
    hosts = host_reports(gathered(a=[]))
    listing = [legacy_runner(12, "app" + SUFFIX, tags=("runnerops-migrating",))]
    failed = {"failed": False, "msg": "403 Forbidden"}
    skipped = {"skipped": True}
    for marked in ([failed, {"runners": listing}], [{"runners": listing}, skipped]):
        assert [item["id"] for item in _migration.plan(hosts, legacy={"results": []}, marked=marked)["look_for"]] == [12]


def test_legacy_entries_without_id_or_whose_runner_is_gone_are_unusable():
    hosts = gathered(a=[entry("no-id", None, "LEGACY0"), entry("gone", 99, "LEGACY9"), entry("env", None, "$TOKEN"),
                        entry("new", 13, "glrt-x")])
    plan = plan_of(hosts, {"results": [{"item": 99, "runners": []}]})
    assert plan["runners"] == []
    assert plan["unusable"] == [
        "a entry 'no-id' has no runner id; add id = <the runner's id in GitLab> to it and run again",
        "a entry 'gone' holds a legacy token of runner 99, which GitLab no longer has; give the host a runner with "
        "playbooks/site.yml and remove the entry"]
    assert plan["left"] == ["a entry 'no-id'", "a entry 'gone'"]


def test_the_instance_and_projects_are_named_in_the_plan():
    assert _migration.owner_label({"type": "instance", "id": None}) == "the instance"
    assert _migration.owner_label({"type": "project", "id": 4, "path": "platform/app"}) == "project platform/app"
    assert _migration.owner_label({"type": "group", "id": 4, "path": None}) == "group 4"


def created(item, runner_id, token="glrt-new", source="created", obtained="2026-11-30T12:00:01.5Z", expires=None):
    return {"item": item, "runner": {"id": runner_id, "description": item["name"]}, "token": token,
            "token_source": source, "token_obtained_at": obtained, "token_expires_at": expires, "changed": True}


def test_created_reports_hold_no_token():
    item = only(plan_of(HOSTS, read(legacy_runner(11, "docker-builders"))))
    reports = _migration.created_reports({"results": [created(item, 31), {"skipped": True, "item": item}]})
    assert reports == [{"id": 11, "name": "docker-builders", "description": "docker-builders", "new_id": 31,
                        "new_description": "docker-builders", "token_source": "created", "hosts": ["a", "b"],
                        "line": "docker-builders: runner 31 (token created) replaces legacy runner 11 on a, b"}]
    assert "glrt-" not in str(reports)


def test_a_host_writes_the_new_token_with_its_own_age_and_verifies_it():
    hosts = dict(HOSTS)
    hosts["b"] = {"system_id": SID["b"], "runners": [
        entry("builders-b", 11, "LEGACYshared01", url="https://ci.internal", settings={"tls-ca-file": "/ca.pem"}),
        entry("other", 11, "LEGACYshared01")]}
    plan = plan_of(dict(hosts, b={"system_id": SID["b"], "runners": hosts["b"]["runners"][:1]}),
                   read(legacy_runner(11, "docker-builders")))
    [report_b] = [report for report in host_reports(hosts) if report.host == "b"]
    results = {"results": [created(plan["create"][0], 31, expires="2027-01-01T00:00:00Z")]}
    # Only the entries of the plan (a new "other" entry appeared after planning) get the token.
    changes = _migration.host_changes(report_b, plan["runners"], results, url="https://gitlab.example.com")
    assert changes == {
        "entries": [{"name": "builders-b", "id": 31, "token": "glrt-new", "token_obtained_at": "2026-11-30T12:00:01.5Z",
                     "token_expires_at": "2027-01-01T00:00:00Z"}],
        "verify": [{"name": "builders-b", "id": 31, "token": "glrt-new", "verify_url": "https://ci.internal/api/v4/runners/verify",
                    "ca_file": "/ca.pem"}]}
    [report_c] = [report for report in host_reports(hosts) if report.host == "c"]
    assert _migration.host_changes(report_c, plan["runners"], results) == {"entries": [], "verify": []}
    # A host already carrying the token writes nothing.
    lent = created(plan["create"][0], 31, token="LEGACYshared01")
    again = _migration.host_changes(report_b, plan["runners"], {"results": [lent]})
    assert again == {"entries": [], "verify": []}


@pytest.mark.parametrize("case, result_obtained, lender_obtained, expected", [
    ("the module says when", "2026-11-02T00:00:00Z", "2026-11-01T08:00:00Z", "2026-11-02T00:00:00Z"),
    ("the lender wrote it", None, "2026-11-01T08:00:00Z", "2026-11-01T08:00:00Z"),
    ("nobody knows: now", None, "0001-01-01T00:00:00Z", "2026-11-30T12:00:00Z"),
])
def test_a_lent_token_keeps_its_age(case, result_obtained, lender_obtained, expected):
    hosts = gathered(a=[entry("x", 31, "glrt-moved", obtained=lender_obtained)], b=[entry("y", 11, "LEGACY1")])
    plan = plan_of(hosts, read(legacy_runner(11, "builders", [("a", "online"), ("b", "online")])),
                   found={11: [new_runner(31, "builders", [("a", RECENT)])]})
    reports = host_reports(hosts)
    result = created(plan["create"][0], 31, token="glrt-moved", source="existing", obtained=result_obtained)
    changes = _migration.host_changes(reports[1], plan["runners"], [result], lenders_of=lambda item: reports, now=NOW)
    assert [written["token_obtained_at"] for written in changes["entries"]] == [expected], case
    assert _migration.host_changes(reports[0], plan["runners"], [result]) == {"entries": [], "verify": []}


@pytest.mark.parametrize("case, legacy_managers, new_managers, run, new_id, kept", [
    ("every holder moved", [("a", "online"), ("b", "online")], [], ["a", "b"], 31, None),
    ("a holder failed during the run", [("a", "online"), ("b", "online")], [], ["a"], 31,
     f"host b (it did not move over), manager {SID['b']} (online)"),
    ("a manager outside the run has not moved", [("a", "online"), ("b", "online"), ("far", "offline")], [],
     ["a", "b"], 31, "manager s_ffffffffffff (offline)"),
    ("a manager outside the run already moved", [("a", "online"), ("b", "online"), ("far", "online")],
     [("far", HOURS_AGO)], ["a", "b"], 31, None),
    ("a stale manager is gone", [("a", "online"), ("b", "online"), ("far", "stale")], [], ["a", "b"], 31, None),
    ("nothing replaces it", [("a", "online"), ("b", "online")], [], ["a", "b"], None, "no runner builders replaces it yet"),
])
def test_a_legacy_runner_is_deleted_only_when_every_host_left_it(
        case, legacy_managers, new_managers, run, new_id, kept):
    hosts = gathered(a=[entry("x", 11, "LEGACY1")], b=[entry("y", 11, "LEGACY1")])
    found = {11: [new_runner(31, "builders", new_managers)]} if new_managers else {}
    plan = plan_of(hosts, read(legacy_runner(11, "builders", legacy_managers)), found=found)
    created_reports = [{"id": 11, "new_id": new_id}] if new_id else []
    decided = _migration.deletions(plan["runners"], created_reports, {host: SID[host] for host in run})
    if kept:
        assert decided["delete"] == [], case
        assert decided["kept"] == [f"legacy runner 11 (builders) kept, still used by {kept}"], case
    else:
        assert ([item["id"] for item in decided["delete"]], decided["delete"][0]["new_id"]) == ([11], 31), case
        assert decided["kept"] == [], case


def test_blocked_runners_are_neither_deleted_nor_reported_kept():
    plan = plan_of(gathered(a=[entry("x", 11, "LEGACY1")]), read(legacy_runner(11, "")), [])
    assert only(plan)["name"] == "x" and only(plan)["blocked"] == ""
    plan = plan_of({}, read(), [legacy_runner(21, "", tags=("runnerops-migrating",))])
    assert _migration.deletions(plan["runners"], [], {}) == {"delete": [], "kept": []}


class HostVars(dict):
    """Stands in for Ansible's hostvars: a mapping of host to its variables."""


def test_filters_read_hostvars_and_leave_failed_hosts_out():
    hostvars = HostVars({host: {"__gitlab_runner_gathered": result} for host, result in HOSTS.items()})
    hostvars["down"] = {"__gitlab_runner_gathered": {"failed": True, "runners": [entry("z", 11, "LEGACY1")]}}
    hosts = ["a", "b", "c", "down"]
    assert filters.migration_plan(hosts, hostvars)["read"] == [11, 12]
    legacy = read(legacy_runner(11, "docker-builders", [("a", "online"), ("b", "online")]),
                  legacy_runner(12, "app-shell", [("c", "online")]))
    staged = filters.migration_plan(hosts, hostvars, legacy=legacy, marked=[{"runners": []}])
    assert [item["name"] for item in staged["look_for"]] == ["docker-builders", "app-shell"]
    plan = filters.migration_plan(hosts, hostvars, legacy=legacy, marked=[{"runners": []}],
                                  existing=lookups(staged, {}), live_window="3600")
    assert [item["id"] for item in plan["create"]] == [11, 12]
    results = {"results": [created(plan["create"][0], 31), created(plan["create"][1], 32, token="glrt-shell")]}
    changes = filters.migration_host_changes(plan, results, "c", hostvars, url="https://gitlab.example.com")
    assert [(written["name"], written["token"]) for written in changes["entries"]] == [("app-shell", "glrt-shell")]
    new_runners = filters.migration_created(results)
    assert [report["new_id"] for report in new_runners] == [31, 32]
    decided = filters.migration_deletions(plan, new_runners, ["a", "c"], hostvars)
    assert [item["id"] for item in decided["delete"]] == [12]
    assert decided["kept"] == ["legacy runner 11 (docker-builders) kept, still used by host b (it did not move over), "
                               f"manager {SID['b']} (online)"]
    assert filters.migration_known_tokens(plan["create"][0], hostvars, details="true") == []
    with pytest.raises(Exception, match="live_window"):
        filters.migration_plan(hosts, hostvars, live_window="soon")
