# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Central token rotation's decisions: which runners are due, which may be reset, what each host writes."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.filter import rotation as filters
from ansible_collections.runnerops.gitlab.plugins.module_utils import _rotation
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import host_report, host_reports

NOW = "2026-03-01T12:00:00+00:00"
WEEK = 7 * 86400
ZERO = "0001-01-01T00:00:00Z"
SYSTEM_IDS = {"a": "s_00000000000a", "b": "s_00000000000b", "c": "s_00000000000c"}


def entry(name, runner_id, token, expires=None, url="https://gitlab.example.com", **settings):
    return {"name": name, "url": url, "id": runner_id, "token": token, "token_obtained_at": "2026-02-01T00:00:00Z",
            "token_expires_at": expires, "executor": "shell", "settings": settings}


def gathered(*entries, system_id=None):
    return {"system_id": system_id, "system_id_source": "file", "runners": list(entries)}


def fleet(**hosts):
    """``{host: gathered}`` with each host's own system id."""
    return {host: gathered(*entries, system_id=SYSTEM_IDS[host]) for host, entries in hosts.items()}


def due(hosts, within=WEEK, rotate_all=False):
    return {runner["id"]: runner["reason"]
            for runner in _rotation.due_runners(host_reports(hosts), NOW, within, rotate_all)}


@pytest.mark.parametrize("hosts, within, rotate_all, expected", [
    pytest.param({"a": [entry("x", 1, "glrt-one", "2026-03-03T12:00:00Z")]}, WEEK, False,
                 {1: "the token expires 2026-03-03T12:00:00Z"}, id="expires inside the window"),
    pytest.param({"a": [entry("x", 1, "glrt-one", "2026-03-30T12:00:00Z")]}, WEEK, False, {1: ""},
                 id="expires outside the window"),
    pytest.param({"a": [entry("x", 1, "glrt-one", "2026-03-08T12:00:00Z")]}, WEEK, False,
                 {1: "the token expires 2026-03-08T12:00:00Z"}, id="expires at the edge of the window"),
    pytest.param({"a": [entry("x", 1, "glrt-one", "2026-03-03T12:00:00Z")]}, 3600, False, {1: ""},
                 id="a shorter window"),
    pytest.param({"a": [entry("x", 1, "glrt-one", "2026-02-03T12:00:00Z")]}, WEEK, False,
                 {1: "the token expires 2026-02-03T12:00:00Z"}, id="already expired"),
    pytest.param({"a": [entry("x", 1, "glrt-one", ZERO)]}, WEEK, False, {1: ""}, id="zero expiry never expires"),
    pytest.param({"a": [entry("x", 1, "glrt-one", None)]}, WEEK, False, {1: ""}, id="no expiry"),
    pytest.param({"a": [entry("x", 1, "glrt-one", "2026-03-30T00:00:00Z")],
                  "b": [entry("x", 1, "glrt-one", "2026-03-02T00:00:00Z")],
                  "c": [entry("x", 1, "glrt-one", "2026-03-04T00:00:00.123456789Z")]}, WEEK, False,
                 {1: "the token expires 2026-03-02T00:00:00Z"}, id="the earliest copy counts"),
    pytest.param({"a": [entry("x", 1, "glrt-new", "2026-03-30T00:00:00Z")],
                  "b": [entry("x", 1, "glrt-old", "2026-03-02T00:00:00Z")]}, WEEK, False,
                 {1: _rotation.REASON_DIFFERENT}, id="hosts disagree on the token"),
    pytest.param({"a": [entry("x", 1, "glrt-one", ZERO), entry("y", 2, "glrt-two", "2026-03-30T00:00:00Z")]},
                 WEEK, True, {1: _rotation.REASON_ALL, 2: _rotation.REASON_ALL}, id="rotate_all"),
    pytest.param({"a": [entry("x", 1, "legacyToken", "2026-03-02T00:00:00Z"),
                        entry("y", None, "glrt-noid", "2026-03-02T00:00:00Z")]}, WEEK, True, {},
                 id="legacy tokens and entries without an id are not this playbook's"),
])
def test_due(hosts, within, rotate_all, expected):
    assert due(fleet(**hosts), within, rotate_all) == expected


