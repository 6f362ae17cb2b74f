# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The GitLab connection shared by every API module: client, error translation, preflight.

Plain Python: nothing here needs AnsibleModule, so unit tests call it directly.
"""

from __future__ import annotations

import json
import re
import traceback
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError, sentence
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import api_token_problem

GITLAB_IMPORT_ERROR = None
try:
    import gitlab
    import gitlab.exceptions
    import requests
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    gitlab = None
    requests = None
    GITLAB_IMPORT_ERROR = traceback.format_exc()

MIN_PYTHON_GITLAB = (4, 0, 0)

# Scopes GitLab accepts for each kind of work (see the token scope table of the REST API).
ACCEPTED_SCOPES = {
    "read": ("api", "read_api"),
    "create": ("api", "create_runner"),
    "manage": ("api", "manage_runner"),
}
NEED_DESCRIPTIONS = {
    "read": "find and read runners, groups and projects",
    "create": "create runners",
    "manage": "update, reset the token of, or delete existing runners",
}
VERSION_SCOPES = ("api", "read_api", "read_user")
MANAGE_RUNNER_SINCE = (17, 1)


def python_gitlab_problem():
    """Why python-gitlab cannot be used here, or None when it can."""
    if gitlab is None:
        return "python-gitlab is not installed"
    if parse_version(gitlab.__version__) < MIN_PYTHON_GITLAB:
        wanted = ".".join(str(part) for part in MIN_PYTHON_GITLAB)
        return f"python-gitlab {gitlab.__version__} is too old; {wanted} or later is needed"
    return None


def parse_version(text):
    """``"17.11.1-ee"`` -> ``(17, 11, 1)``; anything unparsable -> ``(0, 0, 0)``."""
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text or ""))
    if not match:
        return (0, 0, 0)
    return tuple(int(part or 0) for part in match.groups())


@dataclass(frozen=True)
class ConnectionSettings:
    api_url: str
    api_token: str
    validate_certs: bool = True
    ca_path: str | None = None
    timeout: int = 30

    @classmethod
    def from_params(cls, params):
        settings = cls(
            api_url=(params.get("api_url") or "").rstrip("/"),
            api_token=params.get("api_token") or "",
            validate_certs=params.get("validate_certs", True),
            ca_path=params.get("ca_path"),
            timeout=params.get("timeout") or 30,
        )
        settings.check()
        return settings

    def check(self):
        action = "Reading the GitLab connection options"
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RunnerOpsError(
                action,
                f"api_url {self.api_url!r} is not an http(s) URL.",
                fix="set api_url (or GITLAB_URL) to the instance's base URL with its scheme, "
                "for example https://gitlab.example.com.",
            )
        if parts.path.rstrip("/").endswith("/api/v4"):
            raise RunnerOpsError(
                action,
                f"api_url {self.api_url!r} ends with /api/v4.",
                fix="give the instance's base URL without /api/v4; the API path is added for you.",
            )
        if not self.api_token:
            raise RunnerOpsError(
                action,
                "no api_token was given.",
                fix="set api_token or the GITLAB_PRIVATE_TOKEN environment variable.",
            )
        wrong_kind = api_token_problem(self.api_token)
        if wrong_kind:
            raise RunnerOpsError(
                action,
                f"api_token is {wrong_kind}, which cannot call GitLab's REST API.",
                fix="set api_token (or GITLAB_PRIVATE_TOKEN) to a personal, group or project access token with "
                "scope api, or read_api + create_runner + manage_runner.",
            )
        if self.timeout <= 0:
            raise RunnerOpsError(action, f"timeout must be a positive number of seconds, got {self.timeout}.",
                                 fix="set timeout to 1 or more (default 30).")

    @property
    def ssl_verify(self):
        # python-gitlab takes a CA bundle path or a bool in the same argument.
        if self.validate_certs and self.ca_path:
            return self.ca_path
        return self.validate_certs


def _error_text(message):
    """GitLab's error message as one line: validation errors come as ``{field: [messages]}``."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if isinstance(message, dict):
        return "; ".join(
            f"{field} {', '.join(str(item) for item in (problems if isinstance(problems, list) else [problems]))}"
            for field, problems in message.items()
        )
    return str(message).strip()


def _response_json(exc):
    try:
        return json.loads(exc.response_body or b"")
    except (TypeError, ValueError):
        return None


