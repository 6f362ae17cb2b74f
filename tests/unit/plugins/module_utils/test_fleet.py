# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet's token decisions: definitions, holders, known ids, expiry and each host's entries."""

from __future__ import annotations

import datetime
import re

import pytest
import yaml

from ansible_collections.runnerops.gitlab.plugins.filter import fleet as fleet_filters
from ansible_collections.runnerops.gitlab.plugins.filter import plan as plan_filters
from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_keys as keys
from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from tests.conftest import REPO_ROOT

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)
SHARED = {"name": "shared", "runner_type": "group_type", "group": "platform", "tags": ["docker"], "executor": "docker",
          "settings": {"docker": {"image": "alpine"}}}
PER_HOST = {"name": "build", "runner_type": "project_type", "project": "platform/app", "per_host": True}


def gathered(system_id, *entries):
    return {"system_id": system_id, "system_id_source": "file", "runners": list(entries)}


def held(name, token, runner_id=7, obtained="2026-11-01T08:00:00Z", expires="0001-01-01T00:00:00Z", **extra):
    return dict({"name": name, "id": runner_id, "url": "https://gitlab.example.com", "token": token,
                 "token_obtained_at": obtained, "token_expires_at": expires, "executor": "shell", "settings": {}},
                **extra)


def reports(**by_host):
    return _fleet.host_reports(by_host)


def plan(declared_by_host, by_host, outside=None, **kwargs):
    return _fleet.token_plan({host: _fleet.definitions(definitions) for host, definitions in declared_by_host.items()},
                             reports(**by_host), _fleet.host_reports(outside or {}), now=NOW, **kwargs)


# ---------------------------------------------------------------------- definitions


def test_definitions_fill_defaults_and_the_declared_ones_win_over_the_folder():
    result = _fleet.definitions([{"name": "a", "executor": "docker"}],
                                folder=[{"name": "a", "executor": "shell"}, {"name": "b"}])
    assert [(item["name"], item["executor"]) for item in result] == [("b", "shell"), ("a", "docker")]
    assert result[0] == {"name": "b", "runner_type": "instance_type", "executor": "shell", "settings": {},
                         "per_host": False, "state": "present"}


@pytest.mark.parametrize("declared, words", [
    ([{"name": "a"}, {"name": "a"}], ["a declared more than once", "its own name"]),
    ([{"runner_type": "group_type"}], ["gitlab_runner_runners[0]: has no name"]),
    (["a"], ["gitlab_runner_runners[0]: is not a dictionary"]),
    ([{"name": "g", "runner_type": "group_type"}],
     ["gitlab_runner_runners[g]: runner_type group_type needs the group", "set group"]),
    ([{"name": "p", "runner_type": "project_type", "project": " "}], ["needs the project"]),
    ([{"name": "i", "group": "platform"}], ["group is set but runner_type is instance_type", "remove group"]),
    ([{"name": "t", "runner_type": "group"}], ["runner_type 'group' is not one of"]),
    ([{"name": "s", "state": "gone"}], ["state 'gone' is not present or absent"]),
    ([{"name": "x", "settings": ["limit", 2]}], ["settings is not a dictionary"]),
])
def test_bad_definitions_name_the_definition_and_the_fix(declared, words):
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.definitions(declared)
    for word in words:
        assert word in str(caught.value)
    assert "Fix:" in str(caught.value)


def test_a_problem_never_shows_a_setting():
    declared = [{"name": "s3", "runner_type": "group_type", "settings": {"cache": {"s3": {"SecretKey": "hush-42"}}}}]
    result = plan_filters.fleet_declared(declared)
    assert result["definitions"] == [] and "needs the group" in result["problems"][0]
    assert "hush-42" not in result["problems"][0]


# ---------------------------------------------------------------------- holders and what gitlab_runner_create is asked