def test_due_groups_holders_by_runner_without_tokens():
    runners = _rotation.due_runners(host_reports(fleet(
        b=[entry("shared", 7, "glrt-s", "2026-03-02T00:00:00Z")],
        a=[entry("shared", 7, "glrt-s", ZERO), entry("own-a", 3, "glrt-a")])), NOW, WEEK)
    assert runners == [
        {"id": 3, "name": "own-a", "reason": "",
         "holders": [{"host": "a", "system_id": SYSTEM_IDS["a"], "name": "own-a", "expires": None}]},
        {"id": 7, "name": "shared", "reason": "the token expires 2026-03-02T00:00:00Z",
         "holders": [{"host": "a", "system_id": SYSTEM_IDS["a"], "name": "shared", "expires": None},
                     {"host": "b", "system_id": SYSTEM_IDS["b"], "name": "shared",
                      "expires": "2026-03-02T00:00:00Z"}]},
    ]
    assert "glrt-" not in repr(runners)


@pytest.mark.parametrize("now, within", [("yesterday", WEEK), (NOW, "a week"), (NOW, -1)])
def test_due_refuses_what_it_cannot_read(now, within):
    with pytest.raises(RunnerOpsError):
        _rotation.due_runners([], now, within)


def manager(system_id, minutes_ago, **extra):
    minutes = f"{12 * 60 - minutes_ago:04d}"
    hours, rest = divmod(int(minutes), 60)
    return dict({"system_id": system_id, "contacted_at": f"2026-03-01T{hours:02d}:{rest:02d}:00.000Z"}, **extra)


def runner(runner_id=7, reason="the token expires 2026-03-02T00:00:00Z", hosts=("a", "b")):
    return {"id": runner_id, "name": "shared", "reason": reason,
            "holders": [{"host": host, "system_id": SYSTEM_IDS[host], "name": "shared",
                         "expires": "2026-03-02T00:00:00Z"} for host in hosts]}


def details(*managers, description="shared"):
    return {"id": 7, "description": description, "runner_type": "group_type",
            "owner": {"type": "group", "id": 3, "path": "platform"}, "managers": list(managers)}


RUN = [SYSTEM_IDS["a"], SYSTEM_IDS["b"]]


@pytest.mark.parametrize("item, found, state, outside", [
    pytest.param(runner(reason=""), details(manager("s_elsewhere", 5)), "not_due", [],
                 id="not due, whoever is live"),
    pytest.param(runner(), None, "gone", [], id="GitLab no longer has the runner"),
    pytest.param(runner(), details(description=""), "unnamed", [], id="the runner has no description"),
    pytest.param(runner(), details(manager(SYSTEM_IDS["a"], 1), manager(SYSTEM_IDS["b"], 3)), "rotate", [],
                 id="every live manager is a host of the run"),
    pytest.param(runner(), details(manager(SYSTEM_IDS["a"], 1), manager("s_elsewhere", 30)), "blocked",
                 ["s_elsewhere"], id="a live manager outside the run"),
    pytest.param(runner(), details(manager("s_elsewhere", 121)), "rotate", [],
                 id="a manager silent for longer than the window"),
    pytest.param(runner(), details({"system_id": "s_never", "contacted_at": None}), "rotate", [],
                 id="a manager that never made contact"),
    pytest.param(runner(reason=_rotation.REASON_ALL), details(manager("s_elsewhere", 30)), "blocked",
                 ["s_elsewhere"], id="rotate_all does not lift the block"),
])
def test_plan(item, found, state, outside):
    [planned] = _rotation.plan([item], {7: found}, RUN, NOW)
    assert (planned["state"], planned["outside"]) == (state, outside)
    assert planned["label"] == "shared" or state == "unnamed"


def test_plan_window_is_the_callers():
    found = {7: details(manager("s_elsewhere", 30))}
    assert _rotation.plan([runner()], found, RUN, NOW, window=600)[0]["state"] == "rotate"
    assert _rotation.plan([runner()], found, RUN, NOW, window=7200)[0]["state"] == "blocked"


