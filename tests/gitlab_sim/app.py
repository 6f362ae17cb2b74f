"""The GitLab REST API (``/api/v4``) served from a :class:`~.state.SimState`.

Each route checks what GitLab checks, in GitLab's order: Grape ``before``
filters (authentication and scopes; for the group and project runner lists also
the namespace lookup and its permission), then parameter validation, then the
endpoint body (record lookup, then the permission on it).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import re
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Callable, Iterable, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import entities
from .params import AtLeastOneOf, Kind, MutuallyExclusive, Param, Rule, ValidationError, validate
from .state import (
    ACCESS_LEVELS,
    MAINTAINER,
    OWNER,
    RUNNER_TYPES,
    Group,
    Project,
    Runner,
    SimState,
    User,
    full_messages,
    normalize_tags,
    to_sentence,
    validation_errors,
    version_matches_prefix,
)

API_PREFIX = "/api/v4"


class SimHolder(Protocol):
    state: SimState


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def no_content(headers: dict[str, str] | None = None) -> Response:
    return Response(status=204, headers=headers)


def forbidden(reason: str | None = None) -> ApiError:
    return ApiError(403, {"message": f"403 Forbidden - {reason}" if reason else "403 Forbidden"})


def bad_request(reason: str) -> ApiError:
    return ApiError(400, {"message": f"400 Bad request - {reason}"})


def rotation_deadline_passed() -> ApiError:
    """EE refuses to reset a token past the rotation deadline it was created with."""
    return ApiError(422, {"message": "Token rotation deadline has passed"})


def not_found(what: str) -> ApiError:
    return ApiError(404, {"message": f"404 {what} Not Found"})


def unauthorized() -> ApiError:
    return ApiError(401, {"message": "401 Unauthorized"})


ROUTE_NOT_FOUND = {"error": "404 Not Found"}


# ---------------------------------------------------------------------- raw paths


def raw_path(environ: dict[str, Any]) -> str:
    """The request path exactly as the client sent it (``%2F`` still encoded)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return environ.get("PATH_INFO", "/")
    path = raw.split("?", 1)[0]
    return urlsplit(path).path if "://" in path else path


class RawPathMiddleware:
    """Let an encoded slash reach the router as part of one path segment.

    The server decodes ``%2F`` in PATH_INFO, so ``/projects/platform%2Fapp``
    would look like ``/projects/platform/app``.  This rebuilds PATH_INFO from the
    raw path with ``/`` and ``%`` inside a segment re-escaped; views that take a
    group or project reference unquote it once more.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        segments = [unquote(s).replace("%", "%25").replace("/", "%2F") for s in raw_path(environ).split("/")]
        # WSGI carries PATH_INFO as latin-1 decoded bytes.
        environ["PATH_INFO"] = "/".join(segments).encode("utf-8").decode("latin-1")
        return self.app(environ, start_response)


# ---------------------------------------------------------------------- request parameters


def _rack_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Query/form pairs with Rack's ``key[]`` (array) and ``key[sub]`` (hash) forms."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("[]"):
            existing = out.get(key[:-2])
            out[key[:-2]] = (existing if isinstance(existing, list) else []) + [value]
        elif m := re.fullmatch(r"([^\[\]]+)\[([^\[\]]+)\]", key):
            existing = out.get(m[1])
            out[m[1]] = (existing if isinstance(existing, dict) else {}) | {m[2]: value}
        else:
            out[key] = value
    return out


def request_params() -> dict[str, Any]:
    """Query string merged with the JSON or form body (the body wins), like Grape's params."""
    if "params" not in g:
        merged = _rack_params(parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True))
        if request.mimetype == "application/json":
            raw = request.get_data(cache=True)
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise ApiError(400, {"error": "message body does not match declared format"}) from exc
                if isinstance(body, dict):
                    merged.update(body)
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            merged.update(_rack_params(request.form.items(multi=True)))
        g.params = merged
    return g.params