@pytest.mark.parametrize("case, by_host, outside, expected_tokens, expected_id", [
    ("holders that agree", {"h1": gathered("s_1", held("shared", "glrt-a")),
                            "h2": gathered("s_2", held("shared", "glrt-a"))}, {},
     [("glrt-a", "s_1", "h1"), ("glrt-a", "s_2", "h2")], 7),
    ("holders that disagree (one rotated on disk by gitlab-runner)",
     {"h1": gathered("s_1", held("shared", "glrt-old")), "h2": gathered("s_2", held("shared", "glrt-new"))}, {},
     [("glrt-old", "s_1", "h1"), ("glrt-new", "s_2", "h2")], 7),
    ("holders that carry different runner ids", {"h1": gathered("s_1", held("shared", "glrt-a", runner_id=7)),
                                                 "h2": gathered("s_2", held("shared", "glrt-b", runner_id=9))}, {},
     [("glrt-a", "s_1", "h1"), ("glrt-b", "s_2", "h2")], None),
    ("a host that lost its config.toml", {"h1": gathered("s_1", held("shared", "glrt-a")), "h3": gathered("s_3")},
     {}, [("glrt-a", "s_1", "h1")], 7),
    ("a host without a system id cannot lend its token", {"h1": gathered(None, held("shared", "glrt-a"))}, {}, [], 7),
    ("an entry of another name", {"h1": gathered("s_1", held("other", "glrt-x"))}, {}, [], None),
    ("a host outside the run lends its token", {"h3": gathered("s_3")},
     {"h1": gathered("s_1", held("shared", "glrt-a"))}, [("glrt-a", "s_1", "h1")], 7),
])
def test_a_shared_runner_is_asked_once_with_every_holders_token(case, by_host, outside, expected_tokens, expected_id):
    result = plan({host: [SHARED] for host in by_host}, by_host, outside)
    (request,) = result["shared"]
    assert [(t["token"], t["system_id"], t["host"]) for t in request["known_tokens"]] == expected_tokens, case
    assert request["known_id"] == expected_id, case
    # Only the run's hosts are protected by being in the run; every other live manager is protected by GitLab.
    assert request["run_system_ids"] == sorted(report["system_id"] for report in by_host.values()
                                               if report["system_id"]), case
    assert (request["token_reset"], request["protect_live_managers"]) == ("if_no_valid_token", True)
    assert (request["group"], request["tags"], request["definition"]) == ("platform", ["docker"], "shared")


def test_a_known_token_carries_its_age_and_an_unknown_age_is_left_out():
    by_host = {"h1": gathered("s_1", held("shared", "glrt-a", obtained="2026-10-01T00:00:00Z")),
               "h2": gathered("s_2", held("shared", "glrt-a", obtained="0001-01-01T00:00:00Z"))}
    tokens = plan({"h1": [SHARED], "h2": [SHARED]}, by_host)["shared"][0]["known_tokens"]
    assert tokens[0]["obtained_at"] == "2026-10-01T00:00:00Z"
    assert "obtained_at" not in tokens[1]


def test_per_host_runners_are_asked_for_their_own_host_only():
    by_host = {"h1": gathered("s_1", held("build-h1", "glrt-1")), "h2": gathered("s_2", held("build-h1", "glrt-x"))}
    result = plan({"h1": [PER_HOST], "h2": [PER_HOST]}, by_host)
    assert result["shared"] == []
    h1, h2 = result["per_host"]["h1"][0], result["per_host"]["h2"][0]
    assert (h1["name"], h2["name"]) == ("build-h1", "build-h2")
    assert [t["token"] for t in h1["known_tokens"]] == ["glrt-1"]
    assert h2["known_tokens"] == [] and h2["run_system_ids"] == ["s_2"]


def test_a_shared_runner_declared_by_some_hosts_protects_only_them_as_the_run():
    result = plan({"h1": [SHARED], "h2": []}, {"h1": gathered("s_1"), "h2": gathered("s_2")})
    assert result["shared"][0]["run_system_ids"] == ["s_1"]


def test_absent_runners_are_planned_apart():
    gone = dict(SHARED, state="absent")
    result = plan({"h1": [gone, dict(PER_HOST, state="absent")]}, {"h1": gathered("s_1")})
    assert result["shared"] == [] and result["per_host"] == {}
    assert [item["name"] for item in result["shared_absent"]] == ["shared"]
    assert [item["name"] for item in result["per_host_absent"]["h1"]] == ["build-h1"]


