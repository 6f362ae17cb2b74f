# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The GitLab connection code without a network: settings, error translation, scope logic."""

from __future__ import annotations

import json

import gitlab
import pytest
import requests

from ansible_collections.runnerops.gitlab.plugins.module_utils import _tokens
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import (
    ConnectionSettings,
    GitLabClient,
    describe_gitlab_error,
    missing_needs,
    parse_version,
    python_gitlab_problem,
    translate_error,
)


def settings(**overrides):
    params = {"api_url": "https://gitlab.example.com", "api_token": "glpat-secret", "validate_certs": True,
              "ca_path": None, "timeout": 30}
    params.update(overrides)
    return ConnectionSettings.from_params(params)


def http_error(status, body, cls=gitlab.exceptions.GitlabHttpError):
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    message = body
    if isinstance(body, dict):
        message = body.get("error", body.get("message"))
    return cls(response_code=status, error_message=message, response_body=raw)


@pytest.mark.parametrize("text, expected", [
    ("17.11.1-ee", (17, 11, 1)),
    ("16.0.0-pre", (16, 0, 0)),
    ("v18.2", (18, 2, 0)),
    ("unknown", (0, 0, 0)),
    (None, (0, 0, 0)),
])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


def test_python_gitlab_is_usable():
    assert python_gitlab_problem() is None


def test_settings_strip_trailing_slash_and_pick_ca_bundle():
    conn = settings(api_url="https://gitlab.example.com/", ca_path="/etc/ssl/private-ca.pem")
    assert conn.api_url == "https://gitlab.example.com"
    assert conn.ssl_verify == "/etc/ssl/private-ca.pem"
    assert settings(validate_certs=False, ca_path="/etc/ssl/private-ca.pem").ssl_verify is False
    assert settings().ssl_verify is True


@pytest.mark.parametrize("overrides, field, hint", [
    ({"api_url": "gitlab.example.com"}, "api_url", "with its scheme"),
    ({"api_url": "ftp://gitlab.example.com"}, "api_url", "with its scheme"),
    ({"api_url": "https://gitlab.example.com/api/v4"}, "api_url", "without /api/v4"),
    ({"api_token": ""}, "api_token", "GITLAB_PRIVATE_TOKEN"),
    ({"timeout": -5}, "timeout", "1 or more"),
    ({"api_token": "glrt-t1_runner0000000000"}, "api_token is a runner authentication token (glrt-)", "access token"),
    ({"api_token": "GR1348941abcdefghijkl"}, "api_token is a runner registration token", "access token"),
])
def test_settings_reject_bad_input_naming_the_field(overrides, field, hint):
    with pytest.raises(RunnerOpsError) as caught:
        settings(**overrides)
    assert field in str(caught.value)
    assert hint in str(caught.value)


def test_client_is_configured_for_retries_and_timeout():
    client = GitLabClient(settings(timeout=7, ca_path="/tmp/ca.pem"))
    assert client.gl.timeout == 7
    assert client.gl.retry_transient_errors is True
    assert client.gl.ssl_verify == "/tmp/ca.pem"
    assert client.gl.api_url == "https://gitlab.example.com/api/v4"


def test_insufficient_scope_names_accepted_scopes():
    exc = http_error(403, {"error": "insufficient_scope",
                           "error_description": "The request requires higher privileges than provided by the access token.",
                           "scope": "api create_runner"})
    status, message = describe_gitlab_error(exc)
    assert status == 403
    assert "api create_runner" in message
    error = translate_error("Creating runner 'docker'", exc)
    assert error.status == 403
    assert "Creating runner 'docker' failed: GitLab answered 403" in str(error)
    assert "scopes" in error.fix


def test_validation_errors_are_flattened():
    exc = http_error(400, {"message": {"maximum_timeout": ["needs to be at least 10 minutes"]}},
                     cls=gitlab.exceptions.GitlabUpdateError)
    error = translate_error("Updating runner 'docker'", exc)
    assert error.gitlab_message == "maximum_timeout needs to be at least 10 minutes"
    assert error.fix == "correct the value GitLab names."


@pytest.mark.parametrize("body, fix_words", [
    ({"error": "invalid_token", "error_description": "Token is expired. You can either do re-authorization or token refresh."},
     "has expired"),
    ({"error": "invalid_token", "error_description": "Token was revoked. You have to re-authorize from the user."},
     "was revoked"),
    ({"message": "401 Unauthorized"}, "does not know this api_token"),
])
def test_401_variants_explain_the_token_problem(body, fix_words):
    exc = http_error(401, body, cls=gitlab.exceptions.GitlabAuthenticationError)
    error = translate_error("Listing runners", exc)
    assert error.status == 401
    assert fix_words in error.fix


@pytest.mark.parametrize("status, body, fix_words", [
    (403, {"message": "403 Forbidden - Insufficient permissions"}, "Owner role"),
    (404, {"message": "404 Group Not Found"}, "exists"),
    (410, {"message": "410 Gone - runner registration disallowed"}, "glrt- token"),
    (429, b"Retry later\n", "rate limiting"),
    (503, {"message": "503 Service Unavailable"}, "GitLab's health"),
])
def test_status_specific_fixes(status, body, fix_words):
    error = translate_error("Doing a thing", http_error(status, body))
    assert error.status == status
    assert fix_words in error.fix


def test_caller_fix_wins_over_default():
    error = translate_error("Creating runner 'x'", http_error(403, {"message": "403 Forbidden"}),
                            fix="ask a group Owner")
    assert error.fix == "ask a group Owner"


def test_transport_errors_get_their_own_fixes():
    assert "ca_path" in translate_error("Listing", requests.exceptions.SSLError("bad cert")).fix
    assert "raise timeout" in translate_error("Listing", requests.exceptions.ReadTimeout("slow")).fix
    assert "reachable" in translate_error("Listing", requests.exceptions.ConnectionError("refused")).fix


@pytest.mark.parametrize("scopes, needs, missing", [
    (["api"], ["read", "create", "manage"], []),
    (["create_runner"], ["read", "create"], ["read"]),
    (["read_api", "create_runner"], ["read", "create", "manage"], ["manage"]),
    (["read_api", "create_runner", "manage_runner"], ["read", "create", "manage"], []),
    (["read_user"], ["read"], ["read"]),
])
def test_missing_needs(scopes, needs, missing):
    assert missing_needs(scopes, needs) == missing


def test_error_as_fail_kwargs_carries_status_and_message():
    error = RunnerOpsError("Deleting runner 'x'", "GitLab answered 403: 403 Forbidden.", status=403,
                           gitlab_message="403 Forbidden", fix="ask an admin.")
    assert error.as_fail_kwargs() == {
        "msg": "Deleting runner 'x' failed: GitLab answered 403: 403 Forbidden. Fix: ask an admin.",
        "status": 403,
        "gitlab_message": "403 Forbidden",
    }


@pytest.mark.parametrize("token, expected", [
    ("glrt-t1_abc", True), ("glrtr-abc", False), ("glpat-abc", False), ("GR1348941abc", False),
    ("LEGACYtoken", False), ("", False), (None, False), ("$RUNNER_TOKEN", False),
])
def test_a_runner_token_is_told_by_its_prefix(token, expected):
    assert _tokens.is_runner_token(token) is expected
