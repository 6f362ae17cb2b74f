"""Authentication, token scopes and the token/user/version endpoints."""

from __future__ import annotations

import gitlab
import pytest
import requests

from tests.simulator.sim_seed import (
    ADMIN,
    ADMIN_CREATE_RUNNER,
    ADMIN_MANAGE_RUNNER,
    ADMIN_READ_API,
    ADMIN_READ_USER,
    ALICE,
    EXPIRED,
    REVOKED,
)

INSUFFICIENT = "The request requires higher privileges than provided by the access token."
RUNNERS = "manage_runner api read_api"
USER_RUNNERS = "create_runner api read_api"
READ_USER = "read_user api read_api"
PLAIN = "api read_api"
CREATE_BODY = {"runner_type": "instance_type"}


def test_missing_token_is_401(api):
    response = api("GET", "/runners")
    assert response.status_code == 401
    assert response.json() == {"message": "401 Unauthorized"}


def test_unknown_token_is_401(api, gl_for):
    assert api("GET", "/user", token="glpat-nope").json() == {"message": "401 Unauthorized"}
    with pytest.raises(gitlab.GitlabAuthenticationError) as caught:
        gl_for("glpat-nope").auth()
    assert caught.value.response_code == 401


def test_expired_token_is_401_invalid_token(api):
    response = api("GET", "/user", token=EXPIRED)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Token is expired. You can either do re-authorization or token refresh.",
    }
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="The API", error="invalid_token"')


def test_revoked_token_is_401_invalid_token(api):
    response = api("GET", "/runners", token=REVOKED)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Token was revoked. You have to re-authorize from the user.",
    }
    assert "WWW-Authenticate" in response.headers


def test_expiry_is_checked_before_scope(api):
    # The expired token has scope api, but 401 wins over anything else.
    assert api("POST", "/user/runners", token=EXPIRED, json={}).status_code == 401


