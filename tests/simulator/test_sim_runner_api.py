"""GET/PUT/DELETE /runners/:id, GET /runners/:id/managers, POST /runners/:id/reset_authentication_token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import gitlab
import pytest

from tests.simulator.sim_seed import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    GROUP_RUNNER_TOKEN,
    PROJECT_RUNNER_TOKEN,
)

NOT_FOUND = {"message": "404 Runner Not Found"}
NO_ACCESS = {"message": "403 Forbidden - No access granted"}


def test_details_entity(sim, gl_for):
    details = gl_for(ADMIN).runners.get(2)
    assert details.attributes == {
        "id": 2,
        "description": "group-docker",
        "ip_address": None,
        "active": True,
        "paused": False,
        "is_shared": False,
        "runner_type": "group_type",
        "name": None,
        "online": False,
        "created_at": details.created_at,
        "status": "never_contacted",
        "job_execution_status": "idle",
        "tag_list": ["docker", "linux"],
        "run_untagged": True,
        "locked": False,
        "maximum_timeout": None,
        "access_level": "not_protected",
        "version": "17.2.0",
        "revision": None,
        "platform": None,
        "architecture": None,
        "contacted_at": None,
        "maintenance_note": "owned by platform",
        "projects": [],
        "groups": [{"id": 1, "web_url": f"{sim.url}/groups/platform", "name": "platform"}],
    }
    assert "token" not in details.attributes


def test_project_runner_lists_its_projects(gl_for):
    details = gl_for(CAROL).runners.get(3)
    assert [p["path_with_namespace"] for p in details.projects] == ["platform/app"]
    assert details.projects[0]["name_with_namespace"] == "platform / app"
    assert details.groups == []


def test_version_fields_come_from_the_latest_manager(api):
    for system_id, version in [("s_a", "16.11.0"), ("s_b", "17.5.1")]:
        api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN, "system_id": system_id,
                                             "info": {"version": version, "platform": "linux",
                                                      "architecture": "arm64", "revision": "abc"}})
    details = api("GET", "/runners/2", token=ADMIN).json()
    assert (details["version"], details["platform"], details["architecture"]) == ("17.5.1", "linux", "arm64")
    assert details["online"] is True and details["status"] == "online"
    assert details["contacted_at"].endswith("Z")


@pytest.mark.parametrize(
    ("token", "runner_id", "status"),
    [
        (EVE, 1, 200),  # instance runners: any authenticated user
        (BOB, 2, 200),  # group Maintainer reads group runners
        (BOB, 4, 200),  # ... of subgroups too
        (DAVE, 2, 403),
        (EVE, 2, 403),
        (CAROL, 3, 200),
        (BOB, 3, 200),  # group Maintainer is Maintainer of the group's projects
        (DAVE, 3, 403),
        (ALICE, 5, 403),  # another group's runner
        (ADMIN, 5, 200),
    ],
)
def test_read_permission(api, token, runner_id, status):
    response = api("GET", f"/runners/{runner_id}", token=token)
    assert response.status_code == status
    if status == 403:
        assert response.json() == NO_ACCESS
    managers = api("GET", f"/runners/{runner_id}/managers", token=token)
    assert managers.status_code == status


def test_maintenance_note_only_for_those_who_may_update(api):
    assert api("GET", "/runners/2", token=BOB).json()["maintenance_note"] is None
    assert api("GET", "/runners/2", token=ALICE).json()["maintenance_note"] == "owned by platform"


def test_missing_runner(api, gl_for):
    for method in ("GET", "PUT", "DELETE"):
        response = api(method, "/runners/999", token=ADMIN, json={"description": "x"})
        assert response.status_code == 404 and response.json() == NOT_FOUND
    assert api("GET", "/runners/999/managers", token=ADMIN).json() == NOT_FOUND
    assert api("POST", "/runners/999/reset_authentication_token", token=ADMIN).json() == NOT_FOUND
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl_for(ADMIN).runners.get(999)
    assert caught.value.response_code == 404


def test_non_integer_id_is_400(api):
    response = api("GET", "/runners/abc", token=ADMIN)
    assert response.status_code == 400 and response.json() == {"error": "id is invalid"}


def test_not_found_comes_before_permission(api):
    # A non-admin gets 404 for a missing runner, 403 for a foreign one.
    assert api("PUT", "/runners/999", token=EVE, json={"description": "x"}).status_code == 404
    assert api("PUT", "/runners/2", token=EVE, json={"description": "x"}).status_code == 403


def test_managers_list(api):
    assert api("GET", "/runners/2/managers", token=ADMIN).json()[0]["system_id"] == "s_000000000001"
    api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_000000000002"})
    response = api("GET", "/runners/2/managers", token=ADMIN)
    assert "X-Total" not in response.headers  # not paginated
    managers = response.json()
    assert [m["system_id"] for m in managers] == ["s_000000000001", "s_000000000002"]
    assert set(managers[1]) == {"id", "system_id", "version", "revision", "platform", "architecture", "created_at",
                                "contacted_at", "ip_address", "status", "job_execution_status"}
    assert managers[0]["status"] == "never_contacted" and managers[1]["status"] == "online"
    assert managers[1]["ip_address"] == "127.0.0.1"


# ---------------------------------------------------------------------- PUT


def test_update_with_save_sends_changed_attributes(sim, gl_for):
    gl = gl_for(ALICE)
    runner = gl.runners.get(2)
    runner.description = "renamed"
    runner.tag_list = ["docker"]
    runner.paused = True
    runner.save()
    assert runner.description == "renamed" and runner.active is False
    entry = sim.requests("PUT", "/api/v4/runners/2")[-1]
    assert entry["body"] == {"description": "renamed", "tag_list": ["docker"], "paused": True}
    assert sim.runner(2)["tag_list"] == ["docker"] and sim.runner(2)["paused"] is True


def test_update_via_manager(gl_for):
    gl = gl_for(ADMIN)
    gl.runners.update(1, {"maximum_timeout": 600, "access_level": "ref_protected", "maintenance_note": "n",
                          "locked": True, "run_untagged": False, "tag_list": ["x"]})
    details = gl.runners.get(1)
    assert (details.maximum_timeout, details.access_level, details.maintenance_note) == (600, "ref_protected", "n")
    assert (details.locked, details.run_untagged, details.tag_list) == (True, False, ["x"])


def test_update_deprecated_active(api):
    assert api("PUT", "/runners/2", token=ALICE, json={"active": False}).json()["paused"] is True


def test_update_accepts_form_and_comma_tags(api):
    response = api("PUT", "/runners/2", token=ALICE, data={"tag_list": "a,b", "paused": "false"})
    assert response.json()["tag_list"] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({}, 400, {"error": "description, active, paused, tag_list, run_untagged, locked, access_level, "
                            "maximum_timeout, maintenance_note are missing, at least one parameter must be provided"}),
        ({"active": True, "paused": False}, 400, {"error": "active, paused are mutually exclusive"}),
        ({"access_level": "everything"}, 400, {"error": "access_level does not have a valid value"}),
        ({"maximum_timeout": 60}, 400, {"message": {"maximum_timeout": ["needs to be at least 10 minutes"]}}),
        ({"tag_list": []}, 400, {"message": {"tags_list": [
            "can not be empty when runner is not allowed to pick untagged jobs"]}}),
        ({"tag_list": [str(i) for i in range(51)]}, 400, {"message": {"tags_list": [
            "Too many tags specified. Please limit the number of tags to 50"]}}),
        ({"maintenance_note": "x" * 1025}, 400, {"message": {"maintenance_note": [
            "is too long (maximum is 1024 characters)"]}}),
    ],
)
def test_update_errors(sim, api, body, status, expected):
    # Runner 3 does not run untagged jobs, so emptying its tags is invalid.
    response = api("PUT", "/runners/3", token=CAROL, json=body)
    assert response.status_code == status
    assert response.json() == expected
    assert sim.runner(3)["tag_list"] == ["shell"]


def test_update_error_through_python_gitlab(gl_for):
    with pytest.raises(gitlab.GitlabUpdateError) as caught:
        gl_for(ALICE).runners.update(2, {"maximum_timeout": 1})
    assert caught.value.response_code == 400
    assert caught.value.error_message == {"maximum_timeout": ["needs to be at least 10 minutes"]}


@pytest.mark.parametrize(
    ("token", "runner_id", "status"),
    [
        (ALICE, 2, 200),  # group Owner
        (ALICE, 4, 200),  # subgroup runner, inherited ownership
        (BOB, 2, 403),  # Maintainer may read but not update group runners
        (CAROL, 3, 200),
        (BOB, 3, 200),  # inherited project Maintainer
        (DAVE, 3, 403),
        (ALICE, 1, 403),  # instance runners: admins only
        (ADMIN, 1, 200),
    ],
)
def test_update_permission(api, token, runner_id, status):
    response = api("PUT", f"/runners/{runner_id}", token=token, json={"description": "x"})
    assert response.status_code == status
    if status == 403:
        assert response.json() == NO_ACCESS


# ---------------------------------------------------------------------- DELETE


def test_delete_removes_runner_and_managers(sim, gl_for):
    gl = gl_for(ALICE)
    gl.runners.get(2).delete()
    assert 2 not in [r["id"] for r in sim.state()["runners"]]
    with pytest.raises(gitlab.GitlabGetError):
        gl.runners.get(2)
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl.http_get("/runners/2/managers")
    assert caught.value.response_code == 404
    response = sim.requests("DELETE", "/api/v4/runners/2")[-1]
    assert response["status"] == 204


def test_delete_permissions(api, gl_for):
    assert api("DELETE", "/runners/2", token=BOB).json() == NO_ACCESS
    assert api("DELETE", "/runners/1", token=ALICE).json() == NO_ACCESS
    with pytest.raises(gitlab.GitlabDeleteError) as caught:
        gl_for(DAVE).runners.delete(3)
    assert caught.value.response_code == 403
    assert api("DELETE", "/runners/3", token=CAROL).status_code == 204


def test_delete_runner_of_several_projects_needs_admin(sim, api):
    seed = {
        "users": [{"username": "root", "admin": True, "tokens": [{"token": ADMIN}]},
                  {"username": "carol", "tokens": [{"token": CAROL}]}],
        "projects": [{"path": "g/a", "members": {"carol": "maintainer"}},
                     {"path": "g/b", "members": {"carol": "maintainer"}}],
        "runners": [{"description": "shared", "projects": ["g/a", "g/b"]}],
    }
    sim.reset(seed)
    response = api("DELETE", "/runners/1", token=CAROL)
    assert response.status_code == 403
    assert response.json() == {"message": "403 Forbidden - Runner associated with more than one project"}
    assert api("DELETE", "/runners/1", token=ADMIN).status_code == 204


def test_delete_if_unmodified_since(api):
    long_ago = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    response = api("DELETE", "/runners/2", token=ADMIN, headers={"If-Unmodified-Since": long_ago})
    assert response.status_code == 412 and response.json() == {"message": "412 Precondition Failed"}
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    assert api("DELETE", "/runners/2", token=ADMIN, headers={"If-Unmodified-Since": later}).status_code == 204


# ---------------------------------------------------------------------- reset (user side)


def test_reset_token(sim, gl_for, api):
    gl = gl_for(ALICE)
    result = gl.http_post("/runners/2/reset_authentication_token")
    assert set(result) == {"token", "token_expires_at"}
    assert result["token"].startswith("glrt-t2_") and result["token"] != GROUP_RUNNER_TOKEN
    assert result["token_expires_at"] is None
    assert sim.runner(2)["token"] == result["token"]
    assert api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN}).status_code == 403
    assert api("POST", "/runners/verify", json={"token": result["token"]}).status_code == 200


def test_reset_recomputes_expiry(sim, api):
    sim.settings(project_runner_token_expiration_interval=3600)
    body = api("POST", "/runners/3/reset_authentication_token", token=CAROL).json()
    expires = datetime.fromisoformat(body["token_expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) < timedelta(minutes=61)
    assert sim.runner(3)["token_expires_at"] == body["token_expires_at"]
    assert PROJECT_RUNNER_TOKEN != body["token"]


def test_reset_of_legacy_runner_keeps_legacy_prefix(api):
    assert api("POST", "/runners/4/reset_authentication_token", token=ADMIN).json()["token"].startswith("t2_")


def test_reset_permissions(api):
    assert api("POST", "/runners/2/reset_authentication_token", token=BOB).json() == NO_ACCESS
    assert api("POST", "/runners/1/reset_authentication_token", token=ALICE).status_code == 403
    assert api("POST", "/runners/1/reset_authentication_token", token=ADMIN).status_code == 201