def test_a_deletion_carries_no_token_the_host_holds():
    gone = dict(PER_HOST, state="absent")
    result = plan({"h1": [gone]}, {"h1": gathered("s_1", held("build-h1", "glrt-held", runner_id=9))})
    (request,) = result["per_host_absent"]["h1"]
    assert request["known_tokens"] == [] and "glrt-held" not in repr(request)


@pytest.mark.parametrize("case, expires, rotation, due", [
    ("inside the central window", "2026-12-03T12:00:00Z", "central", True),
    ("outside the central window", "2027-01-30T12:00:00Z", "central", False),
    ("already expired", "2026-11-29T12:00:00.000Z", "central", True),
    ("never expires (zero time)", "0001-01-01T00:00:00Z", "central", False),
    ("no expiry at all", None, "central", False),
    ("the runner rotates its own token", "2026-12-03T12:00:00Z", "runner", False),
])
def test_central_rotation_resets_a_token_about_to_expire(case, expires, rotation, due):
    by_host = {"h1": gathered("s_1", held("shared", "glrt-a", expires=expires))}
    request = plan({"h1": [SHARED]}, by_host, rotation=rotation, rotate_before=7 * 86400)["shared"][0]
    assert request["token_reset"] == ("always" if due else "if_no_valid_token"), case
    # The role decided the reset, not the user: it stays guarded.
    assert request["protect_live_managers"] is True


def test_hosts_outside_are_found_from_their_own_inventory_only():
    declared = {"o1": [SHARED], "o2": [dict(SHARED, per_host=True)], "o3": [{"name": "other"}], "h1": [SHARED]}
    assert _fleet.hosts_outside(["h1", "o1", "o2", "o3", "o4"], ["h1"], declared, ["shared"]) == ["o1"]


# ---------------------------------------------------------------------- what each host writes


def result(name, token=None, source="existing", runner_id=7, obtained=None, expires=None, request=None):
    return {"changed": False, "runner": {"id": runner_id, "description": name}, "token": token,
            "token_source": source, "token_obtained_at": obtained, "token_expires_at": expires,
            "item": request or {"name": name}}


def entries(host, host_gathered, definitions, results, rotation="runner"):
    return _fleet.host_entries(host, _fleet.host_report(host, host_gathered), _fleet.definitions(definitions),
                               results, "https://gitlab.example.com", rotation=rotation, now=NOW)


@pytest.mark.parametrize("case, host_gathered, settled, expected_obtained", [
    ("the host already holds the token: its own age", gathered("s_1", held("shared", "glrt-a")),
     result("shared", "glrt-a", obtained="2026-10-01T00:00:00Z"), "2026-11-01T08:00:00Z"),
    ("handed on from a holder: the holder's age", gathered("s_3"),
     result("shared", "glrt-a", obtained="2026-10-01T00:00:00Z"), "2026-10-01T00:00:00Z"),
    ("a new token: when GitLab issued it", gathered("s_1", held("shared", "glrt-old")),
     result("shared", "glrt-new", "reset", obtained="2026-11-30T11:59:59.123456Z"), "2026-11-30T11:59:59.123456Z"),
    ("nobody knew its age: when it was confirmed", gathered("s_3"), result("shared", "glrt-a"),
     "2026-11-30T12:00:00Z"),
])
def test_a_token_keeps_its_age_on_every_host(case, host_gathered, settled, expected_obtained):
    (entry,) = entries("h", host_gathered, [SHARED], [settled])["runners"]
    assert entry["token_obtained_at"] == expected_obtained, case
    assert entry["token"] == settled["token"]


