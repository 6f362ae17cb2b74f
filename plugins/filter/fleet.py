# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet's decisions as filters: the role and the playbooks wire these, and decide nothing in Jinja.

Each filter is documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError


def _failing_clearly(function):
    """Turn the collection's error into the filter error Ansible reports, with its fix."""
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except RunnerOpsError as error:
            raise AnsibleFilterError(error.describe()) from None
    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


def gathered_by_host(hosts, hostvars, variable):
    """``{host: hostvars[host][variable]}`` for the hosts that have it (an unreachable host has not)."""
    found = {}
    for host in hosts or ():
        host_vars = hostvars.get(host) if hasattr(hostvars, "get") else None
        if host_vars is None:
            continue
        value = host_vars.get(variable) if hasattr(host_vars, "get") else None
        if isinstance(value, dict) and not value.get("failed") and not value.get("unreachable"):
            found[str(host)] = value
    return found


@_failing_clearly
def fleet_hosts(hosts, hostvars, variable="__gitlab_runner_gathered"):
    """What each host reported, without tokens: ``[{host, system_id, system_id_source, entries}]``.

    Fails naming the hosts and the fix when two of them report one runner system id.
    """
    reports = _fleet.host_reports(gathered_by_host(hosts, hostvars, variable))
    _fleet.check_system_ids(reports)
    return [{"host": report.host, "system_id": report.system_id, "system_id_source": report.system_id_source,
             "entries": [{"name": entry.name, "id": entry.runner_id} for entry in report.entries]}
            for report in reports]


def fleet_verify_refusals(results):
    """Lines naming each entry whose token GitLab did not accept (``uri`` results of ``POST /runners/verify``)."""
    return _fleet.verify_refusals(results)


class FilterModule:
    def filters(self):
        return {
            "fleet_hosts": fleet_hosts,
            "fleet_verify_refusals": fleet_verify_refusals,
        }
