# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AnsibleModule every module of the collection is: one way to need a library and one way to fail."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import (
    GITLAB_IMPORT_ERROR,
    ConnectionSettings,
    GitLabClient,
    python_gitlab_problem,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._toml_document import (
    TOMLKIT_IMPORT_ERROR,
    TOMLKIT_REQUIREMENT,
    tomlkit_problem,
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


class RunnerOpsModule(AnsibleModule):
    """An AnsibleModule that fails once, with the fix: for a missing library and for a RunnerOpsError.

    ``requirement`` is ``(pip requirement, function saying why the library cannot be used, import traceback)``.
    """

    requirement = None

    def __init__(self, argument_spec, **kwargs):
        super().__init__(argument_spec=argument_spec, **kwargs)
        if self.requirement is not None:
            library, problem_of, import_error = self.requirement
            problem = problem_of()
            if problem:
                self.fail_json(msg=f"{missing_required_lib(library)} ({problem})", exception=import_error)

    def fail_from(self, error, **result):
        """Fail once with what was being done, GitLab's answer and the fix."""
        result.update(error.as_fail_kwargs())
        self.fail_json(**result)


class GitLabModule(RunnerOpsModule):
    """A module that calls the GitLab API: the connection options merged in, python-gitlab required."""

    requirement = ("python-gitlab>=4.0.0", python_gitlab_problem, GITLAB_IMPORT_ERROR)

    def __init__(self, argument_spec, **kwargs):
        spec = dict(GITLAB_CONNECTION_ARGSPEC)
        spec.update(argument_spec)
        super().__init__(spec, **kwargs)

    def gitlab_client(self):
        try:
            return GitLabClient(ConnectionSettings.from_params(self.params))
        except RunnerOpsError as error:
            self.fail_from(error)


class ConfigFileModule(RunnerOpsModule):
    """A module that reads or writes gitlab-runner's config.toml on the runner host: tomlkit required."""

    requirement = (TOMLKIT_REQUIREMENT, tomlkit_problem, TOMLKIT_IMPORT_ERROR)
