#!/usr/bin/python
# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_manager
short_description: Remove a runner manager from GitLab with the runner's own token
version_added: 0.1.0
description:
  - Removes one runner manager (the record GitLab keeps of a host that used a runner's token) with
    C(DELETE /api/v4/runners/managers), authenticated by the runner's token, as C(gitlab-runner unregister)
    does. The runner itself, and its other managers, stay.
  - A manager GitLab no longer knows is already absent. A token GitLab refuses (rotated, reset, expired) cannot
    remove anything; the module then warns and changes nothing.
  - The token travels in the request body, never in the URL. No personal access token is needed or sent.
  - P(runnerops.gitlab.prune_plan#filter) picks the stale managers of a fleet and a token for each.
author:
  - runnerops maintainers (@runnerops)
extends_documentation_fragment:
  - runnerops.gitlab._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports that the manager would be removed without contacting GitLab.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A manager already removed is reported as V(gone), without a change.
options:
  url:
    description:
      - GitLab's URL as gitlab-runner uses it (C(url) of the C([[runners]]) entry), for example
        V(https://gitlab.example.com). A trailing C(/ci) is ignored, as gitlab-runner does.
    type: str
    required: true
  token:
    description: The runner's authentication token (C(glrt-...)).
    type: str
    required: true
  system_id:
    description: The system id of the manager to remove, as GitLab lists it (V(s_...) or V(r_...)).
    type: str
    required: true
  state:
    description: Only V(absent).
    type: str
    choices: [absent]
    default: absent
  validate_certs:
    description: Whether to verify GitLab's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM bundle of the CA that signed GitLab's certificate.
    type: path
  timeout:
    description: Seconds to wait for GitLab's answer.
    type: int
    default: 30
notes:
  - Run it where GitLab is reachable, usually the controller (C(delegate_to) localhost), under C(no_log) since
    the task holds a token.
seealso:
  - module: runnerops.gitlab.runner_config_sync
  - module: runnerops.gitlab.gitlab_runner_info
"""

EXAMPLES = r"""
- name: Remove a manager GitLab has not heard from since its host was rebuilt
  runnerops.gitlab.gitlab_runner_manager:
    url: https://gitlab.example.com
    token: "{{ vault_platform_docker_token }}"
    system_id: s_0123456789ab
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
outcome:
  description:
    - V(removed) when GitLab removed the manager (V(would_remove) in check mode), V(gone) when GitLab no longer
      knew it, V(forbidden) when GitLab refused the token.
  returned: always
  type: str
  sample: removed
"""

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._manager_api import ManagerUnregister
from ansible_collections.runnerops.gitlab.plugins.module_utils._module import RunnerOpsModule


def main():
    module = RunnerOpsModule({
        "url": {"type": "str", "required": True},
        "token": {"type": "str", "required": True, "no_log": True},
        "system_id": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["absent"], "default": "absent"},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "timeout": {"type": "int", "default": 30},
    }, supports_check_mode=True)
    params = module.params
    if module.check_mode:
        module.exit_json(changed=True, outcome="would_remove")
    client = ManagerUnregister(timeout=params["timeout"], validate_certs=params["validate_certs"],
                               ca_path=params["ca_path"])
    try:
        outcome = client.unregister(None, params["url"], params["token"], params["system_id"])
    except RunnerOpsError as error:
        module.fail_from(error, changed=False)
    if outcome == "forbidden":
        module.warn(f"GitLab refused the runner's token, so manager {params['system_id']} could not be removed with "
                    "it; the token is no longer valid. Remove the manager on the runner's page in GitLab, or with a "
                    "token a host still uses.")
    module.exit_json(changed=outcome == "removed", outcome=outcome)


if __name__ == "__main__":
    main()
