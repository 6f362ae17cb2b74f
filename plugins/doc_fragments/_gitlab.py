# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the GitLab instance, for example V(https://gitlab.example.com), without C(/api/v4).
      - Taken from the E(GITLAB_URL) environment variable when not set.
      - Set it once for all modules of the collection with C(module_defaults) and the action group
        C(group/runnerops.gitlab.gitlab).
    type: str
    required: true
  api_token:
    description:
      - A GitLab personal, group or project access token.
      - Taken from the E(GITLAB_PRIVATE_TOKEN) environment variable when not set.
      - Scopes needed depend on the module; see the module's notes. O(api_token) with scope C(api)
        works everywhere; C(create_runner) plus C(read_api) creates and finds runners, and
        C(manage_runner) (GitLab 17.1 or later) updates, resets and deletes them.
    type: str
    required: true
  validate_certs:
    description:
      - Whether to verify the TLS certificate of O(api_url).
      - Switch this off only for a throwaway test instance; prefer O(ca_path) for a private CA.
    type: bool
    default: true
  ca_path:
    description:
      - Path on the controller to a PEM file of CA certificates used to verify O(api_url).
      - python-gitlab does not read the system trust store by itself; set this for an instance whose
        certificate comes from a private CA.
      - Ignored when O(validate_certs=false).
    type: path
  timeout:
    description:
      - Seconds to wait for GitLab to answer one HTTP request before giving up.
      - Requests that time out are retried like other transient errors, except runner creation,
        which is never re-sent blindly.
    type: int
    default: 30
notes:
  - Responses with status 429 are retried after the time GitLab asks for in C(Retry-After); 5xx
    answers and dropped connections are retried with exponential backoff, up to 10 times.
requirements:
  - python-gitlab >= 4.0.0
"""
