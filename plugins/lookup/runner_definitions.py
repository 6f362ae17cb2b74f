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
    C(maximum_timeout), C(paused), C(maintenance_note)) and the role's own keys (C(per_host), C(state)).
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

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

tomlkit = None
try:
    import tomllib
except ImportError:  # Python 3.10 controllers
    tomllib = None
    import tomlkit

GITLAB_KEYS = ("runner_type", "group", "project", "tags", "run_untagged", "locked", "access_level", "maximum_timeout",
               "paused", "maintenance_note", "per_host", "state")
GLOBAL_FILE = "global.toml"


def load_toml(path):
    with open(path, "rb") as stream:
        raw = stream.read()
    try:
        if tomllib is not None:
            return tomllib.loads(raw.decode("utf-8"))
        return tomlkit.parse(raw.decode("utf-8")).unwrap()
    except ValueError as exc:
        raise AnsibleLookupError(f"runner_definitions: {path} is not valid TOML: {exc}. Fix the file at that place.")


def definition_from(name, data, path):
    gitlab = data.pop("gitlab", {})
    if not isinstance(gitlab, dict):
        raise AnsibleLookupError(f"runner_definitions: {path}: 'gitlab' must be a table ([gitlab]).")
    unknown = sorted(set(gitlab) - set(GITLAB_KEYS))
    if unknown:
        raise AnsibleLookupError(
            f"runner_definitions: {path}: unknown key(s) {', '.join(unknown)} in [gitlab]; "
            f"allowed: {', '.join(GITLAB_KEYS)}. Keys of the [[runners]] entry go outside [gitlab].")
    if "name" in data and data.pop("name") != name:
        raise AnsibleLookupError(f"runner_definitions: {path}: the runner is named after its file ({name}); "
                                 "remove 'name' or rename the file.")
    definition = {"name": name}
    definition.update(gitlab)
    if "executor" in data:
        definition["executor"] = data.pop("executor")
    definition["settings"] = data
    return definition


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        results = []
        for folder in terms:
            if not os.path.isdir(folder):
                raise AnsibleLookupError(f"runner_definitions: {folder} is not a folder; "
                                         "set gitlab_runner_definitions_dir to a folder of .toml files.")
            runners = []
            global_settings = {}
            for entry in sorted(os.listdir(folder)):
                path = os.path.join(folder, entry)
                if not entry.endswith(".toml") or not os.path.isfile(path):
                    continue
                data = load_toml(path)
                if entry == GLOBAL_FILE:
                    global_settings = data
                else:
                    runners.append(definition_from(entry[:-len(".toml")], data, path))
            results.append({"runners": runners, "global_settings": global_settings})
        return results
