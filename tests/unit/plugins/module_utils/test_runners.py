# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runner logic without a network: a scripted stand-in for GitLabClient answers each call.

GitLab errors go through the collection's real ``translate_error``, so what is asserted is what a
user would read.
"""

from __future__ import annotations

import datetime
import json

import gitlab
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.runnerops.gitlab.plugins.module_utils import _runner_desired
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import translate_error
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import DesiredRunner, normalize_tags
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_ensure import RunnerEnsurer
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_info import RunnerReader
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_lookup import Owner, RunnerLookup, differences, owner_from_details


class GitLabAnswer(Exception):
    """A scripted error answer: status and JSON body, as GitLab would send them."""

    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


class Dropped(Exception):
    """A scripted lost connection."""


class FakeClient:
    """Answers ``GitLabClient`` calls from a script and records them.

    ``on(method, path, *answers)``: each call takes the next answer (the last one repeats). An answer is a
    value, a ``GitLabAnswer``, ``Dropped``, or a callable taking the request data.
    """

    def __init__(self):
        self.routes = {}
        self.calls = []

    def on(self, method, path, *answers):
        self.routes[(method, path)] = list(answers)
        return self

    def _answer(self, action, method, path, data=None, query=None, missing_ok=False, retry_transient=None):
        self.calls.append({"method": method, "path": path, "data": data, "query": query,
                           "retry_transient": retry_transient})
        answers = self.routes.get((method, path))
        if not answers:
            raise AssertionError(f"unexpected call {method} {path} (data={data}, query={query})")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(answer) and not isinstance(answer, type):
            answer = answer(data if data is not None else query)
        if answer is Dropped:
            raise translate_error(action, requests.exceptions.ConnectionError("Connection aborted."))
        if isinstance(answer, GitLabAnswer):
            if missing_ok and answer.status == 404:
                return None
            exc = gitlab.exceptions.GitlabHttpError(
                response_code=answer.status, error_message=answer.body,
                response_body=json.dumps(answer.body).encode())
            raise translate_error(action, exc)
        return answer

    def get(self, action, path, query=None, fix=None, missing_ok=False):
        return self._answer(action, "GET", path, query=query, missing_ok=missing_ok)

    def list(self, action, path, query=None, fix=None):
        return self._answer(action, "LIST", path, query=query)

    def post(self, action, path, data=None, fix=None, retry_transient=True):
        return self._answer(action, "POST", path, data=data, retry_transient=retry_transient)

    def put(self, action, path, data, fix=None):
        return self._answer(action, "PUT", path, data=data)

    def delete(self, action, path, query=None, fix=None, missing_ok=False):
        return self._answer(action, "DELETE", path, query=query, missing_ok=missing_ok)

    def count(self, method=None):
        return len([c for c in self.calls if method is None or c["method"] == method])

    def writes(self):
        return [c for c in self.calls if c["method"] in ("POST", "PUT", "DELETE")]


GROUP = {"id": 7, "full_path": "platform/ci", "web_url": "https://gitlab.example.com/groups/platform/ci"}
PARENT = {"id": 3, "full_path": "platform", "web_url": "https://gitlab.example.com/groups/platform"}


def details(runner_id, description="docker", group=None, **overrides):
    group = group or GROUP
    body = {
        "id": runner_id, "description": description, "runner_type": "group_type", "active": True,
        "paused": False, "tag_list": ["linux", "docker"], "run_untagged": False, "locked": False,
        "access_level": "not_protected", "maximum_timeout": 3600, "maintenance_note": None,
        "status": "online", "online": True, "contacted_at": "2026-01-01T00:00:00.000Z",
        "created_at": "2025-12-01T00:00:00.000Z", "projects": [],
        "groups": [{"id": group["id"], "web_url": group["web_url"], "name": group["full_path"].rsplit("/")[-1]}],
    }
    body.update(overrides)
    return body


def listed(runner_id, description="docker", runner_type="group_type"):
    return {"id": runner_id, "description": description, "runner_type": runner_type, "paused": False}


def desired(**params):
    base = {"name": "docker", "runner_type": "group_type", "group": "platform/ci", "state": "present",
            "token_reset": "if_no_valid_token"}
    base.update(params)
    return DesiredRunner.from_params(base)


def group_fake(runners=(), runner_details=()):
    fake = FakeClient()
    fake.on("GET", "/groups/platform%2Fci", GROUP)
    fake.on("LIST", "/groups/7/runners", list(runners))
    for item in runner_details:
        fake.on("GET", f"/runners/{item['id']}", item)
        fake.on("GET", f"/runners/{item['id']}/managers", [])
    return fake


def ensure(fake, check_mode=False, **params):
    return RunnerEnsurer(fake, desired(**params), check_mode=check_mode, run_preflight=False).run()


# ---------------------------------------------------------------------- the definition


@pytest.mark.parametrize("params, words", [
    ({"maximum_timeout": 599}, ["maximum_timeout is 599", "600"]),
    ({"tags": [f"t{i}" for i in range(51)]}, ["tags has 51", "at most 50"]),
    ({"runner_type": "instance_type"}, ["group is set but runner_type is instance_type"]),
    ({"group": None}, ["group_type needs the group"]),
    ({"runner_type": "project_type", "group": None}, ["project_type needs the project"]),
    ({"run_untagged": False, "tags": []}, ["run_untagged is false and tags is empty"]),
    ({"known_tokens": [{"token": "glrt-a", "system_id": ""}]}, ["known_tokens[0] lacks", "system_id"]),
    ({"live_manager_window": 0}, ["live_manager_window is 0", "above 0"]),
    ({"maintenance_note": "x" * 1025}, ["maintenance_note is 1025"]),
])
def test_definition_errors_name_the_option_before_any_call(params, words):
    with pytest.raises(RunnerOpsError) as caught:
        desired(**params)
    text = str(caught.value)
    assert text.startswith("Checking the definition of runner 'docker' failed")
    for word in words:
        assert word in text
    assert caught.value.fix


def test_tags_are_a_set_and_only_declared_attributes_count():
    runner = desired(tags=[" linux", "docker", "linux", ""], paused=True)
    assert runner.attributes == {"tag_list": ["docker", "linux"], "paused": True}
    assert runner.wanted_attributes() == {"description": "docker", "tag_list": ["docker", "linux"], "paused": True}


def test_fifty_tags_are_allowed_and_repeats_do_not_count():
    runner = desired(tags=[f"t{i}" for i in range(50)] * 2)
    assert len(runner.attributes["tag_list"]) == 50


@given(st.lists(st.text(alphabet="abcdefgh-", min_size=1, max_size=6), max_size=8), st.randoms())
def test_tag_order_and_repeats_never_make_a_difference(tags, rnd):
    shuffled = list(tags) + list(tags[:2])
    rnd.shuffle(shuffled)
    assert differences({"tag_list": normalize_tags(tags)}, {"tag_list": shuffled}) == {}


def test_differences_compare_only_what_is_declared():
    current = {"description": "docker", "tag_list": ["a"], "paused": False, "maintenance_note": None,
               "maximum_timeout": 3600}
    assert differences({"description": "docker", "maintenance_note": ""}, current) == {}
    assert differences({"paused": True, "tag_list": ["b", "a"]}, current) == {"paused": True, "tag_list": ["b", "a"]}


def test_known_tokens_are_checked_once_per_distinct_token():
    runner = desired(known_tokens=[{"token": "glrt-a", "system_id": "s_1"}, {"token": "glrt-b", "system_id": "s_2"},
                                   {"token": "glrt-a", "system_id": "s_3"}])
    assert runner.distinct_known_tokens() == [("glrt-a", "s_1", None), ("glrt-b", "s_2", None)]


def test_owner_read_from_details():
    assert owner_from_details(details(5)).as_dict() == {"type": "group", "id": 7, "path": "platform/ci"}
    project = details(6, runner_type="project_type", groups=[],
                      projects=[{"id": 11, "path_with_namespace": "platform/ci/app"}])
    assert owner_from_details(project).as_dict() == {"type": "project", "id": 11, "path": "platform/ci/app"}
    assert owner_from_details({"runner_type": "instance_type"}).as_dict() == {"type": "instance", "id": None,
                                                                              "path": None}


# ---------------------------------------------------------------------- finding


def test_find_lists_only_the_owner_runners_of_the_type_and_reads_only_matches():
    fake = group_fake(runners=[listed(1, "other"), listed(2, "docker"), listed(3, "docker-2")],
                      runner_details=[details(2)])
    found = RunnerLookup(fake).find(desired(), Owner("group", 7, "platform/ci"))
    assert found["id"] == 2
    assert [(c["method"], c["path"]) for c in fake.calls] == [("LIST", "/groups/7/runners"), ("GET", "/runners/2")]
    assert fake.calls[0]["query"] == {"type": "group_type"}


def test_runner_of_an_ancestor_group_with_the_same_name_is_not_ours():
    fake = group_fake(runners=[listed(4, "docker")], runner_details=[details(4, group=PARENT)])
    assert RunnerLookup(fake).find(desired(), Owner("group", 7, "platform/ci")) is None
    assert fake.count("GET") == 1


def test_two_runners_with_the_name_fail_naming_both_ids():
    fake = group_fake(runners=[listed(12, "docker"), listed(9, "docker")], runner_details=[details(12), details(9)])
    with pytest.raises(RunnerOpsError) as caught:
        RunnerLookup(fake).find(desired(), Owner("group", 7, "platform/ci"))
    assert "ids 9, 12" in str(caught.value)
    assert "will not guess" in str(caught.value)


def test_two_instance_runners_fail_without_reading_them():
    fake = FakeClient().on("LIST", "/runners/all", [listed(1, "docker", "instance_type"),
                                                    listed(2, "docker", "instance_type")])
    with pytest.raises(RunnerOpsError) as caught:
        RunnerLookup(fake).find(desired(runner_type="instance_type", group=None), Owner("instance"))
    assert "ids 1, 2" in str(caught.value)
    assert fake.count("GET") == 0


def test_pinned_id_is_one_get_and_renames():
    fake = FakeClient().on("GET", "/groups/platform%2Fci", GROUP).on("GET", "/runners/5", details(5, "old-name"))
    fake.on("PUT", "/runners/5", lambda data: details(5, data["description"]))
    result = ensure(fake, id=5)
    assert [(c["method"], c["path"]) for c in fake.calls] == [
        ("GET", "/groups/platform%2Fci"), ("GET", "/runners/5"), ("PUT", "/runners/5")]
    assert fake.calls[-1]["data"] == {"description": "docker"}
    assert result["changed"] is True
    assert result["diff"]["before"]["description"] == "old-name"
    assert result["runner"]["description"] == "docker"


@pytest.mark.parametrize("pinned, words", [
    (details(5, runner_type="project_type", groups=[], projects=[{"id": 11, "path_with_namespace": "x/app"}]),
     "is a project_type runner, but the definition declares group_type"),
    (details(5, group=PARENT), "belongs to group 'platform', not group 'platform/ci'"),
])
def test_pinned_runner_of_another_type_or_owner_cannot_be_fixed_in_place(pinned, words):
    fake = FakeClient().on("GET", "/groups/platform%2Fci", GROUP).on("GET", "/runners/5", pinned)
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, id=5)
    assert words in str(caught.value)
    assert "in place" in str(caught.value)
    assert not fake.writes()


def test_pinned_id_that_does_not_exist_fails_for_present():
    fake = FakeClient().on("GET", "/groups/platform%2Fci", GROUP)
    fake.on("GET", "/runners/5", GitLabAnswer(404, {"message": "404 Runner Not Found"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, id=5)
    assert "GitLab has no runner with id 5" in str(caught.value)


def test_unknown_group_names_it_and_says_how_to_fix():
    fake = FakeClient().on("GET", "/groups/platform%2Fci", GitLabAnswer(404, {"message": "404 Group Not Found"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake)
    text = str(caught.value)
    assert "Looking up group 'platform/ci' for runner 'docker' failed: GitLab answered 404: 404 Group Not Found" in text
    assert "member" in caught.value.fix


def test_numeric_group_is_used_without_a_lookup_and_its_path_read_from_the_runner():
    fake = FakeClient().on("LIST", "/groups/7/runners", [listed(2)]).on("GET", "/runners/2", details(2))
    result = ensure(fake, group="7")
    assert [(c["method"], c["path"]) for c in fake.calls] == [("LIST", "/groups/7/runners"), ("GET", "/runners/2")]
    assert result["runner"]["owner"] == {"type": "group", "id": 7, "path": "platform/ci"}


def test_numeric_group_creates_with_that_id_without_a_lookup():
    fake = FakeClient().on("LIST", "/groups/7/runners", [])
    fake.on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_new", "token_expires_at": None})
    result = ensure(fake, group="7")
    # The listing after the create looks for a twin another run may have created at the same time.
    assert [(c["method"], c["path"]) for c in fake.calls] == [("LIST", "/groups/7/runners"), ("POST", "/user/runners"),
                                                              ("LIST", "/groups/7/runners")]
    assert fake.writes()[0]["data"]["group_id"] == 7
    assert result["runner"]["owner"] == {"type": "group", "id": 7, "path": None}


def test_numeric_group_that_does_not_exist_names_it_and_writes_nothing():
    fake = FakeClient().on("LIST", "/groups/70/runners", GitLabAnswer(404, {"message": "404 Group Not Found"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, group="70")
    assert "Listing the runners of group 70 for runner 'docker' failed: GitLab answered 404" in str(caught.value)
    assert "check group '70'" in caught.value.fix and "member" in caught.value.fix
    assert fake.writes() == []


# ---------------------------------------------------------------------- creating


def test_create_sends_numeric_owner_and_declared_attributes_once():
    fake = group_fake().on("POST", "/user/runners",
                           {"id": 31, "token": "glrt-t2_new", "token_expires_at": "2026-03-01T10:00:00.000Z"})
    result = ensure(fake, tags=["b", "a"], run_untagged=False, maximum_timeout=3600)
    post = fake.writes()
    assert len(post) == 1
    assert post[0]["data"] == {"runner_type": "group_type", "group_id": 7, "description": "docker",
                               "tag_list": ["a", "b"], "run_untagged": False, "maximum_timeout": 3600}
    assert post[0]["retry_transient"] is False
    assert result["token"] == "glrt-t2_new"
    assert result["token_source"] == "created"
    assert result["token_expires_at"] == "2026-03-01T10:00:00.000Z"
    assert result["runner"]["id"] == 31
    assert result["runner"]["owner"] == {"type": "group", "id": 7, "path": "platform/ci"}
    assert result["diff"]["before"] == {}


def test_check_mode_create_makes_no_write_and_says_no_token():
    fake = group_fake()
    result = ensure(fake, check_mode=True, tags=["x"])
    assert fake.writes() == []
    assert result["changed"] is True
    assert result["token"] is None
    assert result["token_source"] == "would_create"
    assert result["runner"]["id"] is None
    assert result["diff"]["after"]["tags"] == ["x"]


def test_lost_create_answer_recovers_by_reset_without_a_second_create():
    fake = group_fake()
    fake.on("LIST", "/groups/7/runners", [], [listed(40, "docker")])
    fake.on("POST", "/user/runners", Dropped)
    fake.on("GET", "/runners/40", details(40))
    fake.on("GET", "/runners/40/managers", [])
    fake.on("POST", "/runners/40/reset_authentication_token", {"token": "glrt-t2_rec", "token_expires_at": None})
    ensurer = RunnerEnsurer(fake, desired(), run_preflight=False)
    result = ensurer.run()
    assert fake.count("POST") == 2
    assert [c["path"] for c in fake.writes()] == ["/user/runners", "/runners/40/reset_authentication_token"]
    assert result["token"] == "glrt-t2_rec"
    assert result["token_source"] == "reset"
    assert result["runner"]["id"] == 40
    assert "runner 40" in ensurer.warnings[0]


@pytest.mark.parametrize("failure", [Dropped, GitLabAnswer(502, {"message": "502 Bad Gateway"})])
def test_failed_create_that_made_nothing_says_rerun_is_safe(failure):
    fake = group_fake().on("POST", "/user/runners", failure)
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake)
    assert "none was created; running again is safe" in str(caught.value)
    assert fake.count("LIST") == 2
    assert fake.count("POST") == 1


@pytest.mark.parametrize("body, fix_words", [
    ({"message": "403 Forbidden - Insufficient permissions"}, "Owner role on group 'platform/ci'"),
    ({"error": "insufficient_scope", "error_description": "The request requires higher privileges than provided "
      "by the access token.", "scope": "api create_runner"}, "create_runner"),
    ({"message": "400 Bad request - Tags list can not be empty when runner is not allowed to pick untagged jobs"},
     "declare at least one tag"),
])
def test_refused_create_is_not_looked_up_again_and_explains(body, fix_words):
    status = int(next(iter(body.values()))[:3]) if "message" in body else 403
    fake = group_fake().on("POST", "/user/runners", GitLabAnswer(status, body))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake)
    assert fake.count("LIST") == 1
    assert str(caught.value).startswith("Creating runner 'docker' in group 'platform/ci' failed: GitLab answered")
    assert fix_words in caught.value.fix


# ---------------------------------------------------------------------- updating


def test_update_puts_only_the_difference_once():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("PUT", "/runners/2", lambda data: details(2, **data))
    result = ensure(fake, tags=["docker", "linux", "gpu"], paused=False, maximum_timeout=3600)
    assert [c["method"] for c in fake.writes()] == ["PUT"]
    assert fake.writes()[0]["data"] == {"tag_list": ["docker", "gpu", "linux"]}
    assert result["changed"] is True
    assert result["diff"]["before"]["tags"] == ["docker", "linux"]
    assert result["diff"]["after"]["tags"] == ["docker", "gpu", "linux"]
    assert result["token"] is None and result["token_source"] is None


def test_runner_as_declared_is_not_changed_and_makes_no_write():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    result = ensure(fake, tags=["linux", "docker"], run_untagged=False)
    assert result["changed"] is False
    assert fake.writes() == []
    assert fake.count() == 3


def test_check_mode_update_predicts_without_put():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    result = ensure(fake, check_mode=True, paused=True)
    assert result["changed"] is True
    assert result["diff"]["after"]["paused"] is True
    assert fake.writes() == []


def test_update_refused_for_validation_names_the_option():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2, tag_list=[])])
    fake.on("PUT", "/runners/2", GitLabAnswer(400, {"message": {"tags_list": [
        "can not be empty when runner is not allowed to pick untagged jobs"]}}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, run_untagged=False, paused=True)
    assert "Updating runner 'docker' (id 2) in group 'platform/ci': paused" in str(caught.value)
    assert "declare at least one tag" in caught.value.fix


# ---------------------------------------------------------------------- tokens


def verify_answer(runner_id, token):
    return {"id": runner_id, "token": token, "token_expires_at": "2026-05-01T00:00:00.000Z"}


def tokens(*pairs):
    return [{"token": token, "system_id": system_id} for token, system_id in pairs]


def test_first_valid_known_token_is_kept_and_checked_with_its_holder():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", GitLabAnswer(403, {"message": "403 Forbidden"}),
            verify_answer(2, "glrt-good"))
    known = tokens(("glrt-old", "s_a"), ("glrt-old", "s_b"), ("glrt-good", "s_c"), ("glrt-later", "s_d"))
    result = ensure(fake, known_tokens=known)
    verified = [c["data"] for c in fake.calls if c["path"] == "/runners/verify"]
    assert verified == [{"token": "glrt-old", "system_id": "s_a"}, {"token": "glrt-good", "system_id": "s_c"}]
    assert result["token"] == "glrt-good"
    assert result["token_source"] == "existing"
    assert result["token_expires_at"] == "2026-05-01T00:00:00.000Z"
    assert result["changed"] is False


def test_token_of_another_runner_is_not_accepted():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", verify_answer(99, "glrt-other"))
    fake.on("POST", "/runners/2/reset_authentication_token", {"token": "glrt-fresh", "token_expires_at": None})
    result = ensure(fake, known_tokens=tokens(("glrt-other", "s_a")))
    assert result["token"] == "glrt-fresh"
    assert result["token_source"] == "reset"
    assert result["changed"] is True


def test_no_valid_token_and_reset_forbidden_fails_and_explains():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", GitLabAnswer(403, {"message": "403 Forbidden"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, known_tokens=tokens(("glrt-a", "s_a"), ("glrt-b", "s_b")), token_reset="never")
    text = str(caught.value)
    assert "none of the 2 distinct known token(s) is valid for runner 2" in text
    assert "token_reset is never" in text
    assert [c["path"] for c in fake.writes()] == ["/runners/verify", "/runners/verify"]


def test_always_rotates_without_checking_known_tokens():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/2/reset_authentication_token", {"token": "glrt-rot", "token_expires_at": None})
    result = ensure(fake, known_tokens=tokens(("glrt-a", "s_a")), token_reset="always")
    assert [c["path"] for c in fake.writes()] == ["/runners/2/reset_authentication_token"]
    assert result["token_source"] == "reset"


def test_without_known_tokens_an_existing_runner_token_is_left_alone():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    result = ensure(fake)
    assert (result["token"], result["token_source"], result["changed"]) == (None, None, False)


def test_empty_known_tokens_means_no_host_has_one_so_reset():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/2/reset_authentication_token", {"token": "glrt-r", "token_expires_at": None})
    assert ensure(fake, known_tokens=[])["token_source"] == "reset"


@pytest.mark.parametrize("params, source, changed", [
    ({"known_tokens": tokens(("glrt-a", "s_a"))}, "would_verify", False),
    ({"known_tokens": []}, "would_reset", True),
    ({"token_reset": "always"}, "would_reset", True),
])
def test_check_mode_never_checks_or_resets_tokens(params, source, changed):
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    result = ensure(fake, check_mode=True, **params)
    assert fake.writes() == []
    assert (result["token"], result["token_source"], result["changed"]) == (None, source, changed)


def test_transient_verify_failure_is_not_taken_for_an_invalid_token():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", GitLabAnswer(503, {"message": "503 Service Unavailable"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, known_tokens=tokens(("glrt-a", "s_a")))
    assert caught.value.status == 503
    assert "glrt-a" not in str(caught.value)
    assert all(c["path"] != "/runners/2/reset_authentication_token" for c in fake.calls)


# ---------------------------------------------------------------------- absent


def test_absent_deletes_and_absent_again_is_no_change():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)]).on("DELETE", "/runners/2", None)
    result = ensure(fake, state="absent")
    assert result["changed"] is True
    assert result["runner"] is None
    assert result["diff"]["before"]["id"] == 2 and result["diff"]["after"] == {}
    assert [c["method"] for c in fake.writes()] == ["DELETE"]

    again = group_fake()
    assert ensure(again, state="absent")["changed"] is False
    assert again.writes() == []


# ---------------------------------------------------------------------- preflight and scopes


def pat(*scopes):
    return {"id": 1, "name": "fleet", "scopes": list(scopes), "active": True, "revoked": False,
            "expires_at": None}


def test_preflight_needs_follow_the_plan_and_fail_before_a_write():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("GET", "/personal_access_tokens/self", pat("read_api", "create_runner"))
    fake.on("GET", "/version", {"version": "17.11.1-ee"})
    ensurer = RunnerEnsurer(fake, desired(paused=True), run_preflight=True)
    with pytest.raises(RunnerOpsError) as caught:
        ensurer.run()
    assert "Updating runner 'docker' (id 2)" in str(caught.value)
    assert "manage_runner" in str(caught.value)
    assert fake.writes() == []
    assert ensurer.changed is False


def test_create_only_token_fails_at_preflight_naming_read_api():
    fake = FakeClient().on("GET", "/personal_access_tokens/self", pat("create_runner"))
    with pytest.raises(RunnerOpsError) as caught:
        RunnerEnsurer(fake, desired(), run_preflight=True).run()
    assert "for runner 'docker'" in str(caught.value)
    assert "read_api" in str(caught.value)
    assert fake.count() == 1


def test_least_privilege_token_creates_after_preflight():
    fake = group_fake().on("POST", "/user/runners", {"id": 8, "token": "glrt-x", "token_expires_at": None})
    fake.on("GET", "/personal_access_tokens/self", pat("read_api", "create_runner"))
    fake.on("GET", "/version", {"version": "17.11.1-ee"})
    result = RunnerEnsurer(fake, desired(), run_preflight=True).run()
    assert result["token_source"] == "created"
    assert [c["path"] for c in fake.calls[:2]] == ["/personal_access_tokens/self", "/version"]


# ---------------------------------------------------------------------- reading


def test_reader_filters_on_the_server_and_by_name_before_reading():
    fake = FakeClient().on("GET", "/groups/platform%2Fci", GROUP)
    fake.on("LIST", "/groups/7/runners", [listed(1, "a"), listed(2, "docker")])
    fake.on("GET", "/runners/2", details(2))
    fake.on("GET", "/runners/2/managers", [{"id": 1, "system_id": "s_1", "status": "online", "token": "x"}])
    reader = RunnerReader(fake)
    runners = reader.gather(group="platform/ci", runner_type="group_type", status="online", tags=["b", "a"],
                            paused=False, name="docker")
    assert fake.calls[1]["query"] == {"type": "group_type", "status": "online", "tag_list": "a,b", "paused": "false"}
    assert [r["id"] for r in runners] == [2]
    assert runners[0]["managers"][0]["system_id"] == "s_1"
    assert "token" not in runners[0]["managers"][0]
    assert fake.count("GET") == 3


def test_reader_says_when_gitlab_has_no_managers_endpoint_and_asks_once():
    fake = FakeClient().on("LIST", "/runners", [listed(1), listed(2)])
    fake.on("GET", "/runners/1", details(1)).on("GET", "/runners/2", details(2))
    fake.on("GET", "/runners/1/managers", GitLabAnswer(404, {"error": "404 Not Found"}))
    fake.on("GET", "/version", {"version": "16.11.0-ee"})
    reader = RunnerReader(fake)
    runners = reader.gather()
    assert [r["managers"] for r in runners] == [None, None]
    assert len([c for c in fake.calls if c["path"].endswith("/managers")]) == 1
    assert "GitLab 16.11.0-ee has no REST endpoint for runner managers" in reader.warnings[0]


# ---------------------------------------------------------------------- the id hosts carry


def known_fake(runner):
    """Only the runner read is scripted: an owner lookup or a listing would be an unexpected call."""
    return FakeClient().on("GET", f"/runners/{runner['id']}", runner)


def test_known_id_as_declared_costs_one_read_and_one_check_per_token():
    fake = known_fake(details(2))
    fake.on("POST", "/runners/verify", verify_answer(2, "glrt-good"))
    result = ensure(fake, known_id=2, tags=["docker", "linux"], known_tokens=tokens(("glrt-good", "s_a"),
                                                                                    ("glrt-good", "s_b")))
    assert [(c["method"], c["path"]) for c in fake.calls] == [("GET", "/runners/2"), ("POST", "/runners/verify")]
    assert (result["changed"], result["token"], result["token_source"]) == (False, "glrt-good", "existing")
    assert result["runner"]["owner"] == {"type": "group", "id": 7, "path": "platform/ci"}


@pytest.mark.parametrize("group", ["platform/ci", "Platform/CI", "7"])
def test_known_id_owner_is_proved_by_path_or_id_from_the_details(group):
    fake = known_fake(details(2))
    result = ensure(fake, known_id=2, group=group)
    assert fake.count() == 1
    assert result["runner"]["id"] == 2 and result["changed"] is False


def test_known_id_of_a_project_runner_is_proved_by_the_project_path():
    project = {"id": 11, "path_with_namespace": "platform/ci/app"}
    fake = known_fake(details(6, runner_type="project_type", groups=[], projects=[project]))
    result = ensure(fake, known_id=6, runner_type="project_type", group=None, project="platform/ci/app")
    assert fake.count() == 1
    assert result["runner"]["owner"] == {"type": "project", "id": 11, "path": "platform/ci/app"}


@pytest.mark.parametrize("hinted", [
    details(4, "docker-old"),
    details(4, group=PARENT),
    details(4, runner_type="instance_type", groups=[]),
], ids=["renamed", "ancestor-group", "instance-runner"])
def test_known_id_that_is_not_this_runner_falls_back_to_finding_by_name(hinted):
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("GET", "/runners/4", hinted)
    result = ensure(fake, known_id=4)
    assert [(c["method"], c["path"]) for c in fake.calls] == [
        ("GET", "/runners/4"), ("GET", "/groups/platform%2Fci"), ("LIST", "/groups/7/runners"), ("GET", "/runners/2")]
    assert result["runner"]["id"] == 2
    assert fake.writes() == []


@pytest.mark.parametrize("answer", [GitLabAnswer(404, {"message": "404 Runner Not Found"}),
                                    GitLabAnswer(403, {"message": "403 Forbidden"})])
def test_known_id_gone_or_unreadable_finds_by_name_and_creates_when_missing(answer):
    fake = group_fake().on("GET", "/runners/9", answer)
    fake.on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_new", "token_expires_at": None})
    fake.on("POST", "/runners/verify", verify_answer(31, "glrt-t2_new"))
    result = ensure(fake, known_id=9, known_tokens=tokens(("glrt-dead", "s_a")))
    # The new token is checked once with the holder's system id, so GitLab lists that host as its manager.
    assert [c["path"] for c in fake.writes()] == ["/user/runners", "/runners/verify"]
    assert (result["token"], result["token_source"], result["runner"]["id"]) == ("glrt-t2_new", "created", 31)


def test_known_id_fallback_still_refuses_two_runners_with_the_name():
    fake = group_fake(runners=[listed(12), listed(9)], runner_details=[details(12), details(9)])
    fake.on("GET", "/runners/5", GitLabAnswer(404, {"message": "404 Runner Not Found"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, known_id=5)
    assert "ids 9, 12" in str(caught.value)


def test_known_id_read_failing_on_the_server_is_not_taken_for_a_missing_runner():
    fake = FakeClient().on("GET", "/runners/2", GitLabAnswer(503, {"message": "503 Service Unavailable"}))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, known_id=2)
    assert caught.value.status == 503
    assert fake.writes() == []


def test_known_id_in_check_mode_reads_once_and_predicts_the_update():
    fake = known_fake(details(2))
    result = ensure(fake, check_mode=True, known_id=2, paused=True, known_tokens=tokens(("glrt-a", "s_a")))
    assert fake.count() == 1 and fake.writes() == []
    assert result["changed"] is True and result["diff"]["after"]["paused"] is True
    assert result["token_source"] == "would_verify"


def test_known_id_of_a_runner_to_delete_is_read_then_deleted():
    fake = known_fake(details(2)).on("DELETE", "/runners/2", None)
    result = ensure(fake, known_id=2, state="absent")
    assert [(c["method"], c["path"]) for c in fake.calls] == [("GET", "/runners/2"), ("DELETE", "/runners/2")]
    assert result["changed"] is True


def test_known_id_and_a_pinned_id_are_refused_together():
    with pytest.raises(RunnerOpsError) as caught:
        desired(id=2, known_id=2)
    assert "id and known_id are both set" in str(caught.value)


# ---------------------------------------------------------------------- taking turns


class RecordingLock:
    """Notes how many API calls had been made when the lock was taken and released."""

    def __init__(self, fake):
        self.fake = fake
        self.spans = []

    def __enter__(self):
        self.spans.append([self.fake.count(), None])
        return self

    def __exit__(self, *exc_info):
        self.spans[-1][1] = self.fake.count()
        return False


def test_lock_is_held_from_finding_the_runner_to_creating_it():
    fake = group_fake().on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_new", "token_expires_at": None})
    lock = RecordingLock(fake)
    result = RunnerEnsurer(fake, desired(), lock=lock, run_preflight=False).run()
    assert lock.spans == [[0, 4]]  # owner lookup, listing, create and the look for a twin, all inside
    assert result["token_source"] == "created"
    obtained = datetime.datetime.strptime(result["token_obtained_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - obtained).total_seconds()) < 60


def test_check_mode_takes_no_lock_and_an_existing_token_has_no_obtained_time():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", verify_answer(2, "glrt-good"))
    lock = RecordingLock(fake)
    RunnerEnsurer(fake, desired(tags=["docker", "linux"]), check_mode=True, lock=lock, run_preflight=False).run()
    assert lock.spans == []
    result = RunnerEnsurer(fake, desired(tags=["docker", "linux"], known_tokens=tokens(("glrt-good", "s_a"))),
                           lock=lock, run_preflight=False).run()
    assert (result["token_source"], result["token_obtained_at"]) == ("existing", None)
    assert len(lock.spans) == 1


# ---------------------------------------------------------------------- live hosts a reset would cut off


def ago(seconds):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def manager(system_id, contacted_seconds_ago, **extra):
    body = {"id": 1, "system_id": system_id, "version": "17.11.0", "ip_address": "10.0.0.7",
            "contacted_at": None if contacted_seconds_ago is None else ago(contacted_seconds_ago)}
    body.update(extra)
    return body


class Ago:
    """A moment that many seconds before the test runs (not before the tests were collected)."""

    def __init__(self, seconds):
        self.seconds = seconds


def reset_fake(managers, **detail_overrides):
    detail_overrides = {key: ago(value.seconds) if isinstance(value, Ago) else value
                        for key, value in detail_overrides.items()}
    fake = group_fake(runners=[listed(2)], runner_details=[details(2, **detail_overrides)])
    fake.on("POST", "/runners/verify", GitLabAnswer(403, {"message": "403 Forbidden"}))
    fake.on("GET", "/runners/2/managers", managers)
    fake.on("POST", "/runners/2/reset_authentication_token", {"token": "glrt-fresh", "token_expires_at": None})
    return fake


RESET = "/runners/2/reset_authentication_token"


@pytest.mark.parametrize("case, managers, params, detail_overrides, resets, words", [
    ("a live host outside the run", [manager("s_outside", 60)], {"run_system_ids": ["s_a", "s_h3"]}, {}, False,
     ["s_outside (IP address 10.0.0.7, version 17.11.0, last contact", "belong to no host of this run",
      "would cut them off"]),
    ("the only live manager is a host of the run", [manager("s_h3", 60)], {"run_system_ids": ["s_a", "s_h3"]}, {},
     True, []),
    ("without run_system_ids the holders are the run", [manager("s_a", 60)], {}, {}, True, []),
    ("a manager silent for longer than the window", [manager("s_gone", 7300)], {"run_system_ids": ["s_a"]}, {},
     True, []),
    ("a shorter window makes an hour-old contact old", [manager("s_gone", 3600)],
     {"run_system_ids": ["s_a"], "live_manager_window": 600}, {}, True, []),
    ("a manager that never made contact", [manager("s_new", None)], {"run_system_ids": ["s_a"]}, {}, True, []),
    ("a runner created moments ago that no host used yet", [], {"run_system_ids": ["s_a"]},
     {"created_at": Ago(30)}, False, ["was created at", "no host has used its token yet", "another run",
                                      "run again after 300 seconds"]),
    ("a runner unclaimed for longer than the claim window is an orphan", [], {"run_system_ids": ["s_a"]},
     {"created_at": Ago(400)}, True, []),
    ("within an hour but past the claim window: still an orphan", [], {"run_system_ids": ["s_a"]},
     {"created_at": Ago(3600)}, True, []),
    ("a shorter live window shortens the claim window", [], {"run_system_ids": ["s_a"], "live_manager_window": 60},
     {"created_at": Ago(120)}, True, []),
    ("an old runner no host ever used", [], {"run_system_ids": ["s_a"]}, {}, True, []),
    ("switched off on purpose", [manager("s_outside", 60)], {"protect_live_managers": False}, {}, True, []),
])
def test_a_reset_never_cuts_off_a_live_host_outside_the_run(case, managers, params, detail_overrides, resets, words):
    fake = reset_fake(managers, **detail_overrides)
    params = dict(params, known_tokens=tokens(("glrt-old", "s_a")))
    if resets:
        assert ensure(fake, **params)["token_source"] == "reset", case
    else:
        with pytest.raises(RunnerOpsError) as caught:
            ensure(fake, **params)
        text = str(caught.value)
        assert text.startswith("Resetting the token of runner 'docker' (id 2) failed"), case
        for word in words:
            assert word in text, (case, word)
        assert "glrt-" not in text
    assert any(c["path"] == RESET for c in fake.writes()) is resets, case


def test_gitlab_without_managers_endpoint_judges_by_the_runners_last_contact():
    fake = reset_fake(GitLabAnswer(404, {"message": "404 Not Found"}), contacted_at=ago(120))
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, known_tokens=tokens(("glrt-old", "s_a")))
    assert "lists no runner managers" in str(caught.value)
    quiet = reset_fake(GitLabAnswer(404, {"message": "404 Not Found"}), contacted_at=ago(90000))
    assert ensure(quiet, known_tokens=tokens(("glrt-old", "s_a")))["token_source"] == "reset"


def test_explicit_rotation_is_not_guarded_unless_asked():
    fake = reset_fake([manager("s_outside", 60)])
    assert ensure(fake, token_reset="always")["token_source"] == "reset"
    assert all(not c["path"].endswith("/managers") for c in fake.calls)  # no read for an explicit rotation
    guarded = reset_fake([manager("s_outside", 60)])
    with pytest.raises(RunnerOpsError):
        ensure(guarded, token_reset="always", protect_live_managers=True, run_system_ids=["s_a"])
    assert all(c["path"] != RESET for c in guarded.writes())


def test_check_mode_predicts_a_refused_reset_without_writing():
    fake = reset_fake([manager("s_outside", 60)])
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake, check_mode=True, known_tokens=[], run_system_ids=["s_a"])
    assert "s_outside" in str(caught.value)
    assert fake.writes() == []


def test_no_managers_read_when_a_held_token_is_valid():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", verify_answer(2, "glrt-good"))
    ensure(fake, known_tokens=tokens(("glrt-good", "s_a")), run_system_ids=["s_a", "s_b"])
    assert all(not c["path"].endswith("/managers") for c in fake.calls)


# ---------------------------------------------------------------------- two runs creating one runner


def test_a_new_runner_is_claimed_for_a_host_of_the_run():
    fake = group_fake().on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_new", "token_expires_at": None})
    fake.on("POST", "/runners/verify", verify_answer(31, "glrt-t2_new"))
    ensure(fake, known_tokens=[], run_system_ids=["s_b", "s_a"])
    claims = [c["data"] for c in fake.calls if c["path"] == "/runners/verify"]
    assert claims == [{"token": "glrt-t2_new", "system_id": "s_a"}]


def test_a_failed_claim_warns_and_keeps_the_token():
    fake = group_fake().on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_new", "token_expires_at": None})
    fake.on("POST", "/runners/verify", GitLabAnswer(503, {"message": "503 Service Unavailable"}))
    ensurer = RunnerEnsurer(fake, desired(known_tokens=[], run_system_ids=["s_a"]), run_preflight=False)
    result = ensurer.run()
    assert (result["token"], result["token_source"]) == ("glrt-t2_new", "created")
    assert "Could not record a manager" in ensurer.warnings[0]
    assert "glrt-" not in ensurer.warnings[0]


def test_a_run_whose_runner_is_younger_than_its_twin_deletes_it_and_fails():
    fake = group_fake()
    fake.on("LIST", "/groups/7/runners", [], [listed(30), listed(31)])
    fake.on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_mine", "token_expires_at": None})
    fake.on("GET", "/runners/30", details(30))
    fake.on("DELETE", "/runners/31", None)
    with pytest.raises(RunnerOpsError) as caught:
        ensure(fake)
    text = str(caught.value)
    assert "another run created the same runner at the same time (runner 30)" in text
    assert "deleted its own duplicate (runner 31) before any host received its token" in text
    assert "glrt-t2_mine" not in text
    assert [(c["method"], c["path"]) for c in fake.writes()] == [("POST", "/user/runners"), ("DELETE", "/runners/31")]


@pytest.mark.parametrize("twins, details_read", [
    ([listed(31), listed(35)], []),          # a younger twin: its own run removes it
    ([listed(31), listed(20, "other")], []),  # another name
])
def test_the_oldest_runner_of_a_name_is_kept(twins, details_read):
    fake = group_fake()
    fake.on("LIST", "/groups/7/runners", [], twins)
    fake.on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_mine", "token_expires_at": None})
    result = ensure(fake)
    assert (result["token_source"], result["runner"]["id"]) == ("created", 31)
    assert [c["method"] for c in fake.writes()] == ["POST"]


def test_an_older_twin_in_another_owner_is_not_a_duplicate():
    fake = group_fake()
    fake.on("LIST", "/groups/7/runners", [], [listed(12), listed(31)])
    fake.on("POST", "/user/runners", {"id": 31, "token": "glrt-t2_mine", "token_expires_at": None})
    # GitLab's group list shows runners of ancestor groups too: runner 12 belongs to the parent group.
    fake.on("GET", "/runners/12", details(12, group=PARENT))
    assert ensure(fake)["runner"]["id"] == 31


# ---------------------------------------------------------------------- holders


def test_a_holder_with_an_api_token_is_set_aside_named_and_never_echoed():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", verify_answer(2, "glrt-good"))
    known = [{"token": "glrt-good", "system_id": "s_a", "host": "h1"},
             {"token": "glpat-pasted-by-mistake", "system_id": "s_b", "host": "h2"}]
    ensurer = RunnerEnsurer(fake, desired(known_tokens=known), run_preflight=False)
    result = ensurer.run()
    assert (result["token"], result["token_source"]) == ("glrt-good", "existing")
    assert result["ignored_known_tokens"] == [{"index": 1, "host": "h2", "system_id": "s_b",
                                               "reason": "a personal, group or project access token (glpat-)"}]
    assert "held by host h2 (system id s_b)" in ensurer.warnings[0]
    assert "glpat-pasted" not in " ".join(ensurer.warnings)
    assert [c["data"]["token"] for c in fake.calls if c["path"] == "/runners/verify"] == ["glrt-good"]


def test_only_bad_holders_means_no_host_holds_a_token():
    fake = reset_fake([])
    result = ensure(fake, known_tokens=[{"token": "glpat-x", "system_id": "s_a"}])
    assert result["token_source"] == "reset"
    assert all(c["path"] != "/runners/verify" for c in fake.calls)


def test_an_existing_token_keeps_the_earliest_age_its_holders_know():
    fake = group_fake(runners=[listed(2)], runner_details=[details(2)])
    fake.on("POST", "/runners/verify", verify_answer(2, "glrt-good"))
    known = [{"token": "glrt-good", "system_id": "s_a", "obtained_at": "2026-03-02T10:00:00Z"},
             {"token": "glrt-good", "system_id": "s_b", "obtained_at": "2026-03-01T08:30:00+00:00"},
             {"token": "glrt-good", "system_id": "s_c"}]
    result = ensure(fake, known_tokens=known)
    assert (result["token_source"], result["token_obtained_at"]) == ("existing", "2026-03-01T08:30:00+00:00")


@pytest.mark.parametrize("extra, reason", [
    ({"token_rotation_deadline": "2030-01-01T00:00:00Z"}, "token_rotation_deadline is set without token_expires_at."),
    ({"token_expires_at": "2020-01-01T00:00:00Z"}, "token_expires_at 2020-01-01T00:00:00Z is less than 5 minutes ahead"),
    ({"token_expires_at": "2030-01-01T00:00:00Z", "token_rotation_deadline": "2030-01-02T00:00:00Z"},
     "token_rotation_deadline 2030-01-02T00:00:00Z is later than token_expires_at 2030-01-01T00:00:00Z."),
    ({"token_expires_at": "soon"}, "token_expires_at 'soon' is not a date and time"),
])
def test_a_requested_expiry_gitlab_would_refuse_fails_before_any_call(extra, reason):
    params = {"name": "r", "runner_type": "instance_type", **extra}
    with pytest.raises(RunnerOpsError) as raised:
        DesiredRunner.from_params(params)
    assert raised.value.reason.startswith(reason)


def test_a_requested_expiry_travels_in_the_create_call_in_gitlabs_format():
    desired = DesiredRunner.from_params({"name": "r", "runner_type": "group_type", "group": "platform",
                                         "token_expires_at": "2030-01-01T10:00:00+01:00",
                                         "token_rotation_deadline": "2030-01-01T08:00:00Z"})
    payload = desired.create_payload(Owner(kind="group", id=5, path="platform"))
    assert payload["token_expires_at"] == "2030-01-01T09:00:00Z"
    assert payload["token_rotation_deadline"] == "2030-01-01T08:00:00Z"


@pytest.mark.parametrize("runner_type, ref, expected", [
    ("group_type", 5, {"group": 5}), ("project_type", "acme/app", {"project": "acme/app"}),
    ("instance_type", None, {}), ("instance_type", 5, {}), ("group_type", None, {}), ("group_type", "", {}),
    ("unknown_type", 5, {}),
])
def test_the_owner_option_follows_the_runner_type(runner_type, ref, expected):
    assert _runner_desired.owner_arguments(runner_type, ref) == expected