def test_entries_carry_the_definition_and_only_the_runners_the_host_declares():
    settled = [result("shared", "glrt-a", expires="2027-01-01T00:00:00Z"), result("elsewhere", "glrt-b"),
               result("build-h", "glrt-c", runner_id=9)]
    written = entries("h", gathered("s_1"), [SHARED, PER_HOST], settled)
    assert [entry["name"] for entry in written["runners"]] == ["shared", "build-h"]
    shared = written["runners"][0]
    assert shared == {"name": "shared", "url": "https://gitlab.example.com", "executor": "docker",
                      "settings": {"docker": {"image": "alpine"}}, "id": 7, "token": "glrt-a",
                      "token_obtained_at": "2026-11-30T12:00:00Z", "token_expires_at": "2027-01-01T00:00:00Z"}


def test_central_rotation_switches_off_the_runners_own_rotation():
    (entry,) = entries("h", gathered("s_1"), [SHARED], [result("shared", "glrt-a")], rotation="central")["runners"]
    assert entry["settings"] == {"docker": {"image": "alpine"},
                                 "feature_flags": {"FF_DISABLE_AUTOMATIC_TOKEN_ROTATION": True}}


def test_check_mode_entries_without_a_token_are_pending_or_left_as_they_are():
    would_create = result("shared", None, "would_create", runner_id=None)
    assert entries("h", gathered("s_1"), [SHARED], [would_create]) == \
        {"runners": [], "pending": [{"name": "shared", "runner_id": None, "token_source": "would_create"}]}
    kept = entries("h", gathered("s_1", held("shared", "glrt-a")), [SHARED], [result("shared", None, "would_verify")])
    assert kept["pending"] == [] and "token" not in kept["runners"][0]


def test_failed_and_skipped_results_write_nothing():
    failed = dict(result("shared", "glrt-a"), failed=True)
    skipped = {"skipped": True, "item": {"name": "shared"}}
    assert entries("h", gathered("s_1"), [SHARED], [failed, skipped]) == {"runners": [], "pending": []}


def test_the_report_names_runners_and_bad_holders_never_tokens():
    settled = [dict(result("shared", "glrt-secret", "reset"),
                    ignored_known_tokens=[{"index": 1, "host": "h2", "system_id": "s_2", "reason": "glpat"}]),
               result("new", None, "would_create", runner_id=None)]
    lines = _fleet.settled_report(settled)
    assert lines == ["shared: runner 7, token reset; set aside what h2 held (not a runner token)",
                     "new: runner (new), token would_create"]
    assert "glrt-secret" not in " ".join(lines)


@pytest.mark.parametrize("before, after, expected", [
    ({"id": 7, "description": "s", "tags": ["a"], "run_untagged": True, "owner": {"id": 1}},
     {"id": 7, "description": "s", "tags": ["a", "b"], "run_untagged": False, "owner": {"id": 1}},
     ["tags ['a'] -> ['a', 'b']", "run_untagged True -> False"]),
    ({"id": 7, "tags": ["a"]}, {"id": 7, "tags": ["a"]}, []),
    ({}, {"id": 7, "tags": ["a"]}, []),
])
def test_the_report_shows_what_gitlab_changes_in_a_runner(before, after, expected):
    settled = dict(result("s", None, "would_verify"), diff={"before": before, "after": after})
    assert _fleet.attribute_changes(settled) == expected
    line = _fleet.settled_report([settled])[0]
    assert line == "s: runner 7, token would_verify" + ("; " + ", ".join(expected) if expected else "")


# ---------------------------------------------------------------------- what hosts report


def test_hosts_sharing_a_system_id_are_named():
    same = reports(a=gathered("s_x"), b=gathered("s_x"), c=gathered("s_y"), d=gathered(None))
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.check_system_ids(same)
    assert "a, b report s_x" in str(caught.value) and "machine id" in caught.value.fix


def test_zero_times_mean_unknown():
    report = _fleet.host_report("h", gathered("s", held("a", "glrt-a", obtained="0001-01-01T00:00:00Z",
                                                        expires=datetime.datetime(1, 1, 1))))
    assert (report.entries[0].token_obtained_at, report.entries[0].token_expires_at) == (None, None)
    assert _fleet.known_time(datetime.datetime(2026, 1, 2, 3, 4, 5, 600000)) == "2026-01-02T03:04:05.6Z"