def describe_gitlab_error(exc):
    """GitLab's status and message from a python-gitlab exception, as ``(status, message)``."""
    body = _response_json(exc)
    if isinstance(body, dict):
        if body.get("error") == "insufficient_scope":
            accepted = body.get("scope", "")
            return exc.response_code, f"insufficient_scope: the token needs one of the scopes: {accepted}"
        if body.get("error_description"):
            return exc.response_code, _error_text(body["error_description"])
        if "message" in body:
            return exc.response_code, _error_text(body["message"])
        if "error" in body:
            return exc.response_code, _error_text(body["error"])
    return exc.response_code, _error_text(exc.error_message)


def default_fix(status, message):
    """A generic fix for a GitLab status; callers pass a specific one when they know better."""
    lowered = message.lower()
    if status == 401:
        if "expired" in lowered:
            return "the api_token has expired: create a new token and update api_token or GITLAB_PRIVATE_TOKEN."
        if "revoked" in lowered:
            return "the api_token was revoked: create a new token and update api_token or GITLAB_PRIVATE_TOKEN."
        return "GitLab does not know this api_token: check api_token (or GITLAB_PRIVATE_TOKEN) and api_url."
    if status == 403 and "insufficient_scope" in lowered:
        return "give the token one of the scopes GitLab names, or use a token that has them."
    if status == 403:
        return ("the token's user lacks the role this needs: instance runners need an administrator, "
                "group runners the group's Owner role, project runners Maintainer on the project.")
    if status == 404:
        return "check that it exists and that the token's user can see it."
    if status == 410:
        return ("this GitLab has disabled registration tokens: create the runner through the API "
                "(runnerops.gitlab.gitlab_runner_create) and give hosts its glrt- token; "
                "playbooks/migrate_registration_tokens.yml moves a fleet over.")
    if status == 429:
        return "GitLab kept rate limiting after the retries: run again later or raise the rate limit."
    if status is not None and status >= 500:
        return "GitLab kept failing after the retries: check GitLab's health, then run again."
    if status == 400:
        return "correct the value GitLab names."
    return None


def translate_error(action, exc, fix=None):
    """Turn a python-gitlab or transport exception into the collection's exception."""
    if gitlab is not None and isinstance(exc, gitlab.exceptions.GitlabError):
        status, message = describe_gitlab_error(exc)
        if not status:
            return RunnerOpsError(action, f"python-gitlab reported: {message}", fix=fix)
        return RunnerOpsError(
            action,
            sentence(f"GitLab answered {status}: {message}"),
            status=status,
            gitlab_message=message,
            fix=fix or default_fix(status, message),
        )
    if requests is not None and isinstance(exc, requests.exceptions.SSLError):
        return RunnerOpsError(
            action,
            f"the TLS certificate of GitLab could not be verified ({exc}).",
            fix="set ca_path to the PEM bundle of the CA that signed GitLab's certificate.",
        )
    if requests is not None and isinstance(exc, requests.exceptions.Timeout):
        return RunnerOpsError(
            action,
            "GitLab did not answer within the timeout, even after retries.",
            fix="check that api_url is reachable from where the module runs, or raise timeout.",
        )
    if requests is not None and isinstance(exc, requests.exceptions.RequestException):
        return RunnerOpsError(
            action,
            f"the connection to GitLab failed ({exc.__class__.__name__}), even after retries.",
            fix="check that api_url is right and reachable from where the module runs.",
        )
    return RunnerOpsError(action, f"{exc.__class__.__name__}: {exc}", fix=fix)


