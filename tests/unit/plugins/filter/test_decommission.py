# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decommission filters as the playbook calls them: hostvars and registered results in, plain data out."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.filter.decommission import FilterModule

FILTERS = FilterModule().filters()


def test_every_filter_has_its_documentation(request):
    folder = request.config.rootpath / "plugins" / "filter"
    assert sorted(FILTERS) == ["decommission_fleet", "decommission_plan", "decommission_stale"]
    assert all((folder / f"{name}.yml").is_file() for name in FILTERS)


def test_plan_refuses_what_is_not_a_gathered_result():
    with pytest.raises(AnsibleFilterError, match="runner_config_info result of runner-c"):
        FILTERS["decommission_plan"]("", "runner-c", [])


def test_plan_from_registered_results():
    gathered = {"system_id": "s_c", "runners": [{"name": "shared", "id": 31, "token": "glrt-t1_secret"}]}
    results = [{"item": 31, "runners": [{"id": 31, "description": "shared", "runner_type": "instance_type",
                                         "managers": []}]}]
    plan = FILTERS["decommission_plan"](gathered, "runner-c", results)
    assert plan["lines"] == ["entry 'shared': shared runner 31 (shared): unregister this manager"]
    assert plan["runner_ids"] == [31]
    assert "glrt-" not in repr(plan)


def test_fleet_from_hostvars():
    hostvars = {
        # Decommissioned in this run: its plan counts, not what it holds.
        "runner-c": {"__decommission_done": True, "__decommission_plan": {"system_id": "s_c", "runner_ids": [31]},
                     "__decommission_fleet_host": {"system_id": "s_c", "runners": [{"name": "x", "id": 77}]}},
        "runner-a": {"__decommission_fleet_host": {
            "system_id": "s_a", "runners": [{"name": "shared", "id": 31, "token": "glrt-t1_secret"}]}},
        "runner-d": {"__decommission_fleet_host": {"unreachable": True, "msg": "unreachable"}},
        # Not part of the fleet group: nothing registered.
        "localhost": {},
    }
    fleet = FILTERS["decommission_fleet"](["localhost", "runner-a", "runner-c", "runner-d", "not-in-hostvars"],
                                          hostvars)
    assert fleet == {"system_ids": ["s_a"], "runner_ids": [31], "unread": ["runner-d"],
                     "leaving": [{"runner_id": 31, "system_id": "s_c"}]}


def test_stale_from_registered_results():
    results = [{"item": 31, "runners": [{"id": 31, "description": "shared", "managers": [
        {"system_id": "s_a", "status": "online", "contacted_at": "2026-06-01T12:00:00Z"},
        {"system_id": "s_x", "status": "stale", "contacted_at": None}]}]}]
    lines = FILTERS["decommission_stale"](results, {"system_ids": ["s_a"], "unread": [], "leaving": []})
    assert lines[0] == "shared (runner 31): stale manager s_x (last contact never) belongs to no host of the fleet"
    assert len(lines) == 2
