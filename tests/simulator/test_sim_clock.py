"""The simulator clock: token expiry, runner and manager status, settings at runtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.gitlab_sim import SimError
from tests.simulator.sim_seed import ADMIN, ALICE, GROUP_RUNNER_TOKEN, PROJECT_RUNNER_TOKEN

HOUR = 3600
DAY = 24 * HOUR


def verify(api, token: str, system_id: str = "s_clock") -> int:
    return api("POST", "/runners/verify", json={"token": token, "system_id": system_id}).status_code


def test_advance_moves_now(sim):
    before = datetime.fromisoformat(sim.state()["now"])
    answer = sim.advance_clock(DAY)
    assert answer["clock_offset"] == DAY
    assert datetime.fromisoformat(sim.state()["now"]) - before >= timedelta(days=1)


def test_runner_token_expires(sim, api):
    sim.settings(runner_token_expiration_interval=HOUR)
    body = api("POST", "/user/runners", token=ADMIN, json={"runner_type": "instance_type"}).json()
    assert verify(api, body["token"]) == 200
    sim.advance_clock(HOUR + 1)
    assert verify(api, body["token"]) == 403
    assert api("POST", "/jobs/request", json={"token": body["token"]}).status_code == 403
    # The runner still exists; a reset issues a token that expires an hour from the new now.
    details = api("GET", f"/runners/{body['id']}", token=ADMIN).json()
    assert details["id"] == body["id"]
    fresh = api("POST", f"/runners/{body['id']}/reset_authentication_token", token=ADMIN).json()
    assert verify(api, fresh["token"]) == 200
    expires = datetime.fromisoformat(fresh["token_expires_at"])
    assert expires - datetime.fromisoformat(sim.state()["now"]) <= timedelta(hours=1)


def test_seeded_expiry(sim, api):
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    sim.reset({"runners": [{"runner_type": "instance_type", "token": "glrt-t1_soon", "token_expires_at": soon}]})
    assert verify(api, "glrt-t1_soon") == 200
    sim.advance_clock(HOUR)
    assert verify(api, "glrt-t1_soon") == 403


def test_seeded_runner_without_expiry_key_follows_settings(sim):
    sim.reset({"settings": {"group_runner_token_expiration_interval": DAY},
               "groups": [{"path": "g"}],
               "runners": [{"group": "g"}, {"group": "g", "token_expires_at": None}]})
    first, second = sim.state()["runners"]
    assert first["token_expires_at"] is not None and second["token_expires_at"] is None


def test_runner_status_over_time(sim, api):
    assert verify(api, GROUP_RUNNER_TOKEN) == 200
    details = api("GET", "/runners/2", token=ADMIN).json()
    assert (details["status"], details["online"]) == ("online", True)

    sim.advance_clock(2 * HOUR + 1)
    details = api("GET", "/runners/2", token=ADMIN).json()
    assert (details["status"], details["online"]) == ("offline", False)
    offline = api("GET", "/runners/all", token=ADMIN, params={"status": "offline"}).json()
    assert [r["id"] for r in offline] == [2]
    manager = api("GET", "/runners/2/managers", token=ADMIN).json()[-1]
    assert manager["status"] == "offline"

    sim.advance_clock(7 * DAY)
    assert api("GET", "/runners/2", token=ADMIN).json()["status"] == "stale"
    stale = api("GET", "/runners/all", token=ADMIN, params={"status": "stale"}).json()
    assert [r["id"] for r in stale] == [1, 2, 3, 4, 5]  # never-contacted runners went stale too
    # offline also matches stale runners that were contacted once
    assert [r["id"] for r in api("GET", "/runners/all", token=ADMIN, params={"status": "offline"}).json()] == [2]
    assert api("GET", "/runners/2/managers", token=ADMIN).json()[-1]["status"] == "stale"


def test_paused_contacted_runner_reports_paused(api):
    api("PUT", "/runners/2", token=ALICE, json={"paused": True})
    verify(api, GROUP_RUNNER_TOKEN)
    details = api("GET", "/runners/2", token=ADMIN).json()
    assert (details["status"], details["online"]) == ("paused", True)


def test_seeded_contact_times(sim, api):
    now = datetime.now(UTC)
    sim.reset(
        {
            "users": [{"username": "root", "admin": True, "tokens": [{"token": ADMIN}]}],
            "runners": [
                {"runner_type": "instance_type", "managers": [
                    {"system_id": "s_recent", "contacted_at": (now - timedelta(minutes=5)).isoformat()},
                    {"system_id": "s_old", "contacted_at": (now - timedelta(hours=5)).isoformat()}]},
                {"runner_type": "instance_type", "created_at": (now - timedelta(days=30)).isoformat()},
            ],
        }
    )
    runners = api("GET", "/runners/all", token=ADMIN).json()
    assert [r["status"] for r in runners] == ["online", "stale"]
    managers = api("GET", "/runners/1/managers", token=ADMIN).json()
    assert [m["status"] for m in managers] == ["online", "offline"]


def test_personal_access_token_expires_with_the_clock(sim, api):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    sim.reset({"users": [{"username": "u", "tokens": [{"token": "glpat-short", "expires_at": tomorrow}]}]})
    assert api("GET", "/user", token="glpat-short").status_code == 200
    assert api("GET", "/personal_access_tokens/self", token="glpat-short").json()["expires_at"] == tomorrow
    sim.advance_clock(2 * DAY)
    response = api("GET", "/user", token="glpat-short")
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_settings_at_runtime(sim, api):
    settings = sim.settings(allow_runner_registration_token=True, registration_token="GR1348941new")
    assert settings["allow_runner_registration_token"] is True
    assert api("POST", "/runners", json={"token": "GR1348941new"}).status_code == 201
    with pytest.raises(SimError, match="unknown setting"):
        sim.settings(no_such_setting=1)
    with pytest.raises(SimError, match="positive number of seconds"):
        sim.settings(runner_token_expiration_interval="1h")
    assert sim.state()["settings"]["runner_token_expiration_interval"] is None


def test_reset_clears_clock_and_state(sim, api):
    sim.advance_clock(DAY)
    api("DELETE", "/runners/2", token=ADMIN)
    sim.reset()
    assert sim.state()["clock_offset"] == 0
    assert verify(api, PROJECT_RUNNER_TOKEN) == 200 and verify(api, GROUP_RUNNER_TOKEN) == 200