class GitLabClient:
    """python-gitlab configured from the connection options, speaking plain dicts.

    Every call names the action it serves, so a failure reads as what was being done, GitLab's status
    and message, and the fix.
    """

    def __init__(self, settings, gl=None):
        self.settings = settings
        self.gl = gl or gitlab.Gitlab(
            settings.api_url,
            private_token=settings.api_token,
            ssl_verify=settings.ssl_verify,
            timeout=settings.timeout,
            retry_transient_errors=True,
            per_page=100,
            keep_base_url=True,
        )

    def _call(self, action, method, *args, fix=None, missing_ok=False, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # translated below; anything unknown still fails loudly
            if missing_ok and getattr(exc, "response_code", None) == 404:
                return None
            if gitlab is None or not isinstance(exc, (gitlab.exceptions.GitlabError, requests.exceptions.RequestException)):
                raise
            raise translate_error(action, exc, fix=fix) from exc

    def get(self, action, path, query=None, fix=None, missing_ok=False):
        """GET one object; with ``missing_ok`` a 404 returns None."""
        return self._call(action, self.gl.http_get, path, query_data=query or {}, fix=fix, missing_ok=missing_ok)

    def list(self, action, path, query=None, fix=None):
        """GET every page of a list endpoint (python-gitlab follows the Link headers).

        Pages of 100, GitLab's maximum: the raw list call does not apply the client's per_page itself.
        """
        query = dict({"per_page": 100}, **(query or {}))
        return self._call(action, self.gl.http_list, path, query_data=query, get_all=True, fix=fix)

    def post(self, action, path, data=None, fix=None, retry_transient=True):
        """POST; ``retry_transient=False`` for calls that must never be re-sent blindly.

        A 429 is still retried then: GitLab rejects a rate-limited request before acting on it.
        """
        return self._call(action, self.gl.http_post, path, post_data=data or {}, fix=fix,
                          retry_transient_errors=retry_transient)

    def put(self, action, path, data, fix=None):
        return self._call(action, self.gl.http_put, path, post_data=data, fix=fix)

    def delete(self, action, path, query=None, fix=None, missing_ok=False):
        """DELETE; with ``missing_ok`` a 404 returns None (already gone)."""
        query = query or {}
        return self._call(action, self.gl.http_delete, path, query_parameters=query, fix=fix, missing_ok=missing_ok)


@dataclass(frozen=True)
class PreflightResult:
    version: str | None
    scopes: tuple | None
    token_name: str | None
    token_expires_at: str | None

    def require(self, needs, action, fix):
        """Fail when the token's scopes, on this GitLab version, do not allow ``needs``: no API call."""
        scopes = self.scopes or ()
        missing = missing_needs(scopes, needs)
        if missing:
            lines = [f"to {NEED_DESCRIPTIONS[need]} it needs one of the scopes {', '.join(ACCEPTED_SCOPES[need])}"
                     for need in missing]
            raise RunnerOpsError(
                action, f"the token {self.token_name!r} has the scopes {', '.join(scopes) or 'none'}; "
                + "; ".join(lines) + ".", fix=fix)
        if "manage" in needs and "api" not in scopes and self.version is not None \
                and parse_version(self.version)[:2] < MANAGE_RUNNER_SINCE:
            raise RunnerOpsError(
                action,
                f"the token relies on scope manage_runner, which GitLab {self.version} does not have "
                "(it arrived in 17.1).",
                fix="use a token with scope api on this GitLab version.")

    def as_dict(self):
        return {
            "version": self.version,
            "scopes": list(self.scopes) if self.scopes is not None else None,
            "token_name": self.token_name,
            "token_expires_at": self.token_expires_at,
        }


def missing_needs(scopes, needs):
    """The needs (``read``, ``create``, ``manage``) that none of ``scopes`` satisfies."""
    held = set(scopes)
    return [need for need in needs if not held.intersection(ACCEPTED_SCOPES[need])]


def preflight(client, needs):
    """Read the token's scopes and GitLab's version; fail before any change when a scope is missing.

    ``needs`` is an iterable of ``read``, ``create`` and ``manage``.
    """
    needs = [need for need in ACCEPTED_SCOPES if need in set(needs)]
    action = "Checking the GitLab token's scopes (preflight)"
    token = client.get(action, "/personal_access_tokens/self")
    scopes = tuple(token.get("scopes") or ())
    name = token.get("name")
    if token.get("revoked") or token.get("active") is False:
        raise RunnerOpsError(action, f"the token {name!r} is not active.",
                             fix="create a new token and update api_token or GITLAB_PRIVATE_TOKEN.")

    version = None
    if set(scopes).intersection(VERSION_SCOPES):
        version = client.get("Reading the GitLab version (preflight)", "/version").get("version")

    result = PreflightResult(version=version, scopes=scopes, token_name=name, token_expires_at=token.get("expires_at"))
    result.require(needs, action, fix="create a token with scope api, or with the least-privilege set read_api + "
                   "create_runner + manage_runner, and update api_token.")
    return result