def test_bearer_header_and_private_token_query_work(sim):
    bearer = requests.get(f"{sim.url}/api/v4/user", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
    query = requests.get(f"{sim.url}/api/v4/user", params={"private_token": ADMIN}, timeout=5)
    assert bearer.json()["username"] == query.json()["username"] == "root"


@pytest.mark.parametrize(
    ("token", "method", "path", "body", "status", "scope"),
    [
        # manage_runner: only /runners/:id... routes
        (ADMIN_MANAGE_RUNNER, "GET", "/runners/2", None, 200, None),
        (ADMIN_MANAGE_RUNNER, "GET", "/runners/2/managers", None, 200, None),
        (ADMIN_MANAGE_RUNNER, "PUT", "/runners/2", {"description": "x"}, 200, None),
        (ADMIN_MANAGE_RUNNER, "POST", "/runners/2/reset_authentication_token", None, 201, None),
        (ADMIN_MANAGE_RUNNER, "DELETE", "/runners/5", None, 204, None),
        (ADMIN_MANAGE_RUNNER, "GET", "/runners", None, 403, RUNNERS),
        (ADMIN_MANAGE_RUNNER, "GET", "/runners/all", None, 403, RUNNERS),
        (ADMIN_MANAGE_RUNNER, "GET", "/groups/1/runners", None, 403, RUNNERS),
        (ADMIN_MANAGE_RUNNER, "POST", "/user/runners", CREATE_BODY, 403, USER_RUNNERS),
        (ADMIN_MANAGE_RUNNER, "GET", "/user", None, 403, READ_USER),
        # create_runner: only POST /user/runners
        (ADMIN_CREATE_RUNNER, "POST", "/user/runners", CREATE_BODY, 201, None),
        (ADMIN_CREATE_RUNNER, "GET", "/runners", None, 403, RUNNERS),
        (ADMIN_CREATE_RUNNER, "GET", "/runners/all", None, 403, RUNNERS),
        (ADMIN_CREATE_RUNNER, "GET", "/runners/2", None, 403, RUNNERS),
        (ADMIN_CREATE_RUNNER, "DELETE", "/runners/2", None, 403, RUNNERS),
        (ADMIN_CREATE_RUNNER, "GET", "/groups/1", None, 403, PLAIN),
        # read_api: GET only
        (ADMIN_READ_API, "GET", "/runners/all", None, 200, None),
        (ADMIN_READ_API, "GET", "/runners/2", None, 200, None),
        (ADMIN_READ_API, "GET", "/projects/1/runners", None, 200, None),
        (ADMIN_READ_API, "GET", "/user", None, 200, None),
        (ADMIN_READ_API, "GET", "/version", None, 200, None),
        (ADMIN_READ_API, "POST", "/user/runners", CREATE_BODY, 403, USER_RUNNERS),
        (ADMIN_READ_API, "PUT", "/runners/2", {"description": "x"}, 403, RUNNERS),
        (ADMIN_READ_API, "DELETE", "/runners/2", None, 403, RUNNERS),
        (ADMIN_READ_API, "POST", "/runners/2/reset_authentication_token", None, 403, RUNNERS),
        # read_user: GET /user and /version
        (ADMIN_READ_USER, "GET", "/user", None, 200, None),
        (ADMIN_READ_USER, "GET", "/version", None, 200, None),
        (ADMIN_READ_USER, "GET", "/runners/2", None, 403, RUNNERS),
        (ADMIN_READ_USER, "GET", "/projects/1", None, 403, PLAIN),
        # api: everything
        (ADMIN, "POST", "/user/runners", CREATE_BODY, 201, None),
        (ADMIN, "DELETE", "/runners/5", None, 204, None),
    ],
)
def test_scopes(api, token, method, path, body, status, scope):
    response = api(method, path, token=token, json=body)
    assert response.status_code == status, response.text
    if scope:
        assert response.json() == {"error": "insufficient_scope", "error_description": INSUFFICIENT, "scope": scope}


@pytest.mark.parametrize("token", [ADMIN, ADMIN_READ_API, ADMIN_CREATE_RUNNER, ADMIN_MANAGE_RUNNER, ADMIN_READ_USER])
def test_personal_access_token_self_accepts_any_scope(gl_for, token):
    pat = gl_for(token).personal_access_tokens.get("self")
    assert pat.active is True and pat.revoked is False and pat.user_id == 1
    assert pat.scopes and pat.expires_at is None


def test_personal_access_token_self_fields(api):
    body = api("GET", "/personal_access_tokens/self", token=ADMIN).json()
    assert body["name"] == "admin" and body["scopes"] == ["api"]
    assert set(body) >= {"id", "name", "revoked", "created_at", "scopes", "user_id", "last_used_at", "active",
                         "expires_at"}
    assert body["last_used_at"].endswith("Z")


def test_personal_access_token_self_rejects_expired(api):
    assert api("GET", "/personal_access_tokens/self", token=EXPIRED).status_code == 401


@pytest.mark.parametrize("token", [ADMIN_READ_USER, ADMIN])
def test_token_revokes_itself_with_any_scope_then_answers_401(api, token):
    assert api("DELETE", "/personal_access_tokens/self", token=token).status_code == 204
    response = api("GET", "/personal_access_tokens/self", token=token)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token",
                               "error_description": "Token was revoked. You have to re-authorize from the user."}
    assert api("DELETE", "/personal_access_tokens/self", token=token).status_code == 401


def test_auth_sets_admin_and_web_url_under_client_url(sim, gl_for):
    gl = gl_for(ADMIN)
    gl.auth()  # a base-URL mismatch would raise (UserWarning is an error here)
    assert gl.user.username == "root" and gl.user.is_admin is True
    assert gl.user.web_url == f"{sim.url}/root"


def test_is_admin_absent_for_non_admins(gl_for):
    gl = gl_for(ALICE)
    gl.auth()
    assert not hasattr(gl.user, "is_admin")


def test_user_web_url_follows_host_the_client_used(sim, api):
    localhost_url = sim.url.replace("127.0.0.1", "localhost")
    body = requests.get(f"{localhost_url}/api/v4/user", headers={"PRIVATE-TOKEN": ADMIN}, timeout=5).json()
    assert body["web_url"] == f"{localhost_url}/root"


def test_version(gl_for, sim, api):
    assert gl_for(ADMIN).version() == ("17.11.1-ee", "c401a659d0c")
    sim.settings(version="16.11.0")
    body = api("GET", "/version", token=ADMIN_READ_USER).json()
    assert body["version"] == "16.11.0" and body["enterprise"] is False
    assert api("GET", "/metadata", token=ADMIN).json()["version"] == "16.11.0"


def test_version_requires_authentication(api, gl_for):
    assert api("GET", "/version").status_code == 401
    assert gl_for("glpat-bad").version() == ("unknown", "unknown")


def test_unknown_route_is_404(api):
    for method, path in [("GET", "/nope"), ("GET", "/runners/1/nope"), ("PATCH", "/runners/1"), ("POST", "/user")]:
        response = api(method, path, token=ADMIN)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"error": "404 Not Found"}
