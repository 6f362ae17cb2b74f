# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Removing this host's runner manager from GitLab with an entry's own token, as ``gitlab-runner unregister``
does: the only GitLab call made on the runner hosts."""

from __future__ import annotations

import json
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError, sentence
from ansible_collections.runnerops.gitlab.plugins.module_utils._toml_document import REDACTED
from ansible_collections.runnerops.gitlab.plugins.module_utils._urls import api_base


class ManagerUnregister:
    """``DELETE /api/v4/runners/managers`` with an entry's token and the host's system id.

    This removes only this host's runner manager; the runner stays in GitLab, as with
    ``gitlab-runner unregister``. The token travels in the JSON body, never in the URL.
    """

    RETRY_STATUSES = (429, 500, 502, 503, 504)

    def __init__(self, timeout=30, validate_certs=True, ca_path=None, attempts=3, opener=None, sleep=None):
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.attempts = attempts
        self.opener = opener or open_url
        self.sleep = sleep or time.sleep

    def unregister(self, name, url, token, system_id):
        """``removed``, ``gone`` (GitLab no longer knew the manager) or ``forbidden`` (token not valid)."""
        base = api_base(url)
        action = (f"Unregistering the runner manager of entry {name!r} from {base}" if name
                  else f"Removing runner manager {system_id} from {base}")
        endpoint = f"{base}/api/v4/runners/managers"
        body = json.dumps({"token": token, "system_id": system_id}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.opener(endpoint, data=body, headers=headers, method="DELETE", timeout=self.timeout,
                                       validate_certs=self.validate_certs, ca_path=self.ca_path,
                                       follow_redirects="none", use_netrc=False)
                response.read()
                return "removed"
            except HTTPError as exc:
                if exc.code == 404:
                    return "gone"
                if exc.code == 403:
                    return "forbidden"
                message = _gitlab_message(exc, (token,))
                if exc.code in self.RETRY_STATUSES and attempt < self.attempts:
                    self.sleep(_retry_delay(exc, attempt))
                    continue
                raise RunnerOpsError(action, sentence(f"GitLab answered {exc.code}: {message}"), status=exc.code,
                                     gitlab_message=message, fix=_unregister_fix(exc.code)) from None
            except SSLValidationError as exc:
                raise RunnerOpsError(action, f"the TLS certificate of {base} could not be verified ({exc}).",
                                     fix="set ca_path to the PEM bundle of the CA that signed GitLab's "
                                     "certificate.") from None
            except (URLError, OSError, UrlConnectionError) as exc:
                if attempt < self.attempts:
                    self.sleep(_retry_delay(None, attempt))
                    continue
                reason = getattr(exc, "reason", None) or exc
                raise RunnerOpsError(action, f"the connection failed ({reason}) after {self.attempts} attempts.",
                                     fix="check that the entry's url is reachable from this host, or raise "
                                     "timeout.") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _gitlab_message(exc, secrets_to_hide):
    try:
        body = exc.read().decode("utf-8", "replace")
    except (OSError, ValueError, AttributeError):  # the body only explains the failure
        body = ""
    try:
        data = json.loads(body)
        message = data.get("message") or data.get("error") or body
    except (ValueError, AttributeError):
        message = body or exc.reason
    message = str(message).strip()
    for secret in secrets_to_hide:
        if secret:
            message = message.replace(secret, REDACTED)
    return message[:500]


def _retry_delay(exc, attempt):
    if exc is not None:
        try:
            return min(float(exc.headers.get("Retry-After")), 30.0)
        except (TypeError, ValueError, AttributeError):
            pass
    return float(min(2 ** (attempt - 1), 10))


def _unregister_fix(status):
    if status == 400:
        return "this GitLab may be older than 16.0, which added DELETE /runners/managers; remove the manager " \
            "in GitLab's runner page instead."
    if 300 <= status < 400:
        return "set the entry's url to the address GitLab redirects to (usually https)."
    if status == 429:
        return "GitLab kept rate limiting: run again later."
    if status >= 500:
        return "GitLab kept failing: check its health, then run again. config.toml was left as it was."
    return "check the entry's url and GitLab's logs; config.toml was left as it was."
