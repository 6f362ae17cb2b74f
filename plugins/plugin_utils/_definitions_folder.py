# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A controller-side folder of runner definitions: one ``<name>.toml`` per runner and an optional
``global.toml``, read the one way the lookup, the role and the playbooks read it."""

from __future__ import annotations

import os

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import DEFINITION_SPEC

tomlkit = None
try:
    import tomllib
except ImportError:  # Python 3.10 controllers
    tomllib = None
    import tomlkit

# What a definition's [gitlab] table may hold: every key of a definition but those of the [[runners]] entry.
GITLAB_KEYS = tuple(key for key in DEFINITION_SPEC if key not in ("name", "executor", "settings"))
GLOBAL_FILE = "global.toml"
ACTION = "Reading gitlab_runner_definitions_dir"


def load_toml(path):
    with open(path, "rb") as stream:
        raw = stream.read()
    try:
        if tomllib is not None:
            return tomllib.loads(raw.decode("utf-8"))
        return tomlkit.parse(raw.decode("utf-8")).unwrap()
    except ValueError as exc:
        raise RunnerOpsError(ACTION, f"{path} is not valid TOML: {exc}. Fix the file at that place.") from None


def definition_from(name, data, path):
    gitlab = data.pop("gitlab", {})
    if not isinstance(gitlab, dict):
        raise RunnerOpsError(ACTION, f"{path}: 'gitlab' must be a table ([gitlab]).")
    unknown = sorted(set(gitlab) - set(GITLAB_KEYS))
    if unknown:
        raise RunnerOpsError(ACTION, f"{path}: unknown key(s) {', '.join(unknown)} in [gitlab]; "
                             f"allowed: {', '.join(GITLAB_KEYS)}. Keys of the [[runners]] entry go outside [gitlab].")
    if "name" in data and data.pop("name") != name:
        raise RunnerOpsError(ACTION, f"{path}: the runner is named after its file ({name}); "
                             "remove 'name' or rename the file.")
    definition = {"name": name}
    definition.update(gitlab)
    if "executor" in data:
        definition["executor"] = data.pop("executor")
    definition["settings"] = data
    return definition


def read_folder(folder):
    """``{runners, global_settings}``: the definitions of ``folder`` in file name order, and its global settings."""
    if not os.path.isdir(folder):
        raise RunnerOpsError(ACTION, f"{folder} is not a folder; set gitlab_runner_definitions_dir to a folder of "
                             ".toml files.")
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
    return {"runners": runners, "global_settings": global_settings}