def test_blocked_message_names_the_managers_and_the_way_out():
    found = {7: details(manager(SYSTEM_IDS["a"], 1),
                        manager("s_elsewhere", 30, ip_address="10.1.2.3", version="17.11.0"))}
    [planned] = _rotation.plan([runner()], found, RUN, NOW)
    assert planned["message"].startswith(
        "shared (runner 7) on a, b: not rotated although the token expires 2026-03-02T00:00:00Z: managers "
        "s_elsewhere (IP address 10.1.2.3, version 17.11.0, last contact 2026-03-01T11:30:00.000Z) contacted GitLab "
        "within the last 7200 seconds from hosts outside this run")
    for advice in ("Add their hosts to target", "silent for rotate_live_manager_window (7200 seconds)",
                   "rotate_all does not override this"):
        assert advice in planned["message"]
    assert SYSTEM_IDS["a"] not in planned["message"]


@pytest.mark.parametrize("item, found, message", [
    (runner(), details(), "shared (runner 7) on a, b: rotate, because the token expires 2026-03-02T00:00:00Z"),
    (runner(reason=""), details(), "shared (runner 7) on a, b: not due (expires 2026-03-02T00:00:00Z)"),
    (runner(), None, "shared (runner 7) on a, b: GitLab no longer has this runner; give the hosts a runner with "
                     "playbooks/site.yml"),
    (runner(), details(description=None), "shared (runner 7) on a, b: not rotated: the runner has no description; "
                                          "give it one in GitLab"),
])
def test_plan_messages(item, found, message):
    assert _rotation.plan([item], {7: found}, RUN, NOW)[0]["message"] == message


def test_plan_reads_what_gitlab_returned_per_due_runner():
    results = [{"item": {"id": 7}, "runners": [details()]}, {"item": {"id": 8}, "runners": []},
               {"item": {"id": 9}, "skipped": True}]
    assert _rotation.details_by_id(results) == {7: details(), 8: None}


def reset(runner_id, token, obtained="2026-03-01T12:00:05.123456Z", expires="2026-03-31T12:00:05.000Z"):
    return {"item": {"id": runner_id, "label": "shared"}, "token": token, "token_source": "reset",
            "token_obtained_at": obtained, "token_expires_at": expires,
            "runner": {"id": runner_id, "description": "shared"}}


def planned(runner_id, state):
    return {"id": runner_id, "state": state, "label": f"runner-{runner_id}"}


FF = {"feature_flags": {"FF_DISABLE_AUTOMATIC_TOKEN_ROTATION": True}}


@pytest.mark.parametrize("entries, items, resets, settings, expected_entries, expected_verify", [
    pytest.param(
        [entry("shared", 7, "glrt-old", **{"tls-ca-file": "/etc/ca.pem"})], [planned(7, "rotate")],
        [reset(7, "glrt-new")], FF,
        [{"name": "shared", "settings": FF, "id": 7, "token": "glrt-new",
          "token_obtained_at": "2026-03-01T12:00:05.123456Z", "token_expires_at": "2026-03-31T12:00:05.000Z"}],
        [{"name": "shared", "id": 7, "token": "glrt-new", "verify_url": "https://gitlab.example.com/api/v4/runners/verify",
          "ca_file": "/etc/ca.pem"}],
        id="a reset token with the age GitLab gave it"),
    pytest.param(
        [entry("shared", 7, "glrt-old", url=None)], [planned(7, "rotate")], [reset(7, "glrt-new", expires=None)],
        {},
        [{"name": "shared", "settings": {}, "id": 7, "token": "glrt-new",
          "token_obtained_at": "2026-03-01T12:00:05.123456Z"}],
        [{"name": "shared", "id": 7, "token": "glrt-new", "verify_url": "https://default.example.com/api/v4/runners/verify",
          "ca_file": None}],
        id="a token that never expires, the play's URL"),
    pytest.param(
        [entry("own", 3, "glrt-own")], [planned(3, "not_due")], [], FF,
        [{"name": "own", "settings": FF}], [], id="not due: only the settings"),
    pytest.param(
        [entry("own", 3, "glrt-own")], [planned(3, "not_due")], [], {}, [], [], id="not due, no settings: nothing"),
    pytest.param(
        [entry("a", 4, "glrt-a"), entry("b", 5, "glrt-b"), entry("c", 6, "glrt-c")],
        [planned(4, "blocked"), planned(5, "gone"), planned(6, "unnamed")], [], FF, [], [],
        id="runners left alone are not touched"),
    pytest.param(
        [entry("shared", 7, "glrt-old")], [planned(7, "rotate")], [{"item": {"id": 7}, "skipped": True}], FF,
        [{"name": "shared", "settings": FF}], [], id="check mode: no reset, the settings only"),
    pytest.param(
        [entry("legacy", 8, "legacyToken"), entry("noid", None, "glrt-x")], [], [], FF, [], [],
        id="entries this playbook does not rotate"),
])
def test_host_writes(entries, items, resets, settings, expected_entries, expected_verify):
    report = host_report("a", gathered(*entries, system_id=SYSTEM_IDS["a"]))
    writes = _rotation.host_writes(report, items, resets, settings, "https://default.example.com")
    assert writes == {"entries": expected_entries, "verify": expected_verify}


