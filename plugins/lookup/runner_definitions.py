# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: runner_definitions
author: runnerops maintainers (@runnerops)
short_description: Read runner definitions from a folder of TOML files
version_added: 0.1.0
description:
  - Reads a controller-side folder with one TOML file per runner and an optional C(global.toml), the layout
    of tools that keep one executor per file merged over a template.
  - Each C(<name>.toml) is one runner definition named after the file. Its C([gitlab]) table holds what GitLab
    stores (C(runner_type), C(group), C(project), C(tags), C(run_untagged), C(locked), C(access_level),
    C(maximum_timeout), C(paused), C(maintenance_note), C(token_expires_at), C(token_rotation_deadline)), the role's
    own keys (C(per_host), C(state)) and another GitLab instance's (C(api_url), C(api_token), C(url)) - every key of
    a definition of C(gitlab_runner_runners) but C(executor) and C(settings).
    Every other key is the C([[runners]]) entry of C(config.toml), such as C(executor) and sub-tables like C([docker]).
  - C(global.toml) holds global settings of C(config.toml) (C(concurrent), C(check_interval), C([session_server]), ...).
  - Returns one dictionary C({runners, global_settings}) whose C(runners) items have the shape of the role's
    C(gitlab_runner_runners).
options:
  _terms:
    description: The folder to read.
    required: true
    type: path
notes:
  - Files are read in name order; a file that is not valid TOML fails naming the file, line and column.
"""

EXAMPLES = r"""
- name: Use a folder of definitions with the role
  ansible.builtin.include_role:
    name: runnerops.gitlab.gitlab_runner
  vars:
    gitlab_runner_runners: "{{ lookup('runnerops.gitlab.runner_definitions', playbook_dir ~ '/runners').runners }}"
"""

RETURN = r"""
_raw:
  description: One dictionary with C(runners) (list of definitions) and C(global_settings) (dictionary).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._definitions_folder import read_folder


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            return [read_folder(folder) for folder in terms]
        except RunnerOpsError as error:
            raise AnsibleLookupError(f"runner_definitions: {error.reason}") from None
