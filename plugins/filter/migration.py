# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The migration from registration tokens as filters: playbooks/migrate_registration_tokens.yml wires these, and
decides nothing in Jinja.

Each filter is documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.runnerops.gitlab.plugins.filter.fleet import gathered_by_host, reports_of
from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet, _migration
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import LIVE_WINDOW, seconds
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._filters import failing_clearly

GATHERED = "__gitlab_runner_gathered"


@failing_clearly
def migration_plan(hosts, hostvars, legacy=None, marked=None, existing=None, live_window=LIVE_WINDOW,
                   variable=GATHERED):
    """The migration as far as GitLab has been read: what to read next, then each legacy runner's plan."""
    return _migration.plan(reports_of(hosts, hostvars, variable), legacy=legacy, marked=marked, existing=existing,
                           window=seconds(live_window, "migration_plan's live_window",
                                          "Planning the migration"))


@failing_clearly
def migration_known_tokens(item, hostvars, details=False, variable=GATHERED):
    """The tokens hosts already carry for the runner replacing one legacy runner (holds tokens)."""
    item = item or {}
    holders = reports_of(item.get("new_holders") or [], hostvars, variable)
    return _migration.known_tokens(item, holders, boolean(details, strict=False))


def migration_created(results):
    """What each create gave, without its token."""
    return _migration.created_reports(results)


@failing_clearly
def migration_host_changes(plan, results, host, hostvars, url=None, variable=GATHERED):
    """This host's new entries and the tokens to verify from it (holds tokens)."""
    gathered = gathered_by_host([host], hostvars, variable)
    report = _fleet.host_report(str(host), gathered.get(str(host)))

    def lenders_of(item):
        return reports_of(item.get("new_holders") or [], hostvars, variable)

    return _migration.host_changes(report, (plan or {}).get("runners") or [], results, url=url or None,
                                   lenders_of=lenders_of)


@failing_clearly
def migration_deletions(plan, created, hosts, hostvars, variable=GATHERED):
    """Which legacy runners every host has left, and who still uses the others."""
    system_ids = {report.host: report.system_id for report in reports_of(hosts, hostvars, variable)}
    # A host still in the run is counted even without a system id: it is not one that failed.
    run_system_ids = {str(host): system_ids.get(str(host)) for host in hosts or ()}
    return _migration.deletions((plan or {}).get("runners") or [], created or [], run_system_ids)


class FilterModule:
    def filters(self):
        return {
            "migration_plan": migration_plan,
            "migration_known_tokens": migration_known_tokens,
            "migration_created": migration_created,
            "migration_host_changes": migration_host_changes,
            "migration_deletions": migration_deletions,
        }
