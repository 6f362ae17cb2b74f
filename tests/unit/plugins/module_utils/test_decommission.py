# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What decommissioning does to each entry of a host, what the fleet holds, and which managers are stale."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils._decommission import (
    UNREGISTER_HINT, fleet_view, host_plan, named_for_host, plan_entries, runners_by_id, stale_report)

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
HOST = "runner-c"
SYSTEM_ID = "s_00000000000c"


def ago(hours):
    return (NOW - datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def manager(system_id, hours=0.1, status="online", **details):
    return dict({"system_id": system_id, "contacted_at": ago(hours), "status": status}, **details)


def runner(runner_id, description, managers=(), runner_type="project_type", owner_id=7):
    owner_type = {"instance_type": "instance", "group_type": "group", "project_type": "project"}[runner_type]
    return {"id": runner_id, "description": description, "runner_type": runner_type,
            "owner": {"type": owner_type, "id": owner_id if owner_type != "instance" else None},
            "managers": list(managers)}


def gathered(*entries, system_id=SYSTEM_ID):
    return {"system_id": system_id, "system_id_source": "file",
            "runners": [{"name": name, "id": runner_id, "token": f"glrt-t1_{name}Token", "url": "https://gitlab"}
                        for name, runner_id in entries]}


def read(*runners):
    """``gitlab_runner_info`` loop results, one per runner id."""
    return [{"item": item["id"], "changed": False, "runners": [item]} for item in runners]


OWN = manager(SYSTEM_ID)


@pytest.mark.parametrize("entry, runners, expected", [
    pytest.param(("build-runner-c", 34), [runner(34, "build-runner-c", [OWN])],
                 {"delete": True, "unregister": False,
                  "fate": "per-host runner 34 (build-runner-c): delete the runner (and its managers)"},
                 id="per-host runner, only this host"),
    pytest.param(("runner-c", 35), [runner(35, "runner-c", [OWN], runner_type="instance_type")],
                 {"delete": True, "unregister": False,
                  "fate": "per-host runner 35 (runner-c): delete the runner (and its managers)"},
                 id="runner named just the host"),
    pytest.param(("build-runner-c", 34),
                 [runner(34, "build-runner-c", [
                     OWN, manager("s_0000000000ff", hours=30, status="offline", ip_address="10.0.0.9",
                                  version="17.11.0")])],
                 {"delete": False, "unregister": True,
                  "fate": "runner 34 (build-runner-c) is named for this host but managers s_0000000000ff (IP address "
                          f"10.0.0.9, version 17.11.0, last contact {ago(30)}) use it too: unregister this manager "
                          "only"},
                 id="per-host runner, another manager seen yesterday"),
    pytest.param(("build-runner-c", 34),
                 [runner(34, "build-runner-c", [OWN, manager("s_0000000000ff", hours=24 * 10, status="stale")])],
                 {"delete": True, "unregister": False,
                  "fate": "per-host runner 34 (build-runner-c): delete the runner (and its managers)"},
                 id="per-host runner, the other manager is stale"),
    pytest.param(("build-runner-c", 34), [runner(34, "build-runner-c", [])],
                 {"delete": True, "unregister": False,
                  "fate": "per-host runner 34 (build-runner-c): delete the runner (and its managers)"},
                 id="per-host runner without managers"),
    pytest.param(("shared-docker", 31),
                 [runner(31, "shared-docker", [OWN, manager("s_0000000000aa")], runner_type="group_type")],
                 {"delete": False, "unregister": True,
                  "fate": "shared runner 31 (shared-docker): unregister this manager"},
                 id="shared runner"),
    pytest.param(("shared-docker", 31), [runner(31, "shared-docker", [OWN])],
                 {"delete": False, "unregister": True,
                  "fate": "shared runner 31 (shared-docker): unregister this manager"},
                 id="shared runner only this host uses stays in GitLab"),
    pytest.param(("build-runner-cc", 36), [runner(36, "build-runner-cc", [OWN])],
                 {"delete": False, "unregister": True,
                  "fate": "shared runner 36 (build-runner-cc): unregister this manager"},
                 id="named for another host whose name ends like this one"),
    pytest.param(("legacy", None), [],
                 {"delete": False, "unregister": True, "fate": "no runner id; only the entry and its manager go"},
                 id="entry without id"),
    pytest.param(("build-runner-c", 34), [],
                 {"delete": False, "unregister": False,
                  "fate": "runner 34 is no longer in GitLab; only the entry goes"},
                 id="runner gone from GitLab"),
])
def test_plan_entries(entry, runners, expected):
    system_id, plans = plan_entries(HOST, gathered(entry), runners_by_id(read(*runners)), now=NOW)
    assert system_id == SYSTEM_ID
    assert len(plans) == 1
    assert {"delete": plans[0].delete, "unregister": plans[0].unregister, "fate": plans[0].fate} == expected


def test_host_without_system_id_keeps_a_runner_others_use_recently():
    # Without its own system id the host cannot tell its manager apart, so every recent manager counts.
    _system_id, plans = plan_entries(HOST, gathered(("build-runner-c", 34), system_id=None),
                                     runners_by_id(read(runner(34, "build-runner-c", [OWN]))), now=NOW)
    assert (plans[0].delete, plans[0].unregister) == (False, True)


@pytest.mark.parametrize("description, host, expected", [
    ("runner-c", "runner-c", True),
    ("build-runner-c", "runner-c", True),
    ("build-runner-cc", "runner-c", False),
    ("buildrunner-c", "runner-c", False),
    ("", "runner-c", False),
    (None, "runner-c", False),
    ("anything", "", False),
])
def test_named_for_host(description, host, expected):
    assert named_for_host(description, host) is expected


def test_host_plan_wires_every_step_and_holds_no_token():
    runners = runners_by_id(read(
        runner(31, "shared-docker", [OWN, manager("s_0000000000aa")], runner_type="group_type", owner_id=5),
        runner(34, "build-runner-c", [OWN], runner_type="project_type", owner_id=9),
        runner(35, "runner-c", [OWN], runner_type="group_type", owner_id=5)))
    plan = host_plan(HOST, gathered(("shared-docker", 31), ("build-runner-c", 34), ("runner-c", 35), ("legacy", None),
                                    ("gone", 99)), runners, now=NOW)
    assert plan == {
        "system_id": SYSTEM_ID,
        "lines": [
            "entry 'shared-docker': shared runner 31 (shared-docker): unregister this manager",
            "entry 'build-runner-c': per-host runner 34 (build-runner-c): delete the runner (and its managers)",
            "entry 'runner-c': per-host runner 35 (runner-c): delete the runner (and its managers)",
            "entry 'legacy': no runner id; only the entry and its manager go",
            "entry 'gone': runner 99 is no longer in GitLab; only the entry goes",
        ],
        "unregister": True,
        "kept": [{"name": "build-runner-c"}, {"name": "runner-c"}, {"name": "gone"}],
        "delete": [
            {"id": 34, "name": "build-runner-c", "runner_type": "project_type", "group": None, "project": 9},
            {"id": 35, "name": "runner-c", "runner_type": "group_type", "group": 5, "project": None},
        ],
        "remove": True,
        "runner_ids": [31],
    }
    assert "glrt-" not in repr(plan)


@pytest.mark.parametrize("entries, unregister, remove", [
    pytest.param([], False, False, id="no entries"),
    pytest.param([("shared-docker", 31)], True, False, id="only shared"),
    pytest.param([("build-runner-c", 34)], False, True, id="only per-host"),
])
def test_host_plan_steps_that_run(entries, unregister, remove):
    runners = runners_by_id(read(runner(31, "shared-docker", [OWN]), runner(34, "build-runner-c", [OWN])))
    plan = host_plan(HOST, gathered(*entries), runners, now=NOW)
    assert (plan["unregister"], plan["remove"]) == (unregister, remove)
    if not entries:
        assert plan["lines"] == ["no runner entries"]


@pytest.mark.parametrize("results, expected", [
    pytest.param([], {}, id="nothing read"),
    pytest.param([{"skipped": True, "runners": [{"id": 1}]}], {}, id="skipped"),
    pytest.param([{"failed": True, "msg": "403"}], {}, id="failed"),
    pytest.param([{"item": 1, "runners": []}], {}, id="runner not found"),
    pytest.param([{"item": 1, "runners": [{"id": 1, "description": "a"}]},
                  {"item": 2, "runners": [{"id": 2, "description": "b"}, "junk"]}],
                 {1: {"id": 1, "description": "a"}, 2: {"id": 2, "description": "b"}}, id="two runners"),
])
def test_runners_by_id(results, expected):
    assert runners_by_id(results) == expected


def test_fleet_view():
    fleet = fleet_view(
        {"runner-a": gathered(("shared-docker", 31), ("build-runner-a", 32), system_id="s_a"),
         "runner-b": gathered(("shared-docker", 31), ("legacy", None), system_id="s_b"),
         "runner-d": {"unreachable": True, "msg": "ssh: connection refused"},
         "runner-e": {"failed": False, "msg": "config.toml unreadable"}},
        {"runner-c": {"system_id": "s_c", "runner_ids": [31, 40]},
         "runner-f": {"system_id": None, "runner_ids": [41]}})
    assert fleet == {"system_ids": ["s_a", "s_b"], "runner_ids": [31, 32, 40, 41], "unread": ["runner-d", "runner-e"],
                     "leaving": [{"runner_id": 31, "system_id": "s_c"}, {"runner_id": 40, "system_id": "s_c"}]}


GONE = manager("s_0000000dead0", hours=72, status="offline", ip_address="10.0.0.4", version="17.10.0")
FLEET = {"system_ids": ["s_a", "s_b"], "runner_ids": [31, 32], "unread": [],
         "leaving": [{"runner_id": 31, "system_id": "s_c"}]}
STALE_LINE = ("shared-docker (runner 31): offline manager s_0000000dead0 (IP address 10.0.0.4, version 17.10.0, "
              f"last contact {ago(72)}) belongs to no host of the fleet")


@pytest.mark.parametrize("runners, fleet, expected", [
    pytest.param([runner(31, "shared-docker", [manager("s_a"), manager("s_b")])], FLEET,
                 ["no stale runner managers"], id="every manager is a host of the fleet"),
    pytest.param([runner(31, "shared-docker", [manager("s_a"), manager("s_c"), GONE])], FLEET,
                 [STALE_LINE, UNREGISTER_HINT], id="one host gone, one leaving in this run"),
    pytest.param([runner(32, "build-runner-a", [manager("s_a"), manager("s_c")])], FLEET,
                 ["build-runner-a (runner 32): online manager s_c (last contact "
                  f"{ago(0.1)}) belongs to no host of the fleet", UNREGISTER_HINT],
                 id="a leaving host's manager on a runner it did not carry"),
    pytest.param([runner(31, "shared-docker", [GONE])], dict(FLEET, unread=["runner-d"]),
                 [STALE_LINE, "could not read runner-d, so some of these may be theirs", UNREGISTER_HINT],
                 id="stale manager and an unread host"),
    pytest.param([runner(31, "shared-docker", [manager("s_a")])], dict(FLEET, unread=["runner-d", "runner-e"]),
                 ["no stale runner managers found; could not read runner-d, runner-e, so the runners only they carry "
                  "were not checked"], id="nothing stale but unread hosts"),
    pytest.param([dict(runner(31, "shared-docker"), managers=None)], FLEET, ["no stale runner managers"],
                 id="GitLab without managers"),
    pytest.param([], FLEET, ["no stale runner managers"], id="nothing read"),
])
def test_stale_report(runners, fleet, expected):
    assert stale_report(read(*runners), fleet) == expected


def test_stale_report_names_each_runner_once_in_id_order():
    results = read(runner(32, "build-runner-a", [GONE]), runner(31, "shared-docker", [GONE]))
    lines = stale_report(results + results, FLEET)
    assert [line.split(":")[0] for line in lines[:-1]] == ["shared-docker (runner 31)", "build-runner-a (runner 32)"]
