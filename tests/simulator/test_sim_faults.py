"""Fault injection and the request log, seen through python-gitlab and raw HTTP."""

from __future__ import annotations

import time

import gitlab
import pytest
import requests

from tests.gitlab_sim import SimError
from tests.simulator.sim_seed import ADMIN, ALICE, GROUP_RUNNER_TOKEN

CREATE = {"runner_type": "group_type", "group_id": 1, "description": "new"}


def runner_count(sim) -> int:
    return len(sim.state()["runners"])


def create(gl: gitlab.Gitlab, **kwargs) -> gitlab.base.RESTObject:
    gl.auth()
    assert gl.user is not None
    return gl.user.runners.create(CREATE, **kwargs)


def test_429_with_retry_after_is_obeyed(sim, gl_for, api):
    sim.fault("/api/v4/runners/all", method="GET", status=429, retry_after=1)
    started = time.monotonic()
    assert len(gl_for(ADMIN).runners_all.list(get_all=True)) == 5
    assert time.monotonic() - started >= 1.0
    log = sim.requests("GET", "/api/v4/runners/all")
    assert [(e["status"], e["fault"]) for e in log] == [(429, "status:before"), (200, None)]
    assert log[1]["time"] - log[0]["time"] >= 1.0


def test_429_response_shape(sim, api):
    sim.fault("/api/v4/user", status=429, retry_after=7)
    response = api("GET", "/user", token=ADMIN)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Retry later\n"


def test_503_is_retried_by_python_gitlab(sim, gl_for):
    sim.fault("/api/v4/runners/2", method="GET", status=503, times=2)
    sim.fault("/api/v4/runners/2", method="GET", status=520)  # non-standard, retried too
    assert gl_for(ADMIN).runners.get(2).id == 2
    assert [e["status"] for e in sim.requests("GET", "/api/v4/runners/2")] == [503, 503, 520, 200]


def test_5xx_body_and_no_retry_when_disabled(sim, gl_for, api):
    sim.fault("/api/v4/runners/2", status=500)
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl_for(ADMIN, retry_transient_errors=False).runners.get(2)
    assert caught.value.response_code == 500
    assert caught.value.error_message == "500 Internal Server Error"
    sim.fault("/api/v4/runners/2", status=502)
    assert api("GET", "/runners/2", token=ADMIN).json() == {"message": "502 Bad Gateway"}


def test_custom_body(sim, api):
    sim.fault("/api/v4/runners/all", status=409, body={"message": "409 Conflict: Resource lock"})
    assert api("GET", "/runners/all", token=ADMIN).json() == {"message": "409 Conflict: Resource lock"}
    sim.fault("/api/v4/runners/all", status=502, body="<html>bad gateway</html>")
    response = api("GET", "/runners/all", token=ADMIN)
    assert response.text == "<html>bad gateway</html>" and response.headers["Content-Type"].startswith("text/plain")


def test_status_fault_does_not_touch_state(sim, gl_for):
    sim.fault("/api/v4/user/runners", method="POST", status=503)
    with pytest.raises(gitlab.GitlabCreateError):
        create(gl_for(ALICE, retry_transient_errors=False))
    assert runner_count(sim) == 5


