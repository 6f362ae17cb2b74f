# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Plan, then act: the role's checks before its first change, and which hosts stop."""

from __future__ import annotations

import pytest

from ansible_collections.runnerops.gitlab.plugins.filter import plan as plan_filters
from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet
from ansible_collections.runnerops.gitlab.plugins.plugin_utils import _plan

ROLE_VARIABLES = plan_filters.role_variables()


@pytest.mark.parametrize("settings, expected", [
    ({"gitlab_runner_concurrent": 0}, ["gitlab_runner_concurrent: concurrent is 0; gitlab-runner needs at least 1."]),
    ({"gitlab_runner_concurrent": -1}, ["gitlab_runner_concurrent: concurrent is -1"]),
    ({"gitlab_runner_concurrent": "four"}, ["gitlab_runner_concurrent: argument 'concurrent' is of type str"]),
    ({"gitlab_runner_log_level": "verbose"}, ["gitlab_runner_log_level: value of log_level must be one of",
                                              "got: verbose"]),
    ({"gitlab_runner_global_settings": {"concurent": 2}}, ["gitlab_runner_global_settings:", "'concurent'",
                                                           "did you mean 'concurrent'?"]),
    ({"gitlab_runner_global_settings": {"runners": []}}, ["gitlab_runner_global_settings: global_settings contains "
                                                          "'runners'"]),
    ({"gitlab_runner_session_server": {"session_timeout": "long"}}, ["gitlab_runner_session_server:",
                                                                     "session_timeout"]),
    ({"gitlab_runner_prune_stale_after": 3600}, ["gitlab_runner_prune_stale_after: gitlab_runner_prune_stale_after "
                                                 "is 3600 seconds", "set gitlab_runner_prune_stale_after to 7200"]),
    ({"gitlab_runner_prune_stale_after": -1}, ["gitlab_runner_prune_stale_after must be a number of seconds"]),
    ({"gitlab_runner_live_manager_window": 0}, ["gitlab_runner_live_manager_window: gitlab_runner_live_manager_window "
                                                "is 0."]),
    ({"gitlab_runner_token_rotate_before": "soon"}, ["gitlab_runner_token_rotate_before must be a number"]),
])
def test_each_role_variable_is_checked_with_the_modules_rules(settings, expected):
    problems = _plan.settings_problems(dict({"gitlab_runner_concurrent": 1, "gitlab_runner_check_interval": 3},
                                            **settings))
    assert len(problems) == 1, problems
    for words in expected:
        assert words in problems[0]
    assert "Fix:" in problems[0] and len(problems[0]) < 1000


@pytest.mark.parametrize("settings", [
    {"gitlab_runner_concurrent": 4, "gitlab_runner_check_interval": 0, "gitlab_runner_log_level": "",
     "gitlab_runner_listen_address": "", "gitlab_runner_session_server": {}, "gitlab_runner_global_settings": {},
     "gitlab_runner_prune_stale_after": 0, "gitlab_runner_live_manager_window": 7200,
     "gitlab_runner_token_rotate_before": 604800},
    {"gitlab_runner_concurrent": "2", "gitlab_runner_check_interval": 3, "gitlab_runner_log_level": "warning",
     "gitlab_runner_global_settings": {"shutdown_timeout": 30}, "gitlab_runner_prune_stale_after": 604800,
     "gitlab_runner_session_server": {"listen_address": "[::]:8093"}},
])
def test_the_defaults_and_good_values_pass(settings):
    assert _plan.settings_problems(settings) == []


def test_global_toml_of_the_folder_is_checked_too():
    (problem,) = _plan.settings_problems({"gitlab_runner_concurrent": 1}, {"concurent": 3})
    assert problem.startswith("global.toml of gitlab_runner_definitions_dir:") and "'concurent'" in problem


@pytest.mark.parametrize("names, expected", [
    (["gitlab_runners_runners"], {"gitlab_runners_runners": "gitlab_runner_runners"}),
    (["gitlab_runner_runner"], {"gitlab_runner_runner": "gitlab_runner_runners"}),
    (["gitlab_runner_concurent"], {"gitlab_runner_concurent": "gitlab_runner_concurrent"}),
    (["gitlabrunner_runners"], {"gitlabrunner_runners": "gitlab_runner_runners"}),
    (["gitlab_runner_runners", "gitlab_runner_concurrent"], {}),
    # A user's own variables that read like nothing of the role's.
    (["gitlab_runner_vault_path", "gitlab_runner_team", "gitlab_runner_image_mirror"], {}),
])
def test_look_alikes_of_the_role_variables_are_named(names, expected):
    assert _plan.look_alikes(names, ROLE_VARIABLES) == expected


def test_the_role_variables_come_from_the_argument_specs():
    assert "gitlab_runner_runners" in ROLE_VARIABLES and "gitlab_runner_allow_empty_config" in ROLE_VARIABLES


def test_what_a_host_declares_carries_every_problem_and_warning():
    noted = _plan.declared([{"name": "a", "maximum_timeout": 5, "tags": ["x y"]}, {"name": "b", "tags": ["p q"]}],
                           {"runners": [], "global_settings": {}}, {"gitlab_runner_concurrent": 0},
                           ["gitlab_runners_runners"], ROLE_VARIABLES)
    assert noted["definitions"] == []
    labels = [problem.split(":", maxsplit=1)[0] for problem in noted["problems"]]
    assert labels == ["gitlab_runner_runners[a]", "gitlab_runner_concurrent"]
    assert noted["warnings"][-1] == ("gitlab_runners_runners is not a variable of the role; did you mean "
                                     "gitlab_runner_runners?")
    assert "tag 'p q' holds white space" in noted["warnings"][0]