@pytest.mark.parametrize("definition, words", [
    # gitlab_runner_create's own rules, applied before any runner is created.
    ({"name": "d", "maximum_timeout": -5}, ["maximum_timeout is -5 seconds; GitLab needs at least 600",
                                            "set maximum_timeout to 600 or more"]),
    ({"name": "d", "run_untagged": False}, ["run_untagged is false and tags is empty", "declare at least one tag"]),
    ({"name": "d", "run_untagged": False, "tags": []}, ["run_untagged is false and tags is empty"]),
    ({"name": "d", "tags": [f"t{index}" for index in range(51)]}, ["51 distinct tags; GitLab allows at most 50"]),
    ({"name": "d", "access_level": "protected"}, ["access_level", "not_protected, ref_protected"]),
    ({"name": "d", "maintenance_note": "x" * 1025}, ["maintenance_note is 1025 characters long"]),
    ({"name": "d", "token_expires_at": "2020-01-01T00:00:00Z"}, ["less than 5 minutes ahead"]),
    ({"name": "d", "token_expires_at": "soon"}, ["token_expires_at"]),
    # runner_config_sync's executor names.
    ({"name": "d", "executor": "dockr"}, ["executor 'dockr' is not an executor gitlab-runner",
                                          "did you mean 'docker'?"]),
])
def test_the_modules_rules_are_the_definitions_rules(definition, words):
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.definitions([definition])
    for word in words:
        assert word in str(caught.value)
    assert str(caught.value).count("Fix:") == 1


def test_the_expiry_rules_read_now():
    ahead = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=4)).isoformat()
    with pytest.raises(RunnerOpsError, match="less than 5 minutes ahead"):
        _fleet.definitions([{"name": "d", "token_expires_at": ahead}])
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)
    deadline = expires + datetime.timedelta(days=1)
    with pytest.raises(RunnerOpsError, match="token_rotation_deadline .* is later than token_expires_at"):
        _fleet.definitions([{"name": "d", "token_expires_at": expires.isoformat(),
                             "token_rotation_deadline": deadline.isoformat()}])


def test_every_definition_is_checked_before_any_is_used():
    checked, problems, _warnings = _fleet.checked_definitions([
        {"name": "fine", "runner_type": "group_type", "group": "acme"},
        {"name": "timeout", "maximum_timeout": -5},
        {"name": "executor", "executor": "dockr"},
        {"name": "untagged", "run_untagged": False},
    ])
    assert [problem.split(":", maxsplit=1)[0] for problem in problems] == [
        "gitlab_runner_runners[timeout]", "gitlab_runner_runners[executor]", "gitlab_runner_runners[untagged]"]
    assert [definition["name"] for definition in checked] == ["fine"]
    assert all(len(problem) < 1000 and "Fix:" in problem for problem in problems)


def test_a_tag_with_white_space_is_warned_of():
    _checked, problems, warnings = _fleet.checked_definitions([{"name": "d", "tags": "docker linux, arm"}])
    assert problems == []
    assert warnings == ["gitlab_runner_runners[d]: tag 'docker linux' holds white space, so GitLab keeps it as one "
                        "tag that a job asking for 'docker' and 'linux' never matches; give tags as a list "
                        "(['docker', 'linux']) or separated by commas."]


def test_verify_refusals_name_entries_never_tokens():
    results = [{"item": {"name": "a", "id": 7, "token": "glrt-a"}, "status": 200, "json": {"id": 7}},
               {"item": {"name": "b", "id": 8, "token": "glrt-b"}, "status": 403, "msg": "Status code was 403"},
               {"item": {"name": "c", "id": 9, "token": "glrt-c"}, "status": 200, "json": {"id": 4}},
               {"skipped": True}]
    assert _fleet.verify_refusals(results) == ["entry 'b' (runner 8): Status code was 403",
                                               "entry 'c': the token belongs to runner 4, not 9"]


