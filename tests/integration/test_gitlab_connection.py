# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shared GitLab connection against the simulator over real HTTP: client, retries, preflight."""

from __future__ import annotations

import pytest

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import (
    ConnectionSettings,
    GitLabClient,
    preflight,
)

SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [
        {"username": "root", "admin": True, "tokens": [
            {"token": "glpat-admin-000000000000", "scopes": ["api"], "name": "admin"},
        ]},
        {"username": "alice", "tokens": [
            {"token": "glpat-least-0000000000000", "scopes": ["read_api", "create_runner", "manage_runner"],
             "name": "least"},
            {"token": "glpat-create-only-000000000", "scopes": ["create_runner"], "name": "create-only"},
            {"token": "glpat-read-only-0000000000", "scopes": ["read_api"], "name": "read-only"},
            {"token": "glpat-expired-000000000000", "scopes": ["api"], "name": "old", "expires_at": "2020-01-01"},
        ]},
    ],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
    "runners": [
        {"description": f"group-runner-{index}", "runner_type": "group_type", "group": "platform",
         "tag_list": ["docker"]}
        for index in range(130)
    ],
}


@pytest.fixture
def sim(make_sim):
    return make_sim(SEED)


def client_for(sim, token, **overrides):
    params = {"api_url": sim.url, "api_token": token, "validate_certs": True, "ca_path": None, "timeout": 5}
    params.update(overrides)
    return GitLabClient(ConnectionSettings.from_params(params))


def test_list_follows_every_page(sim):
    runners = client_for(sim, "glpat-least-0000000000000").list("Listing group runners", "/groups/1/runners",
                                                                {"type": "group_type"})
    assert len(runners) == 130
    assert [runner["description"] for runner in runners[:2]] == ["group-runner-0", "group-runner-1"]
    pages = sim.requests("GET", "/api/v4/groups/1/runners")
    assert len(pages) == 2  # 100 per page


def test_get_missing_returns_none_only_when_asked(sim):
    client = client_for(sim, "glpat-admin-000000000000")
    assert client.get("Reading runner 99999", "/runners/99999", missing_ok=True) is None
    with pytest.raises(RunnerOpsError) as caught:
        client.get("Reading runner 99999", "/runners/99999")
    assert caught.value.status == 404
    assert "Reading runner 99999 failed: GitLab answered 404" in str(caught.value)


def test_rate_limit_is_obeyed_then_succeeds(sim):
    sim.fault("/api/v4/version", method="GET", status=429, retry_after=1, times=2)
    version = client_for(sim, "glpat-admin-000000000000").get("Reading the version", "/version")
    assert version["version"] == "17.11.1-ee"
    statuses = [entry["status"] for entry in sim.requests("GET", "/api/v4/version")]
    assert statuses == [429, 429, 200]


def test_server_errors_are_retried(sim):
    sim.fault("/api/v4/version", method="GET", status=502, times=3)
    client_for(sim, "glpat-admin-000000000000").get("Reading the version", "/version")
    assert [entry["status"] for entry in sim.requests("GET", "/api/v4/version")] == [502, 502, 502, 200]


def test_create_style_post_is_not_resent_after_a_server_error(sim):
    sim.fault("/api/v4/user/runners", method="POST", status=503, times=1)
    client = client_for(sim, "glpat-admin-000000000000")
    with pytest.raises(RunnerOpsError) as caught:
        client.post("Creating runner 'x'", "/user/runners", {"runner_type": "instance_type"}, retry_transient=False)
    assert caught.value.status == 503
    assert len(sim.requests("POST", "/api/v4/user/runners")) == 1


def test_dropped_connection_fails_with_a_connection_message(sim):
    sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after", times=1)
    client = client_for(sim, "glpat-admin-000000000000")
    with pytest.raises(RunnerOpsError) as caught:
        client.post("Creating runner 'x'", "/user/runners", {"runner_type": "instance_type"}, retry_transient=False)
    assert "connection to GitLab failed" in str(caught.value)
    # GitLab acted on it: the runner exists although the answer was lost.
    assert any(runner["runner_type"] == "instance_type" for runner in sim.state()["runners"])


def test_timeout_is_applied(sim):
    sim.fault("/api/v4/version", method="GET", action="delay", delay=3, times=None)
    client = client_for(sim, "glpat-admin-000000000000", timeout=1)
    client.gl.retry_transient_errors = False
    with pytest.raises(RunnerOpsError) as caught:
        client.get("Reading the version", "/version")
    assert "within the timeout" in str(caught.value)


def test_preflight_reports_version_and_scopes(sim):
    result = preflight(client_for(sim, "glpat-least-0000000000000"), ["read", "create", "manage"])
    assert result.version == "17.11.1-ee"
    assert set(result.scopes) == {"read_api", "create_runner", "manage_runner"}
    assert result.token_name == "least"


def test_preflight_names_the_missing_scope_before_any_write(sim):
    with pytest.raises(RunnerOpsError) as caught:
        preflight(client_for(sim, "glpat-create-only-000000000"), ["read", "create"])
    message = str(caught.value)
    assert "'create-only' has the scopes create_runner" in message
    assert "find and read runners" in message and "api, read_api" in message
    # The version endpoint needs a read scope, so a create-only token never asks for it.
    assert sim.requests("GET", "/api/v4/version") == []
    assert [entry["method"] for entry in sim.requests()] == ["GET"]


def test_preflight_manage_without_scope(sim):
    with pytest.raises(RunnerOpsError) as caught:
        preflight(client_for(sim, "glpat-read-only-0000000000"), ["read", "manage"])
    assert "manage_runner" in str(caught.value)


def test_preflight_rejects_manage_runner_on_old_gitlab(make_sim):
    seed = dict(SEED, settings={"version": "16.11.0-ee"})
    sim = make_sim(seed)
    with pytest.raises(RunnerOpsError) as caught:
        preflight(client_for(sim, "glpat-least-0000000000000"), ["read", "manage"])
    assert "arrived in 17.1" in str(caught.value)


def test_expired_token_fails_with_the_fix(sim):
    with pytest.raises(RunnerOpsError) as caught:
        preflight(client_for(sim, "glpat-expired-000000000000"), ["read"])
    assert caught.value.status == 401
    assert "has expired" in caught.value.fix


def test_unknown_token(sim):
    with pytest.raises(RunnerOpsError) as caught:
        preflight(client_for(sim, "glpat-nobody"), ["read"])
    assert caught.value.status == 401
    assert "does not know this api_token" in caught.value.fix
