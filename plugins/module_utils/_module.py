# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""AnsibleModule with the GitLab connection options merged in, shared by every API module."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import (
    GITLAB_IMPORT_ERROR,
    ConnectionSettings,
    GitLabClient,
    python_gitlab_problem,
)

# Documented once in doc_fragments/_gitlab.py.
GITLAB_CONNECTION_ARGSPEC = {
    "api_url": {"type": "str", "required": True, "fallback": (env_fallback, ["GITLAB_URL"])},
    "api_token": {"type": "str", "required": True, "no_log": True,
                  "fallback": (env_fallback, ["GITLAB_PRIVATE_TOKEN"])},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
}


class GitLabModule(AnsibleModule):
    """An AnsibleModule that knows the GitLab connection and the collection's exception."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(GITLAB_CONNECTION_ARGSPEC)
        spec.update(argument_spec)
        super().__init__(argument_spec=spec, **kwargs)
        problem = python_gitlab_problem()
        if problem:
            self.fail_json(msg=f"{missing_required_lib('python-gitlab>=4.0.0')} ({problem})",
                           exception=GITLAB_IMPORT_ERROR)

    def gitlab_client(self):
        try:
            return GitLabClient(ConnectionSettings.from_params(self.params))
        except RunnerOpsError as error:
            self.fail_from(error)

    def fail_from(self, error, **result):
        """Fail once with what was being done, GitLab's answer and the fix."""
        result.update(error.as_fail_kwargs())
        self.fail_json(**result)