@pytest.mark.parametrize("definition, expected", [
    ({"name": "d", "limt": 2},
     "gitlab_runner_runners[d]: 'limt' is not a key of a runner definition; did you mean 'limit' under settings?"),
    ({"name": "d", "limit": 2},
     "gitlab_runner_runners[d]: 'limit' is not a key of a runner definition; 'limit' is a config.toml setting of the "
     "entry: put it under settings."),
    ({"name": "d", "tgas": ["docker"]},
     "gitlab_runner_runners[d]: 'tgas' is not a key of a runner definition; did you mean 'tags'?"),
    ({"name": "d", "settings": {"docker": {"priviledged": True}}},
     "gitlab_runner_runners[d]: settings.docker: 'priviledged' in [runners.docker] is not a key gitlab-runner "
     f"{keys.RUNNER_VERSION} knows; did you mean 'privileged'?"),
    ({"name": "d", "settings": {"limt": 2}},
     f"gitlab_runner_runners[d]: settings: 'limt' in [[runners]] is not a key gitlab-runner {keys.RUNNER_VERSION} "
     "knows; did you mean 'limit'?"),
    ({"name": "d", "maximum_timeout": "one hour"},
     "gitlab_runner_runners[d]: argument 'maximum_timeout' is of type str and we were unable to convert to int"),
    ({"name": "d", "settings": {"token": "glrt-x"}},
     "gitlab_runner_runners[d]: settings holds 'token', which the role writes itself from GitLab's answer."),
])
def test_mistyped_keys_at_both_levels_fail_with_a_suggestion(definition, expected):
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.definitions([definition])
    assert expected in caught.value.reason
    assert "glrt-x" not in str(caught.value)


def test_every_problem_of_a_definition_is_named_at_once():
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.definitions([{"name": "d", "tgas": ["a"], "settings": {"limt": 1, "docker": {"imagee": "x"}}}])
    assert all(word in caught.value.reason for word in ("'tgas'", "'limt'", "'imagee'"))


def test_definition_values_are_converted_as_ansible_converts_them():
    (result,) = _fleet.definitions([{"name": "d", "run_untagged": "yes", "maximum_timeout": "3600",
                                     "settings": {"Limit": 2}}])
    assert result["run_untagged"] is True and result["maximum_timeout"] == 3600
    assert result["settings"] == {"limit": 2}


def test_the_role_documents_every_key_of_a_definition():
    specs = yaml.safe_load((REPO_ROOT / "roles" / "gitlab_runner" / "meta" / "argument_specs.yml").read_text(
        encoding="utf-8"))
    described = " ".join(specs["argument_specs"]["main"]["options"]["gitlab_runner_runners"]["description"])
    assert sorted(re.findall(r"C\((\w+)\) \(", described)) == sorted(_fleet.DEFINITION_SPEC)


def test_check_mode_says_create_or_reset_as_a_real_run_would_do():
    would_create = result("shared", None, "would_create", runner_id=None)
    would_reset = result("build-h", None, "would_reset", runner_id=12)
    by_host = {"h": entries("h", gathered("s_1"), [SHARED, PER_HOST], [would_create, would_reset]),
               "g": entries("g", gathered("s_2"), [SHARED], [would_create])}
    assert _fleet.pending_notes(by_host) == [
        "shared: GitLab would create the runner, then its entry would be added to config.toml; check mode cannot "
        "show the token GitLab has not issued yet.",
        "build-h (runner 12): the runner exists in GitLab and no host of the run holds a token GitLab accepts, so its "
        "token would be reset and written to config.toml; check mode cannot show the new token."]
    assert _fleet.pending_notes({"h": {"runners": [], "pending": []}}) == []


