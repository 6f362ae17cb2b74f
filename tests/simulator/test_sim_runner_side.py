"""The runner-side API: token in the parameters, no personal access token."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import gitlab
import pytest

from tests.gitlab_sim import SimError

from tests.simulator.sim_seed import (
    ADMIN,
    GROUP_REGISTRATION,
    GROUP_RUNNER_TOKEN,
    INSTANCE_REGISTRATION,
    LEGACY_RUNNER_TOKEN,
    PROJECT_REGISTRATION,
    PROJECT_RUNNER_TOKEN,
)

FORBIDDEN = {"message": "403 Forbidden"}
GONE = {"message": "410 Gone - runner registration disallowed"}
INVALID_REGISTRATION = {"message": "403 Forbidden - invalid token supplied"}


# ---------------------------------------------------------------------- POST /runners (legacy)


@pytest.fixture
def registration_allowed(sim):
    sim.settings(allow_runner_registration_token=True)
    return sim


@pytest.mark.parametrize(
    ("token", "runner_type", "owner"),
    [
        (GROUP_REGISTRATION, "group_type", "platform"),
        (PROJECT_REGISTRATION, "project_type", "platform/app"),
        (INSTANCE_REGISTRATION, "instance_type", None),
    ],
)
def test_legacy_registration(registration_allowed, api, token, runner_type, owner):
    response = api("POST", "/runners", json={"token": token, "description": "old", "tag_list": "a,b",
                                             "paused": True, "info": {"name": "host-1"}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "token", "token_expires_at"}
    digit = "123"[["instance_type", "group_type", "project_type"].index(runner_type)]
    assert re.fullmatch(rf"t{digit}_[A-Za-z0-9_-]{{20}}", body["token"])
    stored = registration_allowed.runner(body["id"])
    assert stored["runner_type"] == runner_type and stored["registration_type"] == "registration_token"
    assert (stored["group"] or (stored["projects"] or [None])[0]) == owner
    assert (stored["description"], stored["tag_list"], stored["paused"], stored["name"]) == (
        "old", ["a", "b"], True, "host-1")
    assert stored["managers"] == []


def test_legacy_registration_with_python_gitlab(registration_allowed, gl_for):
    runner = gl_for(ADMIN).runners.create({"token": GROUP_REGISTRATION, "description": "via python-gitlab"})
    assert runner.token.startswith("t2_") and runner.token_expires_at is None


@pytest.mark.parametrize("token", ["GR1348941unknown", GROUP_RUNNER_TOKEN, ""])
def test_unknown_registration_token(registration_allowed, api, token):
    response = api("POST", "/runners", json={"token": token})
    assert response.status_code == 403 and response.json() == INVALID_REGISTRATION


def test_registration_disallowed_by_instance(api):
    # The default: GitLab 17 disables registration tokens on new instances.
    for token in (GROUP_REGISTRATION, PROJECT_REGISTRATION, INSTANCE_REGISTRATION):
        response = api("POST", "/runners", json={"token": token})
        assert response.status_code == 410 and response.json() == GONE
    # GitLab answers 410 even for a token it does not know once the instance disallows registration.
    assert api("POST", "/runners", json={"token": "GR1348941unknown"}).json() == GONE


def test_registration_disallowed_by_root_group(sim, api):
    sim.reset(
        {
            "settings": {"allow_runner_registration_token": True},
            "groups": [
                {"path": "closed", "allow_runner_registration_token": False, "runners_token": "GR1348941closed"},
                {"path": "closed/sub", "runners_token": "GR1348941sub"},
                {"path": "open", "runners_token": "GR1348941open"},
            ],
            "projects": [{"path": "closed/sub/app", "runners_token": "GR1348941app"}],
        }
    )
    for token in ("GR1348941closed", "GR1348941sub", "GR1348941app"):
        assert api("POST", "/runners", json={"token": token}).json() == GONE, token
    assert api("POST", "/runners", json={"token": "GR1348941open"}).status_code == 201


def test_registration_parameter_errors(registration_allowed, api):
    assert api("POST", "/runners", json={}).json() == {"error": "token is missing"}
    response = api("POST", "/runners", json={"token": GROUP_REGISTRATION, "active": True, "paused": True})
    assert response.json() == {"error": "active, paused are mutually exclusive"}
    response = api("POST", "/runners", json={"token": GROUP_REGISTRATION, "maintainer_note": "a",
                                             "maintenance_note": "b"})
    assert response.json() == {"error": "maintainer_note, maintenance_note are mutually exclusive"}


def test_registration_model_validation(registration_allowed, api):
    response = api("POST", "/runners", json={"token": GROUP_REGISTRATION, "run_untagged": False})
    assert response.status_code == 400
    assert response.json() == {"message": {"tags_list": [
        "can not be empty when runner is not allowed to pick untagged jobs"]}}


def test_registration_deprecated_maintainer_note(registration_allowed, api):
    body = api("POST", "/runners", json={"token": GROUP_REGISTRATION, "maintainer_note": "old note"}).json()
    assert registration_allowed.runner(body["id"])["maintenance_note"] == "old note"


# ---------------------------------------------------------------------- POST /runners/verify


def test_verify_records_manager_and_contact(sim, api, gl_for):
    response = api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_host00000001",
                                                    "info": {"version": "17.11.0", "platform": "linux"}})
    assert response.status_code == 200
    assert response.json() == {"id": 2, "token": GROUP_RUNNER_TOKEN, "token_expires_at": None}
    runner = sim.runner(2)
    assert runner["contacted_at"] is not None and runner["status"] == "online"
    manager = next(m for m in runner["managers"] if m["system_id"] == "s_host00000001")
    assert manager["contacted_at"] == runner["contacted_at"] and manager["version"] == "17.11.0"


def test_verify_heartbeats_an_existing_manager(sim, api):
    for _attempt in range(3):
        api("POST", "/runners/verify", json={"token": PROJECT_RUNNER_TOKEN, "system_id": "s_one"})
    assert [m["system_id"] for m in sim.runner(3)["managers"]] == ["s_one"]


def test_verify_without_system_id_is_legacy_manager(sim, gl_for):
    gl_for(ADMIN).runners.verify(PROJECT_RUNNER_TOKEN)
    assert [m["system_id"] for m in sim.runner(3)["managers"]] == ["<legacy>"]


def test_verify_with_python_gitlab_system_id(sim, gl_for):
    gl_for(ADMIN).runners.verify(PROJECT_RUNNER_TOKEN, system_id="s_fromquery")
    assert [m["system_id"] for m in sim.runner(3)["managers"]] == ["s_fromquery"]
    entry = sim.requests("POST", "/api/v4/runners/verify")[-1]
    assert entry["body"] == {"token": "<redacted>"} and entry["query"] == {"system_id": "s_fromquery"}


def test_verify_token_in_query_or_form(api):
    assert api("POST", "/runners/verify", params={"token": GROUP_RUNNER_TOKEN}).status_code == 200
    assert api("POST", "/runners/verify", data={"token": LEGACY_RUNNER_TOKEN}).status_code == 200


def test_verify_errors(api, gl_for):
    response = api("POST", "/runners/verify", json={})
    assert response.status_code == 400 and response.json() == {"error": "token is missing"}
    response = api("POST", "/runners/verify", json={"token": "glrt-unknown"})
    assert response.status_code == 403 and response.json() == FORBIDDEN
    with pytest.raises(gitlab.GitlabVerifyError) as caught:
        gl_for(ADMIN).runners.verify("glrt-unknown")
    assert caught.value.response_code == 403


def test_expired_runner_token_is_forbidden(sim, api):
    sim.reset({"runners": [{"runner_type": "instance_type", "token": "glrt-t1_expired", "token_expires_at":
                            "2020-01-01T00:00:00Z"}]})
    for method, path in [("POST", "/runners/verify"), ("POST", "/jobs/request"), ("DELETE", "/runners"),
                         ("POST", "/runners/reset_authentication_token")]:
        response = api(method, path, json={"token": "glrt-t1_expired"})
        assert response.status_code == 403 and response.json() == FORBIDDEN, path


# ---------------------------------------------------------------------- POST /runners/reset_authentication_token


def test_runner_side_reset(sim, api):
    sim.settings(group_runner_token_expiration_interval=7200)
    response = api("POST", "/runners/reset_authentication_token", json={"token": GROUP_RUNNER_TOKEN})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "token_expires_at"} and body["token"].startswith("glrt-t2_")
    assert body["token_expires_at"].endswith("Z")
    assert api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN}).status_code == 403
    assert api("POST", "/runners/verify", json={"token": body["token"]}).json()["id"] == 2


def test_runner_side_reset_errors(api, gl_for):
    assert api("POST", "/runners/reset_authentication_token", json={}).json() == {"error": "token is missing"}
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl_for(ADMIN).http_post("/runners/reset_authentication_token", post_data={"token": "nope"})
    assert caught.value.response_code == 403


# ---------------------------------------------------------------------- DELETE /runners, /runners/managers


def test_unregister_runner(sim, gl_for, api):
    gl_for(ADMIN).runners.delete(token=GROUP_RUNNER_TOKEN)
    assert 2 not in [r["id"] for r in sim.state()["runners"]]
    assert api("DELETE", "/runners", params={"token": GROUP_RUNNER_TOKEN}).json() == FORBIDDEN
    assert api("DELETE", "/runners").json() == {"error": "token is missing"}


def test_unregister_manager(sim, api, gl_for):
    for system_id in ("s_a", "s_b"):
        api("POST", "/runners/verify", json={"token": PROJECT_RUNNER_TOKEN, "system_id": system_id})
    gl_for(ADMIN).http_delete("/runners/managers", token=PROJECT_RUNNER_TOKEN, system_id="s_a")
    assert [m["system_id"] for m in sim.runner(3)["managers"]] == ["s_b"]
    response = api("DELETE", "/runners/managers", json={"token": PROJECT_RUNNER_TOKEN, "system_id": "s_b"})
    assert response.status_code == 204 and response.content == b""
    assert sim.runner(3)["managers"] == []  # the runner itself stays


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"token": PROJECT_RUNNER_TOKEN}, 400, {"error": "system_id is missing"}),
        ({}, 400, {"error": "token is missing, system_id is missing"}),
        ({"token": "glrt-nope", "system_id": "s_a"}, 403, FORBIDDEN),
        ({"token": PROJECT_RUNNER_TOKEN, "system_id": "s_unknown"}, 404,
         {"message": "404 Runner manager not found Not Found"}),
    ],
)
def test_unregister_manager_errors(api, body, status, expected):
    response = api("DELETE", "/runners/managers", json=body)
    assert response.status_code == status and response.json() == expected


# ---------------------------------------------------------------------- POST /jobs/request


def test_job_request_answers_no_job(sim, api):
    response = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_worker",
                                                  "info": {"version": "17.11.0", "executor": "docker"}})
    assert response.status_code == 204 and response.content == b""
    last_update = response.headers["X-GitLab-Last-Update"]
    assert re.fullmatch(r"[0-9a-f]{32}", last_update)
    manager = next(m for m in sim.runner(2)["managers"] if m["system_id"] == "s_worker")
    assert manager["status"] == "online" and manager["version"] == "17.11.0"
    again = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN, "last_update": last_update})
    assert again.status_code == 204 and again.headers["X-GitLab-Last-Update"] == last_update


def test_job_request_for_paused_runner(sim, api):
    sim.reset({"runners": [{"runner_type": "instance_type", "token": "glrt-t1_paused", "paused": True}]})
    response = api("POST", "/jobs/request", json={"token": "glrt-t1_paused"})
    assert response.status_code == 204 and "X-GitLab-Last-Update" in response.headers


def test_job_request_errors(api):
    assert api("POST", "/jobs/request", json={}).json() == {"error": "token is missing"}
    assert api("POST", "/jobs/request", json={"token": "x"}).status_code == 403


# ---------------------------------------------------------------------- jobs: POST /jobs/request, PUT /jobs/:id


def test_queued_job_goes_to_the_first_manager_that_asks(sim, api):
    queued = sim.queue_job(2, ["sleep 1", "echo done"], name="build")
    assert queued["status"] == "pending"
    before = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_worker"})
    assert before.status_code == 201
    job = before.json()
    assert job["id"] == queued["id"] and job["token"].startswith("glcbt-")
    assert job["steps"][0]["script"] == ["sleep 1", "echo done"] and job["job_info"]["name"] == "build"
    taken = next(j for j in sim.state()["jobs"] if j["id"] == job["id"])
    assert (taken["status"], taken["system_id"]) == ("running", "s_worker") and taken["started_at"]
    # Taken once: the next request finds nothing.
    assert api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_other"}).status_code == 204


def test_a_job_is_only_for_its_runner_and_not_for_a_paused_one(sim, api):
    sim.reset({"runners": [{"runner_type": "instance_type", "token": "glrt-t1_paused", "paused": True},
                           {"runner_type": "instance_type", "token": "glrt-t1_other"}]})
    sim.queue_job(1, ["true"])
    assert api("POST", "/jobs/request", json={"token": "glrt-t1_other"}).status_code == 204
    assert api("POST", "/jobs/request", json={"token": "glrt-t1_paused"}).status_code == 204
    assert sim.state()["jobs"][0]["status"] == "pending"


def test_queueing_a_job_moves_the_queue_version(sim, api):
    first = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN}).headers["X-GitLab-Last-Update"]
    sim.queue_job(2, ["true"])
    api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN})
    after = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN}).headers["X-GitLab-Last-Update"]
    assert after != first


def test_job_update_finishes_the_job_and_counts_as_contact(sim, api):
    sim.queue_job(2, ["exit 3"])
    job = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_worker",
                                             "info": {"version": "17.10.1"}}).json()

    def worker():
        return next(m for m in sim.runner(2)["managers"] if m["system_id"] == "s_worker")

    asked = datetime.fromisoformat(worker()["contacted_at"])
    sim.advance_clock(60)
    running = api("PUT", f"/jobs/{job['id']}", json={"token": job["token"], "state": "running"})
    assert running.status_code == 200 and running.headers["Job-Status"] == "running"
    assert datetime.fromisoformat(worker()["contacted_at"]) - asked >= timedelta(seconds=60)
    assert worker()["version"] == "17.10.1"
    done = api("PUT", f"/jobs/{job['id']}", json={"token": job["token"], "state": "failed", "exit_code": 3,
                                                  "failure_reason": "script_failure"})
    assert done.status_code == 200 and done.json() == 200 and done.headers["Job-Status"] == "failed"
    finished = sim.state()["jobs"][0]
    assert (finished["status"], finished["exit_code"], finished["failure_reason"]) == ("failed", 3, "script_failure")
    again = api("PUT", f"/jobs/{job['id']}", json={"token": job["token"], "state": "success"})
    assert again.status_code == 403 and again.json() == {"message": "403 Forbidden  - Job is not running"}
    assert again.headers["Job-Status"] == "failed"


def test_job_update_errors(sim, api):
    sim.queue_job(2, ["true"])
    job = api("POST", "/jobs/request", json={"token": GROUP_RUNNER_TOKEN}).json()
    assert api("PUT", f"/jobs/{job['id']}", json={"state": "success"}).json() == {"error": "token is missing"}
    assert api("PUT", f"/jobs/{job['id']}", json={"token": "glcbt-wrong", "state": "success"}).json() == FORBIDDEN
    assert api("PUT", "/jobs/999", json={"token": job["token"], "state": "success"}).status_code == 403
    assert sim.state()["jobs"][0]["status"] == "running"


def test_queue_job_control_errors(sim):
    with pytest.raises(SimError, match="no runner with id 99"):
        sim.queue_job(99, ["true"])
    with pytest.raises(SimError, match="script must be"):
        sim.queue_job(2, [])