def checked(rules: list[Rule], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return validate(request_params() | (extra or {}), rules)
    except ValidationError as exc:
        raise ApiError(400, {"error": ", ".join(exc.messages)}) from exc


def base_url() -> str:
    """The scheme, host and port the client used; GitLab would use its external URL."""
    return request.host_url.rstrip("/")


# ---------------------------------------------------------------------- authentication


@dataclass(frozen=True)
class Scope:
    """One ``allow_access_with_scope`` declaration; ``applies`` is its ``if:`` condition."""

    name: str
    applies: Callable[[], bool] = lambda: True


def _is_read() -> bool:
    return request.method in ("GET", "HEAD")


def _is_post() -> bool:
    return request.method == "POST"


def _runner_id_route() -> bool:
    return "runner_id" in (request.view_args or {}) and raw_path(request.environ).startswith("/api/v4/runners/")


# Endpoint-class scopes first, then API::API's own (api, read_api): the order in
# which GitLab lists them in an insufficient_scope error.
API_SCOPES = (Scope("api"), Scope("read_api", _is_read))
RUNNERS_SCOPES = (Scope("manage_runner", _runner_id_route), *API_SCOPES)
USER_RUNNERS_SCOPES = (Scope("create_runner", _is_post), *API_SCOPES)
READ_USER_SCOPES = (Scope("read_user", _is_read), *API_SCOPES)


def _invalid_token(description: str) -> ApiError:
    return ApiError(
        401,
        {"error": "invalid_token", "error_description": description},
        {"WWW-Authenticate": f'Bearer realm="The API", error="invalid_token", error_description="{description}"'},
    )


def authenticate(state: SimState, scopes: tuple[Scope, ...] | None) -> User:
    """The current user from a personal access token; ``scopes=None`` accepts any scope."""
    token = request_params().get("private_token") or request.headers.get("PRIVATE-TOKEN")
    if not token:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if not token or not isinstance(token, str):
        raise unauthorized()
    pat = state.find_pat(token)
    if pat is None:
        raise unauthorized()
    now = state.now()
    if pat.expired(now):
        raise _invalid_token("Token is expired. You can either do re-authorization or token refresh.")
    if pat.revoked:
        raise _invalid_token("Token was revoked. You have to re-authorize from the user.")
    if scopes is not None and not set(pat.scopes) & {s.name for s in scopes if s.applies()}:
        raise ApiError(
            403,
            {
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": " ".join(s.name for s in scopes),
            },
        )
    pat.last_used_at = now
    g.pat = pat
    return state.users[pat.user_id]


# ---------------------------------------------------------------------- parameter declarations

PAGINATION = [Param("page", Kind.INTEGER, default=1), Param("per_page", Kind.INTEGER, default=20)]
STATUSES = ("active", "paused", "online", "offline", "never_contacted", "stale")
SCOPES = ("specific", "shared", *RUNNER_TYPES, *STATUSES)
FILTERS: list[Rule] = [
    Param("type", values=RUNNER_TYPES),
    Param("paused", Kind.BOOLEAN),
    Param("status", values=STATUSES),
    Param("tag_list", Kind.STRING_LIST),
    Param("version_prefix", regexp=r"[\d+.]+"),
    *PAGINATION,
]
SCOPED_FILTERS: list[Rule] = [Param("scope", values=SCOPES), *FILTERS]
RUNNER_ID = Param("id", Kind.INTEGER, required=True)

RUNNER_ATTRIBUTES: list[Rule] = [
    Param("description"),
    Param("maintenance_note"),
    Param("paused", Kind.BOOLEAN),
    Param("locked", Kind.BOOLEAN),
    Param("access_level", values=ACCESS_LEVELS),
    Param("run_untagged", Kind.BOOLEAN),
    Param("tag_list", Kind.STRING_LIST),
    Param("maximum_timeout", Kind.INTEGER),
]
CREATE_RUNNER: list[Rule] = [
    Param("runner_type", required=True, values=RUNNER_TYPES),
    Param("group_id", Kind.INTEGER, required=True, given=("runner_type", "group_type")),
    Param("project_id", Kind.INTEGER, required=True, given=("runner_type", "project_type")),
    *RUNNER_ATTRIBUTES,
]
# EE only (``create_runner_params_ee``); CE declares neither, and Grape drops undeclared parameters.
CREATE_RUNNER_EE: list[Rule] = [
    Param("token_expires_at", Kind.DATETIME),
    Param("token_rotation_deadline", Kind.DATETIME),
]
UPDATABLE = ("description", "active", "paused", "tag_list", "run_untagged", "locked", "access_level",
             "maximum_timeout", "maintenance_note")
UPDATE_RUNNER: list[Rule] = [
    RUNNER_ID,
    Param("description"),
    Param("active", Kind.BOOLEAN),
    Param("paused", Kind.BOOLEAN),
    Param("tag_list", Kind.STRING_LIST),
    Param("run_untagged", Kind.BOOLEAN),
    Param("locked", Kind.BOOLEAN),
    Param("access_level", values=ACCESS_LEVELS),
    Param("maximum_timeout", Kind.INTEGER),
    Param("maintenance_note"),
    AtLeastOneOf(UPDATABLE),
    MutuallyExclusive(("active", "paused")),
]
RUNNER_TOKEN = Param("token", required=True)
REGISTER_RUNNER: list[Rule] = [
    RUNNER_TOKEN,
    Param("description"),
    Param("maintainer_note"),
    Param("maintenance_note"),
    Param("info", Kind.HASH),
    Param("active", Kind.BOOLEAN),
    Param("paused", Kind.BOOLEAN),
    Param("locked", Kind.BOOLEAN),
    Param("access_level", values=ACCESS_LEVELS),
    Param("run_untagged", Kind.BOOLEAN),
    Param("tag_list", Kind.STRING_LIST),
    Param("maximum_timeout", Kind.INTEGER),
    MutuallyExclusive(("maintainer_note", "maintenance_note")),
    MutuallyExclusive(("active", "paused")),
]
JOB_REQUEST: list[Rule] = [
    RUNNER_TOKEN,
    Param("last_update"),
    Param("info", Kind.HASH),
    Param("session", Kind.HASH),
    Param("job_age", Kind.INTEGER),
]
UPDATE_JOB: list[Rule] = [
    Param("token", required=True),
    Param("state"),
    Param("exit_code", Kind.INTEGER),
    Param("failure_reason"),
    Param("checksum"),
    Param("output", Kind.HASH),
    Param("info", Kind.HASH),
]


def runner_attributes(p: dict[str, Any]) -> dict[str, Any]:
    """Validated parameters as Runner attributes (``paused`` is stored inverted as ``active``)."""
    attrs: dict[str, Any] = {}
    for key in ("description", "maintenance_note", "maximum_timeout"):
        if key in p:
            attrs[key] = p[key]
    for key in ("locked", "run_untagged", "access_level", "active"):
        if p.get(key) is not None:
            attrs[key] = p[key]
    if p.get("paused") is not None:
        attrs["active"] = not p["paused"]
    if "tag_list" in p:
        attrs["tag_list"] = normalize_tags(p["tag_list"] or [])
    return attrs


# ---------------------------------------------------------------------- pagination and filters


def paginate(items: list[Any], p: dict[str, Any], present: Callable[[Any], Any]) -> Response:
    """Offset pagination with GitLab's X-* headers and a Link built from the client's URL."""
    page = max(p["page"] or 1, 1)
    per_page = p["per_page"] or 20
    per_page = 20 if per_page < 1 else min(per_page, 100)
    total = len(items)
    total_pages = max(math.ceil(total / per_page), 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if page > 1 else None

    others = [(k, v) for k, v in parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
              if k not in ("page", "per_page")]
    path = raw_path(request.environ)

    def href(number: int) -> str:
        # Rails' Hash#to_query sorts by key.
        query = sorted(others + [("page", str(number)), ("per_page", str(per_page))], key=lambda kv: kv[0])
        return f"{base_url()}{path}?{urlencode(query)}"

    links = []
    if prev_page:
        links.append(f'<{href(prev_page)}>; rel="prev"')
    if next_page:
        links.append(f'<{href(next_page)}>; rel="next"')
    links.append(f'<{href(1)}>; rel="first"')
    links.append(f'<{href(total_pages)}>; rel="last"')
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
        "X-Total": str(total),
        "X-Total-Pages": str(total_pages),
        "Link": ", ".join(links),
    }
    return json_response([present(item) for item in chunk], headers=headers)


def filter_runners(state: SimState, runners: list[Runner], p: dict[str, Any], scopes: tuple[str, ...]) -> list[Runner]:
    scope = p.get("scope")
    if scope:
        if scope not in scopes:
            raise ApiError(400, {"message": "Scope contains invalid value"})
        if scope == "specific":
            runners = [r for r in runners if r.runner_type != "instance_type"]
        elif scope == "shared":
            runners = [r for r in runners if r.runner_type == "instance_type"]
        elif scope in RUNNER_TYPES:
            runners = [r for r in runners if r.runner_type == scope]
        else:
            runners = [r for r in runners if state.matches_status(r, scope)]
    if p.get("type"):
        runners = [r for r in runners if r.runner_type == p["type"]]
    if p.get("status"):
        runners = [r for r in runners if state.matches_status(r, p["status"])]
    if p.get("paused") is not None:
        runners = [r for r in runners if r.active != p["paused"]]
    if p.get("version_prefix"):
        prefix = p["version_prefix"]
        runners = [r for r in runners if any(version_matches_prefix(m.version, prefix) for m in r.managers.values())]
    if p.get("tag_list"):
        runners = [r for r in runners if set(p["tag_list"]) <= set(r.tag_list)]
    return sorted(runners, key=lambda r: r.id)


def check_unmodified_since(updated_at: datetime | None) -> None:
    """``destroy_conditionally!``: 412 when the record changed after If-Unmodified-Since."""
    header = request.headers.get("If-Unmodified-Since")
    if not header or updated_at is None:
        return
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if updated_at.replace(microsecond=0) > since:
        raise ApiError(412, {"message": "412 Precondition Failed"})


# ---------------------------------------------------------------------- the application


def create_app(sim: SimHolder) -> Flask:
    app = Flask("gitlab_sim")
    app.wsgi_app = RawPathMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)

    def state() -> SimState:
        return sim.state

    def user_group(user: User, ref: str) -> Group:
        group = state().find_group(unquote(ref))
        if group is None or not state().can_read_group(user, group):
            raise not_found("Group")
        return group

    def user_project(user: User, ref: str) -> Project:
        project = state().find_project(unquote(ref))
        if project is None or not state().can_read_project(user, project):
            raise not_found("Project")
        return project

    def get_runner(runner_id: int) -> Runner:
        runner = state().runners.get(runner_id)
        if runner is None:
            raise not_found("Runner")
        return runner

    def runner_list(runners: list[Runner], p: dict[str, Any], scopes: tuple[str, ...] = SCOPES) -> Response:
        found = filter_runners(state(), runners, p, scopes)
        return paginate(found, p, lambda r: entities.runner(state(), r, base_url()))

    def authenticate_runner(token: str) -> Runner:
        runner = state().find_runner_by_token(token)
        if runner is None:
            raise forbidden()
        return runner

    def heartbeat(runner: Runner) -> None:
        params = request_params()
        info = params["info"] if isinstance(params.get("info"), dict) else {}
        system_id = params.get("system_id")
        state().heartbeat(runner, str(system_id) if system_id else None, info, request.remote_addr)

    # ------------------------------------------------------------ user side: runners

    @api.post("/user/runners")
    def create_user_runner() -> Response:
        user = authenticate(state(), USER_RUNNERS_SCOPES)
        p = checked(CREATE_RUNNER + (CREATE_RUNNER_EE if state().settings.enterprise else []))
        runner_type = p["runner_type"]
        group = project = None
        if runner_type == "group_type":
            group = state().groups.get(p["group_id"]) if p["group_id"] is not None else None
            if group is None:
                raise bad_request("Missing/invalid group")
            allowed = user.admin or state().group_level(user, group) >= OWNER
        elif runner_type == "project_type":
            project = state().projects.get(p["project_id"]) if p["project_id"] is not None else None
            if project is None:
                raise bad_request("Missing/invalid project")
            allowed = user.admin or state().project_level(user, project) >= MAINTAINER
        else:
            allowed = user.admin
        if not allowed:
            raise forbidden("Insufficient permissions")
        runner = state().create_runner(
            runner_type, "authenticated_user", group=group, project=project,
            attributes=runner_attributes(p), creator=user,
        )
        errors = validation_errors(runner)
        if errors:
            raise bad_request(to_sentence(full_messages(errors)))
        problem = state().requested_expiry_problem(runner, p.get("token_expires_at"), p.get("token_rotation_deadline"))
        if problem:
            raise bad_request(problem)
        state().add_runner(runner)
        return json_response(entities.registration_details(runner), 201)

    @api.get("/runners")
    def list_owned_runners() -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        p = checked(SCOPED_FILTERS)
        return runner_list(state().owned_runners(user), p, scopes=STATUSES)

    @api.get("/runners/all")
    def list_all_runners() -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        p = checked(SCOPED_FILTERS)
        if not user.admin:
            raise forbidden()
        return runner_list(list(state().runners.values()), p)

    @api.get("/runners/<runner_id>")
    def show_runner(runner_id: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        runner = get_runner(checked([RUNNER_ID], {"id": runner_id})["id"])
        if not state().can_read_runner(user, runner):
            raise forbidden("No access granted")
        return json_response(entities.runner_details(state(), runner, user, base_url()))

    @api.get("/runners/<runner_id>/managers")
    def list_managers(runner_id: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        runner = get_runner(checked([RUNNER_ID], {"id": runner_id})["id"])
        if not state().can_read_runner(user, runner):
            raise forbidden("No access granted")
        managers = sorted(runner.managers.values(), key=lambda m: m.id)
        return json_response([entities.runner_manager(state(), m) for m in managers])

    @api.put("/runners/<runner_id>")
    def update_runner(runner_id: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        p = checked(UPDATE_RUNNER, {"id": runner_id})
        runner = get_runner(p.pop("id"))
        if not state().can_update_runner(user, runner):
            raise forbidden("No access granted")
        attrs = runner_attributes(p)
        candidate = dataclasses.replace(runner, **attrs)
        errors = validation_errors(candidate, changed=attrs)
        if errors:
            raise ApiError(400, {"message": errors})
        for key, value in attrs.items():
            setattr(runner, key, value)
        runner.updated_at = state().now()
        return json_response(entities.runner_details(state(), runner, user, base_url()))

    @api.delete("/runners/<runner_id>")
    def delete_runner(runner_id: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        runner = get_runner(checked([RUNNER_ID], {"id": runner_id})["id"])
        if not user.admin:
            if len(runner.project_ids) > 1:
                raise forbidden("Runner associated with more than one project")
            if not state().can_update_runner(user, runner):
                raise forbidden("No access granted")
        check_unmodified_since(runner.updated_at)
        del state().runners[runner.id]
        return no_content()

    @api.post("/runners/<runner_id>/reset_authentication_token")
    def reset_runner_token(runner_id: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        runner = get_runner(checked([RUNNER_ID], {"id": runner_id})["id"])
        if not state().can_update_runner(user, runner):
            raise forbidden("No access granted")
        if not state().reset_token(runner):
            raise rotation_deadline_passed()
        return json_response(entities.token_with_expiration(runner), 201)

    # ------------------------------------------------------------ user side: namespaces, user, metadata

    @api.get("/groups/<ref>")
    def show_group(ref: str) -> Response:
        user = authenticate(state(), API_SCOPES)
        group = user_group(user, ref)
        return json_response(entities.group_detail(state(), group, user, base_url()))

    @api.get("/groups/<ref>/runners")
    def list_group_runners(ref: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        group = user_group(user, ref)
        if not (user.admin or state().group_level(user, group) >= MAINTAINER):
            raise forbidden()
        p = checked(FILTERS)
        return runner_list(state().group_runners(group), p)

    @api.get("/projects/<ref>")
    def show_project(ref: str) -> Response:
        user = authenticate(state(), API_SCOPES)
        project = user_project(user, ref)
        return json_response(entities.project_detail(state(), project, user, base_url()))

    @api.get("/projects/<ref>/runners")
    def list_project_runners(ref: str) -> Response:
        user = authenticate(state(), RUNNERS_SCOPES)
        project = user_project(user, ref)
        if not (user.admin or state().project_level(user, project) >= MAINTAINER):
            raise forbidden()
        p = checked(SCOPED_FILTERS)
        return runner_list(state().project_runners(project), p)

    @api.get("/version")
    @api.get("/metadata")
    def version() -> Response:
        authenticate(state(), READ_USER_SCOPES)
        settings = state().settings
        return json_response(
            {
                "version": settings.version,
                "revision": settings.revision,
                "kas": {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None, "version": None},
                "enterprise": settings.version.endswith("-ee"),
            }
        )

    @api.get("/user")
    def current_user() -> Response:
        user = authenticate(state(), READ_USER_SCOPES)
        return json_response(entities.current_user(user, base_url()))

    @api.get("/personal_access_tokens/self")
    def token_self() -> Response:
        authenticate(state(), None)
        return json_response(entities.personal_access_token(g.pat, active=True))

    @api.delete("/personal_access_tokens/self")
    def revoke_token_self() -> Response:
        # Any scope may revoke its own token (GitLab 15.4 and later); from then on it answers 401.
        authenticate(state(), None)
        g.pat.revoked = True
        return no_content()

    # ------------------------------------------------------------ runner side (token in params)

    @api.post("/runners")
    def register_runner() -> Response:
        p = checked(REGISTER_RUNNER)
        token = p["token"] or ""
        target = state().registration_target(token) if token else None
        if target is None:
            if token and not state().settings.allow_runner_registration_token:
                raise ApiError(410, {"message": "410 Gone - runner registration disallowed"})
            raise forbidden("invalid token supplied")
        runner_type, owner = target
        if not state().registration_allowed(owner):
            raise ApiError(410, {"message": "410 Gone - runner registration disallowed"})
        attrs = runner_attributes(p)
        if p.get("maintainer_note") is not None and attrs.get("maintenance_note") is None:
            attrs["maintenance_note"] = p["maintainer_note"]
        if isinstance(p.get("info"), dict) and p["info"].get("name") is not None:
            attrs["name"] = str(p["info"]["name"])
        runner = state().create_runner(
            runner_type, "registration_token",
            group=owner if isinstance(owner, Group) else None,
            project=owner if isinstance(owner, Project) else None,
            attributes=attrs,
        )
        errors = validation_errors(runner)
        if errors:
            raise ApiError(400, {"message": errors})
        state().add_runner(runner)
        return json_response(entities.registration_details(runner), 201)

    @api.delete("/runners")
    def unregister_runner() -> Response:
        p = checked([RUNNER_TOKEN])
        runner = authenticate_runner(p["token"])
        check_unmodified_since(runner.updated_at)
        del state().runners[runner.id]
        return no_content()

    @api.delete("/runners/managers")
    def unregister_manager() -> Response:
        p = checked([RUNNER_TOKEN, Param("system_id", required=True)])
        runner = authenticate_runner(p["token"])
        if p["system_id"] not in runner.managers:
            raise not_found("Runner manager not found")
        del runner.managers[p["system_id"]]
        return no_content()

    @api.post("/runners/verify")
    def verify_runner() -> Response:
        p = checked([RUNNER_TOKEN, Param("system_id")])
        runner = authenticate_runner(p["token"])
        heartbeat(runner)
        return json_response(entities.registration_details(runner), 200)

    @api.post("/runners/reset_authentication_token")
    def reset_own_token() -> Response:
        p = checked([RUNNER_TOKEN])
        runner = authenticate_runner(p["token"])
        heartbeat(runner)
        if not state().reset_token(runner):
            raise rotation_deadline_passed()
        return json_response(entities.token_with_expiration(runner), 201)

    @api.post("/jobs/request")
    def request_job() -> Response:
        p = checked(JOB_REQUEST)
        runner = authenticate_runner(p["token"])
        heartbeat(runner)
        system_id = request_params().get("system_id")
        job = state().take_job(runner, str(system_id) if system_id else None)
        if job is None:
            # Nothing to do: the queue's version, which the runner sends back as last_update.
            return no_content({"X-GitLab-Last-Update": runner.queue_value})
        return json_response(entities.job_payload(job), 201)

    @api.put("/jobs/<int:job_id>")
    def update_job(job_id: int) -> Response:
        p = checked(UPDATE_JOB)
        job = state().jobs.get(job_id)
        # A 403, never a 404, for an unknown job: the runner must stop it either way.
        if job is None or not hmac.compare_digest(job.token, p["token"]):
            raise forbidden()
        if job.status != "running":
            raise ApiError(403, {"message": "403 Forbidden  - Job is not running"}, {"Job-Status": job.status})
        state().job_heartbeat(job)
        if p.get("state") in ("success", "failed"):
            state().finish_job(job, p["state"], p.get("exit_code"), p.get("failure_reason"))
        elif p.get("state") not in (None, "running"):
            raise bad_request(f"Unknown job state {p['state']}")
        return json_response(200, 200, {"Job-Status": job.status})

    app.register_blueprint(api)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return json_response(exc.body, exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code in (404, 405):
            # Unknown route or method: GitLab's catch-all route answers 404 for both.
            return json_response(ROUTE_NOT_FOUND, 404)
        return json_response({"error": f"{exc.code} {exc.name}"}, exc.code or 500)

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> Response:
        traceback.print_exception(exc, file=sys.stderr)
        return json_response({"message": f"500 {HTTPStatus(500).phrase}"}, 500)

    return app
