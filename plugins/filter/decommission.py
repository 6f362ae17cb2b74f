# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decommission playbook's decisions as filters: what happens to each entry of a host, what the rest of the
fleet holds, and which runner managers belong to no host. The playbook wires these and decides nothing in Jinja.

Each filter is documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.module_utils import _decommission
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._hostvars import host_var


def decommission_plan(gathered, host, runners_read):
    """What happens to each entry of ``host`` (its ``runner_config_info`` result), given the ``gitlab_runner_info``
    results of the runners it carries. Plain data without tokens."""
    if not isinstance(gathered, dict):
        raise AnsibleFilterError(f"decommission_plan expects the runner_config_info result of {host}, "
                                 f"got {type(gathered).__name__}")
    runners = _decommission.runners_by_id(runners_read)
    return _decommission.host_plan(str(host), gathered, runners)


def decommission_fleet(hosts, hostvars, variable="__decommission_fleet_host"):
    """The system ids and runners of the hosts read (``variable`` registered), the hosts that could not be read,
    and what the hosts decommissioned in this run (``__decommission_done``) left in GitLab."""
    read_by_host, decommissioned = {}, {}
    for host in hosts or ():
        if host_var(hostvars, host, "__decommission_done"):
            decommissioned[str(host)] = host_var(hostvars, host, "__decommission_plan")
        elif host_var(hostvars, host, variable) is not None:
            read_by_host[str(host)] = host_var(hostvars, host, variable)
    return _decommission.fleet_view(read_by_host, decommissioned)


def decommission_stale(results, fleet):
    """Lines naming the managers, among ``gitlab_runner_info`` results, that belong to no host of ``fleet``."""
    return _decommission.stale_report(results, fleet)


class FilterModule:
    def filters(self):
        return {
            "decommission_plan": decommission_plan,
            "decommission_fleet": decommission_fleet,
            "decommission_stale": decommission_stale,
        }