@pytest.mark.parametrize("result, expected", [
    ({"exists": True, "runners": [], "failed_when_result": False, "failed": False}, None),
    ({"exists": False, "runners": []}, None),
    ({"msg": "Reading /x failed: it is a directory.", "changed": False, "failed": False, "failed_when_result": False},
     "Reading /x failed: it is a directory."),
    ({"msg": "Reading /x failed.", "failed": True}, "Reading /x failed."),
    ({"unreachable": True, "msg": "ssh"}, None),
    ({"skipped": True}, None),
    (None, None),
])
def test_a_read_that_failed_is_told_from_one_that_found_nothing(result, expected):
    assert _plan.read_problem(result) == expected


def report(host, *names):
    return _fleet.HostReport(host, "s_1", "file", tuple(_fleet.HeldEntry(host, "s_1", name) for name in names))


@pytest.mark.parametrize("definitions, entries, allow, prune, refused", [
    ([], ("a", "b"), False, True, True),
    ([{"name": "a", "state": "absent"}], ("a",), False, True, True),
    ([], ("a",), True, True, False),
    ([], ("a",), False, False, False),
    ([], (), False, True, False),
    ([{"name": "a", "state": "present"}], ("a", "b"), False, True, False),
])
def test_a_host_losing_every_entry_without_a_definition_is_refused(definitions, entries, allow, prune, refused):
    problem = _plan.empty_config_problem("h1", report("h1", *entries), definitions, allow, prune)
    assert bool(problem) is refused
    if refused:
        assert problem.startswith("h1: declares no runner") and "gitlab_runner_allow_empty_config" in problem
        assert ", ".join(sorted(entries)) in problem


def test_hosts_sharing_a_runner_with_a_broken_host_stop_with_it():
    definitions = {"h1": [{"name": "shared"}, {"name": "build", "per_host": True}],
                   "h2": [{"name": "shared"}], "h3": [{"name": "other"}],
                   "h4": [{"name": "build", "per_host": True}]}
    blocked = _plan.blocked_by({"h1": "h1: broken"}, definitions)
    assert sorted(blocked) == ["h2"]
    assert blocked["h2"].startswith("h2: stopped with h1, which could not be read: both carry shared")


def test_stops_say_a_problem_of_the_run_once():
    assert _plan.stops(["a", "b", "c"], {"b": ["b: own"]}, ["run problem."]) == {
        "a": "run problem.",
        "b": "b: own stopped with the whole run before any change: a names the problems.",
        "c": "stopped with the whole run before any change: a names the problems."}
    assert _plan.stops(["a", "b"], {"b": ["b: own"]}) == {"b": "b: own"}
    assert _plan.stops(["a", "b"], {}, []) == {}


PLAN = {
    "shared": [{"name": "s", "runner_type": "group_type", "group": "acme/platform", "known_id": None},
               {"name": "t", "runner_type": "group_type", "group": "acme/platform", "known_id": None},
               {"name": "u", "runner_type": "group_type", "group": "acme", "known_id": 7},
               {"name": "i", "runner_type": "instance_type", "known_id": None},
               {"name": "n", "runner_type": "group_type", "group": "42", "known_id": None},
               {"name": "o", "runner_type": "group_type", "group": "acme", "known_id": None,
                "api_url": "https://other.example.com"}],
    "per_host": {"h1": [{"name": "b-h1", "runner_type": "project_type", "project": "acme/app", "known_id": None}],
                 "h2": [{"name": "b-h2", "runner_type": "project_type", "project": "acme/app", "known_id": 9}]},
    "shared_absent": [], "per_host_absent": {},
}


def test_only_owners_a_runner_may_be_created_in_are_looked_up_each_once():
    assert _plan.owners_to_resolve(PLAN) == {"": [{"group": "acme/platform"}, {"project": "acme/app"}],
                                             "https://other.example.com": [{"group": "acme"}]}
    converged = {"shared": [dict(request, known_id=3) for request in PLAN["shared"]], "per_host": {}}
    assert _plan.owners_to_resolve(converged) == {}


def test_the_owners_found_reach_gitlab_runner_create_as_ids():
    results = [
        {"item": {"key": "", "value": []}, "owners": [
            {"type": "group", "ref": "acme/platform", "id": 5, "path": "acme/platform"},
            {"type": "project", "ref": "acme/app", "id": 11, "path": "acme/app"}]},
        {"item": {"key": "https://other.example.com", "value": []}, "owners": [
            {"type": "group", "ref": "acme", "id": 70, "path": "acme"}]}]
    owned = _plan.owned_plan(PLAN, results)
    assert [request.get("group") for request in owned["shared"]] == ["5", "5", "acme", None, "42", "70"]
    assert owned["per_host"]["h1"][0]["project"] == "11"
    # A runner the hosts agree on keeps its path: its details prove its owner.
    assert owned["per_host"]["h2"][0]["project"] == "acme/app"
    assert PLAN["shared"][0]["group"] == "acme/platform"
    assert _plan.owned_plan(PLAN, []) is PLAN


@pytest.mark.parametrize("strategy, refused", [
    ("linear", False), ("ansible.builtin.linear", False), ("mitogen_linear", False), ("debug", False),
    ("free", True), ("ansible.builtin.free", True), ("host_pinned", True), ("ansible.builtin.host_pinned", True),
])
def test_only_strategies_that_keep_hosts_in_step_are_taken(strategy, refused):
    problem = _plan.strategy_problem(strategy)
    assert bool(problem) is refused
    if refused:
        assert f"strategy {strategy}" in problem and "Fix: run the play with a linear strategy" in problem
