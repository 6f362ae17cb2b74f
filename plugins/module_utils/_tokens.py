# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which GitLab token a value is, told by its prefix, to refuse one given where another belongs.

Only prefixes that can never be right in the place are refused: legacy runner tokens and access tokens of
instances with a custom prefix have none of these, and pass.
"""

from __future__ import annotations

ACCESS_TOKEN = "a personal, group or project access token (glpat-)"
RUNNER_TOKEN = "a runner authentication token (glrt-)"
REGISTRATION_TOKEN = "a runner registration token"

# (prefix, what it is); registration tokens: GR1348941 since GitLab 15.6, glrtr- for the newest ones.
_PREFIXES = (("glpat-", ACCESS_TOKEN), ("glrtr-", REGISTRATION_TOKEN), ("glrt-", RUNNER_TOKEN),
             ("GR1348941", REGISTRATION_TOKEN))


def token_kind(token):
    """What the token's prefix says it is, or None when it has none of the known prefixes."""
    text = str(token or "")
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix):  # glrtr- comes before glrt-, which starts it
            return kind
    return None


def is_runner_token(token):
    """Whether ``token`` is a runner authentication token of the creation workflow (``glrt-``)."""
    return token_kind(token) == RUNNER_TOKEN


def api_token_problem(token):
    """Why ``token`` cannot authenticate REST API calls, or None."""
    kind = token_kind(token)
    return None if kind in (None, ACCESS_TOKEN) else kind


def runner_token_problem(token):
    """Why ``token`` cannot be a runner's token in config.toml, or None."""
    kind = token_kind(token)
    return None if kind in (None, RUNNER_TOKEN) else kind
