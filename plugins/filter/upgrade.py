# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rolling upgrade's decisions as filters: which hosts need the new packages, and which runner managers in
GitLab confirm each host's gitlab-runner came back with them.

Documented in the YAML file of each filter's name beside this one.
"""

from __future__ import annotations

from ansible_collections.runnerops.gitlab.plugins.filter.fleet import reports_of
from ansible_collections.runnerops.gitlab.plugins.module_utils import _health, _install
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._filters import failing_clearly
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._hostvars import host_var


@failing_clearly
def upgrade_needed(facts, version, os_family):
    """Whether a host's installed gitlab-runner packages (``package_facts``' ``packages``) are not ``version``."""
    return not _install.installed(version, os_family, facts)


def upgrade_health_plan(hosts, hostvars, url):
    """``[{id, name, hosts: {host: system_id}}]``: the runners of ``url``'s GitLab in the hosts' config.toml, with
    the hosts that must show up as their managers."""
    return _health.held_plan(reports_of(hosts, hostvars), url)


def upgrade_unconfirmable(hosts, hostvars, url):
    """``{host: line}``: the hosts GitLab cannot confirm (no system id, or no registered runner of ``url``'s GitLab)."""
    return _health.unconfirmable(reports_of(hosts, hostvars), url)


def upgrade_report(hosts, hostvars, version, check_mode=False):
    """One line for the batch: the hosts upgraded (``__upgrade_needed`` true), and those already on ``version``."""
    needed = {str(host): bool(host_var(hostvars, host, "__upgrade_needed", False)) for host in hosts or ()}
    return _install.upgrade_report(needed, version, bool(check_mode))


class FilterModule:
    def filters(self):
        return {"upgrade_needed": upgrade_needed, "upgrade_health_plan": upgrade_health_plan,
                "upgrade_report": upgrade_report, "upgrade_unconfirmable": upgrade_unconfirmable}