def test_drop_before_processing(sim, gl_for):
    sim.fault("/api/v4/user/runners", method="POST", action="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(gl_for(ALICE, retry_transient_errors=False))
    assert runner_count(sim) == 5
    entry = sim.requests("POST", "/api/v4/user/runners")[-1]
    assert (entry["status"], entry["fault"]) == (0, "drop:before")


def test_drop_before_is_retried(sim, gl_for):
    sim.fault("/api/v4/user/runners", method="POST", action="drop")
    create(gl_for(ALICE))
    assert runner_count(sim) == 6
    assert [e["status"] for e in sim.requests("POST", "/api/v4/user/runners")] == [0, 201]


def test_drop_after_processing_loses_the_response(sim, gl_for):
    sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(gl_for(ALICE, retry_transient_errors=False))
    # The runner exists, and its token went to nobody.
    assert runner_count(sim) == 6
    assert sim.runner(6)["description"] == "new"
    assert [(e["status"], e["fault"]) for e in sim.requests("POST", "/api/v4/user/runners")] == [(0, "drop:after")]


def test_blind_retry_after_lost_response_duplicates_the_runner(sim, gl_for):
    """The trap DESIGN.md describes: python-gitlab re-sends the POST."""
    sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after")
    create(gl_for(ALICE))
    assert [r["description"] for r in sim.state()["runners"]].count("new") == 2


def test_status_after_processing(sim, api):
    sim.fault("/api/v4/runners/2", method="PUT", status=502, when="after")
    response = api("PUT", "/runners/2", token=ALICE, json={"description": "changed"})
    assert response.status_code == 502
    assert sim.runner(2)["description"] == "changed"


def test_delay(sim, gl_for, api):
    sim.fault("/api/v4/runners/2", action="delay", delay=0.5)
    started = time.monotonic()
    assert api("GET", "/runners/2", token=ADMIN).status_code == 200
    assert time.monotonic() - started >= 0.5
    sim.fault("/api/v4/runners/2", action="delay", delay=2)
    with pytest.raises(requests.exceptions.Timeout):
        gl_for(ADMIN, retry_transient_errors=False, timeout=0.3).runners.get(2)


def test_delay_after_processing(sim, gl_for):
    sim.fault("/api/v4/runners/2", method="DELETE", action="delay", delay=2, when="after")
    with pytest.raises(requests.exceptions.Timeout):
        gl_for(ALICE, retry_transient_errors=False, timeout=0.3).runners.delete(2)
    assert 2 not in [r["id"] for r in sim.state()["runners"]]


def test_fault_matching(sim, api):
    sim.fault("/api/v4/runners", method="DELETE", status=500)
    # Another method, or a longer path, does not match (the regex must match the whole path).
    assert api("GET", "/runners", token=ADMIN).status_code == 200
    assert api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN}).status_code == 200
    assert api("DELETE", "/runners", params={"token": "x"}).status_code == 500
    sim.fault(r"/api/v4/runners/\d+", status=418)
    assert api("GET", "/runners/3", token=ADMIN).status_code == 418


def test_fault_list_counts_down_and_clears(sim, api):
    sim.fault("/api/v4/user", status=500, times=2)
    sim.fault("/api/v4/version", status=503, times=None)
    assert [(f["path"], f["times"]) for f in sim.faults()] == [("/api/v4/user", 2), ("/api/v4/version", None)]
    api("GET", "/user", token=ADMIN)
    assert [f["times"] for f in sim.faults()] == [1, None]
    api("GET", "/user", token=ADMIN)
    for _attempt in range(3):
        assert api("GET", "/version", token=ADMIN).status_code == 503
    assert [f["path"] for f in sim.faults()] == ["/api/v4/version"]
    sim.clear_faults()
    assert sim.faults() == []
    assert api("GET", "/version", token=ADMIN).status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"action": "explode"},
        {"path": "("},
        {"times": 0},
        {"status": 99},
        {"when": "during"},
        {"retry_after": 1.5},
    ],
)
def test_invalid_fault_specs(sim, spec):
    with pytest.raises(SimError, match="400"):
        sim.fault(**({"path": "/api/v4/user"} | spec))


def test_request_log_and_redaction(sim, api):
    sim.clear_requests()
    requests.get(f"{sim.url}/api/v4/user", params={"private_token": ADMIN, "x": "1"}, timeout=5)
    api("POST", "/runners/verify", params={"token": GROUP_RUNNER_TOKEN, "system_id": "s_1"})
    api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN})
    api("GET", "/nope", token=ADMIN)
    sim.state()  # control calls are not logged
    log = sim.requests()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v4/user", 200),
        ("POST", "/api/v4/runners/verify", 200),
        ("POST", "/api/v4/runners/verify", 200),
        ("GET", "/api/v4/nope", 404),
    ]
    assert log[0]["query"] == {"private_token": "<redacted>", "x": "1"}
    assert log[1]["query"] == {"token": "<redacted>", "system_id": "s_1"}
    assert log[2]["body"] == {"token": "<redacted>"}
    assert ADMIN not in str(log) and GROUP_RUNNER_TOKEN not in str(log)
    assert len(sim.requests("POST", r"/api/v4/runners/\w+")) == 2
    sim.clear_requests()
    assert sim.requests() == []
