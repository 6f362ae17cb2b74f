# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pruning's decision as a filter: which stale runner managers and per-host runners of the fleet go.

Documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.module_utils import _prune
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._declarations import host_definitions
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._hostvars import gathered_by_host


def _definitions(hosts, hostvars):
    definitions, folders = {}, {}
    for host in hosts or ():
        try:
            definitions[str(host)] = host_definitions(hostvars, host, folders)
        except RunnerOpsError as error:
            raise AnsibleFilterError(f"the runner definitions of {host} are wrong: {error.describe()}") from None
    return definitions


def prune_reads(inventory_hosts, hostvars):
    """The ``gitlab_runner_info`` arguments (``group``, ``project`` or ``id``) that show every runner of the fleet."""
    return _prune.prune_reads(_definitions(inventory_hosts, hostvars),
                              gathered_by_host(inventory_hosts, hostvars, "__gitlab_runner_gathered"))


def prune_plan(runner_results, inventory_hosts, hostvars, stale_after, variable="gitlab_runner_prune_stale_after"):
    """What goes: ``{managers, runners, lines}``; ``managers`` holds tokens (loop over it under ``no_log``).
    ``variable``: the name the user set the threshold under, for the message when it is too low."""
    try:
        threshold = _prune.stale_threshold(stale_after, variable)
    except RunnerOpsError as error:
        raise AnsibleFilterError(error.describe()) from None
    return _prune.prune_plan(_definitions(inventory_hosts, hostvars), inventory_hosts,
                             gathered_by_host(inventory_hosts, hostvars, "__gitlab_runner_gathered"), runner_results,
                             threshold)


class FilterModule:
    def filters(self):
        return {"prune_plan": prune_plan, "prune_reads": prune_reads}
