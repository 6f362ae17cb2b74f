"""POST /user/runners: the glrt- creation workflow."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import gitlab
import pytest

from tests.simulator.sim_seed import ADMIN, ALICE, BOB, CAROL, DAVE, EVE

TOKEN = re.compile(r"glrt-t([123])_[A-Za-z0-9_-]{20}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def created(gl_for, token: str, data: dict) -> gitlab.base.RESTObject:
    gl = gl_for(token)
    gl.auth()
    return gl.user.runners.create(data)


@pytest.mark.parametrize(
    ("token", "data", "digit"),
    [
        (ADMIN, {"runner_type": "instance_type"}, "1"),
        (ADMIN, {"runner_type": "group_type", "group_id": 2}, "2"),
        (ALICE, {"runner_type": "group_type", "group_id": 1}, "2"),
        (ALICE, {"runner_type": "group_type", "group_id": 2}, "2"),  # Owner inherited by the subgroup
        (CAROL, {"runner_type": "project_type", "project_id": 1}, "3"),
        (BOB, {"runner_type": "project_type", "project_id": 1}, "3"),  # group Maintainer → project Maintainer
        (ALICE, {"runner_type": "project_type", "project_id": 1}, "3"),
    ],
)
def test_create_each_type(sim, gl_for, token, data, digit):
    runner = created(gl_for, token, data)
    assert set(runner.attributes) == {"id", "token", "token_expires_at"}
    assert runner.id == 6  # after the five seeded runners
    assert TOKEN.fullmatch(runner.token)[1] == digit
    assert runner.token_expires_at is None
    stored = sim.runner(runner.id)
    assert stored["token"] == runner.token and stored["registration_type"] == "authenticated_user"
    assert stored["managers"] == [] and stored["contacted_at"] is None


def test_attributes_are_stored(gl_for):
    gl = gl_for(ALICE)
    gl.auth()
    runner = gl.user.runners.create(
        {
            "runner_type": "group_type",
            "group_id": 1,
            "description": "fleet-a",
            "tag_list": ["docker", "arm64"],
            "run_untagged": False,
            "locked": True,
            "access_level": "ref_protected",
            "maximum_timeout": 3600,
            "paused": True,
            "maintenance_note": "rack 4",
        }
    )
    details = gl.runners.get(runner.id)
    assert details.description == "fleet-a"
    assert details.tag_list == ["docker", "arm64"]
    assert (details.run_untagged, details.locked, details.paused, details.active) == (False, True, True, False)
    assert details.access_level == "ref_protected" and details.maximum_timeout == 3600
    assert details.maintenance_note == "rack 4"
    assert details.created_by["username"] == "alice"
    assert details.groups == [{"id": 1, "web_url": f"{gl.url}/groups/platform", "name": "platform"}]


def test_defaults(gl_for):
    runner = created(gl_for, ADMIN, {"runner_type": "instance_type"})
    details = gl_for(ADMIN).runners.get(runner.id)
    assert details.description is None and details.tag_list == []
    assert (details.run_untagged, details.locked, details.paused) == (True, False, False)
    assert details.access_level == "not_protected" and details.maximum_timeout is None
    assert details.status == "never_contacted" and details.online is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"runner_type": "group_type", "group_id": 1, "tag_list": "a, b,,c"}},
        {"data": {"runner_type": "group_type", "group_id": "1", "tag_list": "a,b,c"}},
        {"data": [("runner_type", "group_type"), ("group_id", "1"), ("tag_list[]", "a"), ("tag_list[]", "b"),
                  ("tag_list[]", "c")]},
        {"params": {"runner_type": "group_type", "group_id": "1", "tag_list": "a,b,c"}},
    ],
    ids=["json-comma-string", "form-comma-string", "form-array", "query-string"],
)
def test_json_form_and_query_parameters(api, kwargs):
    response = api("POST", "/user/runners", token=ALICE, **kwargs)
    assert response.status_code == 201, response.text
    details = api("GET", f"/runners/{response.json()['id']}", token=ALICE).json()
    assert details["tag_list"] == ["a", "b", "c"]


def test_form_booleans(api):
    response = api("POST", "/user/runners", token=ALICE,
                   data={"runner_type": "group_type", "group_id": "1", "paused": "true", "locked": "1"})
    details = api("GET", f"/runners/{response.json()['id']}", token=ALICE).json()
    assert details["paused"] is True and details["locked"] is True


def test_token_expiry_from_settings(sim, gl_for):
    sim.settings(group_runner_token_expiration_interval=7200, runner_token_expiration_interval=86400)
    before = datetime.now(UTC)
    group_runner = created(gl_for, ALICE, {"runner_type": "group_type", "group_id": 1})
    instance_runner = created(gl_for, ADMIN, {"runner_type": "instance_type"})
    project_runner = created(gl_for, CAROL, {"runner_type": "project_type", "project_id": 1})
    assert TIME.fullmatch(group_runner.token_expires_at)
    expires = datetime.fromisoformat(group_runner.token_expires_at)
    assert timedelta(hours=2) - timedelta(seconds=5) < expires - before < timedelta(hours=2, seconds=5)
    assert datetime.fromisoformat(instance_runner.token_expires_at) - before > timedelta(hours=23)
    assert project_runner.token_expires_at is None


VALIDATION = [
    ({}, "runner_type is missing, runner_type does not have a valid value"),
    ({"runner_type": "shared"}, "runner_type does not have a valid value"),
    ({"runner_type": "group_type"}, "group_id is missing"),
    ({"runner_type": "project_type"}, "project_id is missing"),
    ({"runner_type": "group_type", "group_id": "platform"}, "group_id is invalid"),
    ({"runner_type": "project_type", "project_id": "platform/app"}, "project_id is invalid"),
    ({"runner_type": "group_type", "group_id": 1, "access_level": "all"}, "access_level does not have a valid value"),
    ({"runner_type": "group_type", "group_id": 1, "paused": "maybe"}, "paused is invalid"),
    ({"runner_type": "group_type", "group_id": 1, "maximum_timeout": "1h"}, "maximum_timeout is invalid"),
    ({"runner_type": "group_type", "group_id": 1, "tag_list": {"a": 1}}, "tag_list is invalid"),
    ({"runner_type": "nope", "paused": "maybe"}, "runner_type does not have a valid value, paused is invalid"),
]


@pytest.mark.parametrize(("body", "error"), VALIDATION)
def test_parameter_validation(api, body, error):
    response = api("POST", "/user/runners", token=ALICE, json=body)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_parameter_validation_comes_before_permission(api):
    # Bob may not create group runners, but the missing group_id is reported first.
    assert api("POST", "/user/runners", token=BOB, json={"runner_type": "group_type"}).json() == {
        "error": "group_id is missing"
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"runner_type": "group_type", "group_id": 999}, "400 Bad request - Missing/invalid group"),
        ({"runner_type": "project_type", "project_id": 999}, "400 Bad request - Missing/invalid project"),
    ],
)
def test_missing_namespace(api, body, message):
    response = api("POST", "/user/runners", token=ADMIN, json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message}


@pytest.mark.parametrize(
    ("token", "body"),
    [
        (BOB, {"runner_type": "group_type", "group_id": 1}),  # Maintainer is not enough for groups
        (DAVE, {"runner_type": "project_type", "project_id": 1}),  # Developer
        (ALICE, {"runner_type": "instance_type"}),  # only admins
        (EVE, {"runner_type": "group_type", "group_id": 1}),  # not a member (the group exists)
        (CAROL, {"runner_type": "project_type", "project_id": 2}),
    ],
)
def test_insufficient_permissions(sim, gl_for, token, body):
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        created(gl_for, token, body)
    assert caught.value.response_code == 403
    assert caught.value.error_message == "403 Forbidden - Insufficient permissions"
    assert len(sim.state()["runners"]) == 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"maximum_timeout": 300}, "Maximum timeout needs to be at least 10 minutes"),
        ({"tag_list": [f"t{i}" for i in range(51)]},
         "Tags list Too many tags specified. Please limit the number of tags to 50"),
        ({"run_untagged": False}, "Tags list can not be empty when runner is not allowed to pick untagged jobs"),
        ({"description": "x" * 1025}, "Description is too long (maximum is 1024 characters)"),
        ({"run_untagged": False, "maximum_timeout": 60},
         "Tags list can not be empty when runner is not allowed to pick untagged jobs and "
         "Maximum timeout needs to be at least 10 minutes"),
    ],
)
def test_model_validation(sim, api, extra, message):
    response = api("POST", "/user/runners", token=ALICE, json={"runner_type": "group_type", "group_id": 1} | extra)
    assert response.status_code == 400
    assert response.json() == {"message": f"400 Bad request - {message}"}
    assert len(sim.state()["runners"]) == 5


def test_fifty_tags_are_fine(api):
    tags = [f"t{i}" for i in range(50)]
    response = api("POST", "/user/runners", token=ALICE, json={"runner_type": "group_type", "group_id": 1,
                                                               "tag_list": tags})
    assert response.status_code == 201


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_ee_applies_a_requested_expiry_and_rotation_deadline(sim, gl_for):
    expires, deadline = at(timedelta(days=2)), at(timedelta(days=1))
    runner = created(gl_for, ALICE, {"runner_type": "group_type", "group_id": 1, "token_expires_at": expires,
                                     "token_rotation_deadline": deadline})
    assert runner.token_expires_at == expires.replace("Z", ".000Z")
    stored = sim.runner(runner.id)
    assert stored["token_expires_at"] == runner.token_expires_at
    assert stored["token_rotation_deadline"] == deadline.replace("Z", ".000Z")


def test_ce_drops_the_expiry_parameters_it_does_not_declare(sim, gl_for):
    sim.settings(version="18.11.0")
    runner = created(gl_for, ALICE, {"runner_type": "group_type", "group_id": 1,
                                     "token_expires_at": at(timedelta(days=2))})
    assert runner.token_expires_at is None
    assert sim.runner(runner.id)["token_rotation_deadline"] is None


@pytest.mark.parametrize(("data", "message"), [
    ({"token_expires_at": at(timedelta(minutes=1))}, "Token expires at must be between 5 minutes and 15 days from now"),
    ({"token_expires_at": at(timedelta(days=16))}, "Token expires at must be between 5 minutes and 15 days from now"),
    ({"token_rotation_deadline": at(timedelta(days=1))}, "Token rotation deadline requires token expires at"),
    ({"token_expires_at": at(timedelta(days=1)), "token_rotation_deadline": at(timedelta(days=2))},
     "Token rotation deadline must be less than or equal to token expires at"),
])
def test_ee_refuses_an_expiry_outside_its_bounds(sim, gl_for, data, message):
    gl = gl_for(ALICE)
    gl.auth()
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as raised:
        gl.user.runners.create({"runner_type": "group_type", "group_id": 1, **data})
    assert raised.value.response_code == 400
    assert raised.value.error_message == f"400 Bad request - {message}"
    assert len(sim.state()["runners"]) == 5


def test_an_expiry_beyond_the_groups_limit_is_refused(sim, gl_for):
    sim.settings(group_runner_token_expiration_interval=24 * 3600)
    gl = gl_for(ALICE)
    gl.auth()
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as raised:
        gl.user.runners.create({"runner_type": "group_type", "group_id": 1, "token_expires_at": at(timedelta(days=2))})
    assert "cannot be later than the runner token expiration limit" in raised.value.error_message


def test_a_malformed_expiry_is_a_grape_error(gl_for):
    gl = gl_for(ALICE)
    gl.auth()
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as raised:
        gl.user.runners.create({"runner_type": "group_type", "group_id": 1, "token_expires_at": "tomorrow"})
    assert raised.value.error_message == "token_expires_at is invalid"


def test_no_reset_past_the_rotation_deadline(sim, gl_for):
    runner = created(gl_for, ALICE, {"runner_type": "group_type", "group_id": 1,
                                     "token_expires_at": at(timedelta(days=2)),
                                     "token_rotation_deadline": at(timedelta(hours=1))})
    sim.advance_clock(2 * 3600)
    gl = gl_for(ALICE)
    with pytest.raises(gitlab.exceptions.GitlabHttpError) as raised:
        gl.http_post(f"/runners/{runner.id}/reset_authentication_token")
    assert raised.value.response_code == 422
    assert sim.runner(runner.id)["token"] == runner.token
