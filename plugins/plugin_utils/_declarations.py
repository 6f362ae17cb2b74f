# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the fleet declares, read one way by the plan, the search for hosts outside the run and prune: inline
definitions and the definitions folder alike."""

from __future__ import annotations

from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import definitions
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._definitions_folder import read_folder
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._hostvars import host_var, plain

NOTED = "__gitlab_runner_declared"


def host_definitions(hostvars, host, folders=None, noted=NOTED):
    """The checked definitions ``host`` declares: what the role noted for it in this run (play vars and extra vars
    included), else its inventory's ``gitlab_runner_runners`` merged with ``gitlab_runner_definitions_dir``.
    ``folders`` caches the folders read, by path. Fails (``RunnerOpsError``) on definitions that are wrong."""
    declared = host_var(hostvars, host, noted)
    if isinstance(declared, dict) and "definitions" in declared:
        return list(declared["definitions"] or ())
    folder = host_var(hostvars, host, "gitlab_runner_definitions_dir", "")
    folder_runners = []
    if folder:
        folders = {} if folders is None else folders
        if folder not in folders:
            folders[folder] = read_folder(folder)["runners"]
        folder_runners = folders[folder]
    return definitions(plain(host_var(hostvars, host, "gitlab_runner_runners", [])), folder_runners)


def shared_names(definitions_by_host):
    """The names of the shared runners (not per host, declared present) any of the hosts declares."""
    return sorted({definition["name"] for definitions_of in definitions_by_host.values()
                   for definition in definitions_of or ()
                   if not definition.get("per_host") and definition.get("state", "present") == "present"})