@pytest.mark.parametrize("deadline_hours, first_token, due", [
    (24, True, True),      # the deadline is within the window and a host holds the first token
    (24, False, False),    # already reset: GitLab gave the new token the expiry of its settings; no deadline binds it
    (200, True, False),    # the deadline is beyond the window
    (-1, True, False),     # passed: GitLab refuses a reset, nothing to do
])
def test_central_rotation_resets_a_first_token_before_its_rotation_deadline(deadline_hours, first_token, due):
    asked = (NOW + datetime.timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    definition = dict(SHARED, token_expires_at=asked,
                      token_rotation_deadline=(NOW + datetime.timedelta(hours=deadline_hours)).isoformat())
    held_expiry = asked.replace("Z", ".000Z") if first_token else "0001-01-01T00:00:00Z"
    holders = _fleet.host_report("h", gathered("s_1", held("shared", "glrt-a", expires=held_expiry))).entries
    assert _fleet.deadline_due(definition, holders, NOW, 72 * 3600) is due


def test_another_instance_travels_by_url_and_its_token_never_in_a_request():
    other = dict(SHARED, name="other", api_url="https://gitlab-new.example.com", api_token="glpat-new")
    declared = {"h": _fleet.definitions([SHARED, other])}
    plan_ = _fleet.token_plan(declared, reports(h=gathered("s_1")), now=NOW)
    by_name = {request["name"]: request for request in plan_["shared"]}
    assert by_name["other"]["api_url"] == "https://gitlab-new.example.com" and "api_url" not in by_name["shared"]
    assert "glpat-new" not in repr(plan_)
    assert _fleet.instances(declared) == {"https://gitlab-new.example.com": "glpat-new"}
    entries = _fleet.host_entries("h", None, declared["h"], [result("other", "glrt-o"), result("shared", "glrt-s")],
                                  "https://gitlab.example.com")
    assert [(entry["name"], entry["url"]) for entry in entries["runners"]] == [
        ("other", "https://gitlab-new.example.com"), ("shared", "https://gitlab.example.com")]


@pytest.mark.parametrize("extra, words", [
    ({"api_url": "https://gitlab-new.example.com"}, "api_url and api_token go together"),
    ({"api_url": "gitlab-new.example.com", "api_token": "glpat-x"}, "api_url 'gitlab-new.example.com' is not a URL"),
])
def test_an_instance_half_given_fails_naming_the_definition(extra, words):
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.definitions([dict(SHARED, **extra)])
    assert f"gitlab_runner_runners[shared]: {words}" in caught.value.reason
    assert "glpat-x" not in str(caught.value)


def test_one_instance_with_two_tokens_is_refused():
    first = dict(SHARED, name="a", api_url="https://n.example.com", api_token="glpat-1")
    second = dict(SHARED, name="b", api_url="https://n.example.com", api_token="glpat-2")
    with pytest.raises(RunnerOpsError) as caught:
        _fleet.instances({"h": _fleet.definitions([first, second])})
    assert "is given with two different api_tokens" in caught.value.reason
    assert "glpat-" not in str(caught.value)


def test_failures_name_the_runner_and_show_the_modules_message():
    results = [{"item": {"name": "shared"}, "failed": True, "msg": "Creating runner 'shared' failed: no."},
               {"item": {"key": "https://n.example.com"}, "failed": True, "msg": "Checking failed."},
               {"item": {"name": "fine"}, "runner": {"id": 1}}]
    assert _fleet.failures(results) == ["shared: Creating runner 'shared' failed: no.",
                                        "https://n.example.com: Checking failed."]


def test_config_changes_name_each_changed_host_and_count_the_rest():
    results = {
        "h1": {"changed": True, "global_settings_changed": ["concurrent"], "added": ["docker"], "updated": [],
               "removed": [], "unregistered": []},
        "h2": {"changed": False, "global_settings_changed": [], "added": [], "updated": []},
        "h3": {"changed": True, "updated": ["docker", "shell"], "removed": ["old"], "unregistered": ["old"]},
    }
    assert fleet_filters.fleet_config_changes(["h1", "h2", "h3", "gone"], {
        host: {"synced": result} for host, result in results.items()}, "synced") == [
        "h1: global settings changed: concurrent; added docker; updated none; removed none; unregistered none",
        "h3: global settings unchanged; added none; updated docker, shell; removed old; unregistered old",
        "config.toml unchanged on 1 of 3 hosts",
    ]


def test_config_changes_leave_out_hosts_that_failed():
    hostvars = {"h1": {"synced": {"failed": True, "msg": "no"}}, "h2": {"synced": {"changed": False}}}
    assert fleet_filters.fleet_config_changes(["h1", "h2"], hostvars, "synced") == [
        "config.toml unchanged on 1 of 1 hosts"]


def test_report_adds_the_runners_each_host_settled_for_itself():
    shared = [{"item": {"name": "shared"}, "runner": {"id": 1, "description": "shared"}, "token_source": "existing"}]
    hostvars = {"h1": {"mine": {"results": [{"item": {"name": "own-h1"}, "token_source": "created",
                                             "runner": {"id": 2, "description": "own-h1"}}]}},
                "h2": {}}
    lines = fleet_filters.fleet_report(shared, ["h1", "h2"], hostvars, "mine")
    assert len(lines) == 2 and lines[0].startswith("shared") and lines[1].startswith("own-h1")
    assert fleet_filters.fleet_report(shared) == lines[:1]


def test_the_roles_ca_file_goes_to_each_runner_of_its_gitlab_that_names_none():
    own_ca = dict(SHARED, name="own-ca", settings={"tls-ca-file": "/etc/ssl/other.pem"})
    other = dict(SHARED, name="other-gitlab", api_url="https://other.example.com", api_token="glpat-other")
    settled = [result("shared", "glrt-a"), result("own-ca", "glrt-b"), result("other-gitlab", "glrt-c")]
    written = _fleet.host_entries("h", _fleet.host_report("h", gathered("s_1")),
                                  _fleet.definitions([SHARED, own_ca, other]), settled, "https://gitlab.example.com",
                                  now=NOW, ca_file="/etc/gitlab-runner/certs/gitlab-ca.crt")["runners"]
    assert {entry["name"]: entry["settings"].get("tls-ca-file") for entry in written} == {
        "shared": "/etc/gitlab-runner/certs/gitlab-ca.crt", "own-ca": "/etc/ssl/other.pem", "other-gitlab": None}
    without = entries("h", gathered("s_1"), [SHARED], [result("shared", "glrt-a")])["runners"]
    assert "tls-ca-file" not in without[0]["settings"]


@pytest.mark.parametrize("url, expected", [
    ("https://gitlab.example.com", "https://gitlab.example.com/api/v4/runners/verify"),
    ("https://gitlab.example.com/", "https://gitlab.example.com/api/v4/runners/verify"),
    # A legacy entry's url, as gitlab-runner register wrote it: gitlab-runner drops the /ci itself.
    ("https://gitlab.example.com/ci", "https://gitlab.example.com/api/v4/runners/verify"),
    ("https://gitlab.example.com/gitlab/ci/", "https://gitlab.example.com/gitlab/api/v4/runners/verify"),
    (None, "https://default.example.com/api/v4/runners/verify"),
])
def test_a_token_is_checked_at_the_url_gitlab_runner_uses(url, expected):
    entry = _fleet.HeldEntry("h", "s_1", "legacy", url=url, settings={"tls-ca-file": "/ca.pem"})
    check = _fleet.verify_check(entry, 7, "glrt-x", "https://default.example.com")
    assert check == {"name": "legacy", "id": 7, "token": "glrt-x", "verify_url": expected, "ca_file": "/ca.pem"}


def test_hosts_outside_the_run_are_found_from_every_host_of_the_run(tmp_path):
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "from-folder.toml").write_text('[gitlab]\nrunner_type = "instance_type"\n', encoding="utf-8")

    def noted(*names):
        return {"__gitlab_runner_declared": {"definitions": _fleet.definitions([{"name": n} for n in names])}}

    hostvars = {
        "h1": noted("a"), "h2": noted("b", "from-folder"),
        "o1": {"gitlab_runner_runners": [{"name": "b"}]},
        "o2": {"gitlab_runner_runners": [{"name": "a"}]},
        "o3": {"gitlab_runner_runners": [{"name": "c"}]},
        "o4": {"gitlab_runner_definitions_dir": str(folder)},
        "o5": {"gitlab_runner_runners": [{"name": "b", "per_host": True}]},
        "o6": {"gitlab_runner_runners": [{"name": "b", "maximum_timeout": -1}]},
    }
    found = fleet_filters.fleet_hosts_outside(list(hostvars), hostvars, ["h1", "h2"])
    assert found == ["o1", "o2", "o4"]