def test_reset_reports_hold_no_token():
    reports = _rotation.reset_reports([reset(7, "glrt-new"), {"item": {"id": 8}, "skipped": True},
                                       reset(9, "glrt-other", obtained=None, expires=ZERO)])
    assert "glrt-" not in repr(reports)
    assert [report["message"] for report in reports] == [
        "shared: runner 7 token reset, expires 2026-03-31T12:00:05Z, obtained 2026-03-01T12:00:05.123456Z",
        "shared: runner 9 token reset, expires never"]


@pytest.mark.parametrize("states, check_mode, expected", [
    ({1: "rotate", 2: "not_due"}, False,
     {"left": [], "done": "Rotated runner-1; not due: runner-2.", "failure": ""}),
    ({}, False, {"left": [], "done": "Rotated nothing; not due: none.", "failure": ""}),
    ({1: "rotate"}, True,
     {"left": [], "done": "Check mode: nothing changed; would rotate runner-1; not due: none.", "failure": ""}),
    ({1: "blocked", 2: "gone", 3: "unnamed", 4: "rotate"}, False,
     {"left": ["runner-1", "runner-2", "runner-3"], "done": "Rotated runner-4; not due: none.",
      "failure": "Not rotated: runner-1, runner-2, runner-3 (see the plan above)."}),
])
def test_summary(states, check_mode, expected):
    assert _rotation.summary([planned(key, state) for key, state in states.items()], check_mode) == expected


class HostVars(dict):
    """Stands in for Ansible's hostvars."""


def test_filters_read_hostvars_and_the_run_system_ids():
    hostvars = HostVars({
        "a": {"__gitlab_runner_gathered": gathered(entry("shared", 7, "glrt-s", "2026-03-02T00:00:00Z"),
                                                   system_id=SYSTEM_IDS["a"])},
        "b": {"__gitlab_runner_gathered": {"failed": True, "msg": "unreadable"}},
    })
    runners = filters.rotation_due(["a", "b"], hostvars, NOW, str(WEEK), rotate_all="false")
    assert [item["reason"] for item in runners] == ["the token expires 2026-03-02T00:00:00Z"]
    read = [{"item": {"id": 7}, "runners": [details(manager(SYSTEM_IDS["a"], 1), manager(SYSTEM_IDS["b"], 2))]}]
    # b's gather failed: it gets no new token, so its manager counts as outside the run.
    [item] = filters.rotation_plan(runners, read, ["a", "b"], hostvars, NOW, window="7200")
    assert (item["state"], item["outside"]) == ("blocked", [SYSTEM_IDS["b"]])
    writes = filters.rotation_writes([dict(item, state="rotate")], [reset(7, "glrt-new")],
                                     hostvars["a"]["__gitlab_runner_gathered"], host="a", settings=FF)
    assert writes["verify"][0]["token"] == "glrt-new"
    assert filters.rotation_summary([item], "true")["left"] == ["shared"]
    with pytest.raises(AnsibleFilterError, match="Planning the token rotation failed"):
        filters.rotation_due(["a"], hostvars, "soon", WEEK)
