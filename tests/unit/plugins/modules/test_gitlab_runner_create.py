# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""gitlab_runner_create's main() against the GitLab simulator: what Ansible receives."""

from __future__ import annotations

import json

import pytest
import requests

from ansible_collections.runnerops.gitlab.plugins.modules import gitlab_runner_create

TOKEN = "glpat-owner-0001"


def seed(**extra):
    data = {
        "users": [{"username": "olivia", "tokens": [{"token": TOKEN, "scopes": ["api"]}]}],
        "groups": [{"path": "platform/ci", "members": {"olivia": "owner"}}],
    }
    data.update(extra)
    return data


@pytest.fixture
def sim(make_sim):
    return lambda data=None: make_sim(data or seed())


def args(sim, **params):
    base = {"api_url": sim.url, "api_token": TOKEN, "name": "docker", "runner_type": "group_type",
            "group": "platform/ci", "preflight": False}
    base.update(params)
    return dict((key, value) for key, value in base.items() if value is not None)


def warning_texts(result):
    """Warning messages, whether Ansible hands them over as text or as event summaries."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def writes(sim):
    return [r for r in sim.requests() if r["method"] in ("POST", "PUT", "DELETE")]


def test_created_token_is_returned_then_accepted_as_existing_and_not_masked(sim, run_module):
    gitlab = sim()
    created = run_module(gitlab_runner_create, args(gitlab, tags=["docker"]))
    assert created["changed"] is True
    assert created["token_source"] == "created"
    assert created["token"] == gitlab.runner(created["runner"]["id"])["token"]
    assert "diff" not in created

    known = [{"token": created["token"], "system_id": "s_0123456789ab"}]
    again = run_module(gitlab_runner_create, args(gitlab, tags=["docker"], known_tokens=known))
    assert again["changed"] is False
    assert again["token_source"] == "existing"
    # The valid token came in as a no_log option and must still come back as the module's output.
    assert again["token"] == created["token"]


def test_diff_mode_returns_attributes_never_a_token(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_create, args(gitlab, tags=["b", "a"]), diff=True)
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["tags"] == ["a", "b"]
    assert "glrt-" not in json.dumps(result["diff"])


def test_check_mode_makes_no_write_call(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_create, args(gitlab), check_mode=True)
    assert result["changed"] is True
    assert result["token"] is None
    assert result["token_source"] == "would_create"
    assert writes(gitlab) == []
    assert gitlab.state()["runners"] == []


@pytest.mark.parametrize("params, words", [
    ({"maximum_timeout": 300}, "maximum_timeout is 300 seconds"),
    ({"group": None}, "runner_type is group_type but all of the following are missing: group"),
    ({"runner_type": "instance_type"}, "group is set but runner_type is instance_type"),
    ({"known_tokens": [{"token": "glrt-x"}]}, "missing required arguments: system_id"),
])
def test_bad_definition_fails_before_any_call(sim, run_module, params, words):
    gitlab = sim()
    result = run_module(gitlab_runner_create, args(gitlab, **params))
    assert result["failed"] is True
    assert words in result["msg"]
    assert gitlab.requests() == []


def test_failure_after_an_update_still_reports_the_change(sim, run_module):
    gitlab = sim(seed(runners=[{"id": 5, "description": "docker", "group": "platform/ci", "tag_list": ["a"]}]))
    gitlab.fault(r"/api/v4/runners/5/reset_authentication_token", method="POST", status=403,
                 body={"message": "403 Forbidden - No access granted"})
    result = run_module(gitlab_runner_create, args(gitlab, tags=["b"], token_reset="always"))
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["status"] == 403
    assert "Resetting the token of runner 'docker' (id 5)" in result["msg"]
    assert gitlab.runner(5)["tag_list"] == ["b"]


def test_lost_create_answer_warns_and_recovers_one_runner(sim, run_module):
    gitlab = sim()
    gitlab.fault(r"/api/v4/user/runners", method="POST", action="drop", when="after")
    result = run_module(gitlab_runner_create, args(gitlab))
    runners = gitlab.state()["runners"]
    assert len(runners) == 1
    assert result["token_source"] == "reset"
    assert result["token"] == runners[0]["token"]
    assert any("was lost (the connection to GitLab failed before its answer arrived)" in warning
               for warning in warning_texts(result))


def test_known_id_costs_one_read_and_one_check_then_a_stale_id_is_recreated(sim, run_module):
    gitlab = sim()
    created = run_module(gitlab_runner_create, args(gitlab, tags=["docker"]))
    runner_id = created["runner"]["id"]
    known = [{"token": created["token"], "system_id": "s_0123456789ab"}]

    gitlab.clear_requests()
    again = run_module(gitlab_runner_create, args(gitlab, tags=["docker"], known_id=runner_id, known_tokens=known))
    assert (again["changed"], again["token_source"], again["runner"]["id"]) == (False, "existing", runner_id)
    assert again["runner"]["owner"] == {"type": "group", "id": created["runner"]["owner"]["id"], "path": "platform/ci"}
    assert [(r["method"], r["path"]) for r in gitlab.requests()] == [
        ("GET", f"/api/v4/runners/{runner_id}"), ("POST", "/api/v4/runners/verify")]

    # Deleted in GitLab while the hosts still carry its id and token: found missing by name, made again.
    requests.delete(f"{gitlab.url}/api/v4/runners/{runner_id}", headers={"PRIVATE-TOKEN": TOKEN},
                    timeout=10).raise_for_status()
    remade = run_module(gitlab_runner_create, args(gitlab, tags=["docker"], known_id=runner_id, known_tokens=known))
    assert remade["changed"] is True and remade["token_source"] == "created"
    assert remade["runner"]["id"] != runner_id
    assert [r["description"] for r in gitlab.state()["runners"]] == ["docker"]


def test_pinned_id_and_known_id_are_mutually_exclusive(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_create, args(gitlab, id=3, known_id=3))
    assert result["failed"] is True
    assert "parameters are mutually exclusive: id|known_id" in result["msg"]
    assert gitlab.requests() == []
