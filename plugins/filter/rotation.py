# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Central token rotation's decisions as filters: playbooks/rotate_tokens.yml wires these, and decides nothing
in Jinja.

Each filter is documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.runnerops.gitlab.plugins.filter.fleet import reports_of
from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet, _rotation
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import LIVE_WINDOW
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._filters import failing_clearly

GATHERED = "__gitlab_runner_gathered"


@failing_clearly
def rotation_due(hosts, hostvars, now, within, rotate_all=False, variable=GATHERED):
    """The runners the hosts carry (glrt- entries with an id), grouped by id, with why each is due."""
    return _rotation.due_runners(reports_of(hosts, hostvars, variable), now, within, boolean(rotate_all, strict=False))


@failing_clearly
def rotation_plan(runners, read_results, hosts, hostvars, now, window=LIVE_WINDOW, variable=GATHERED):
    """Each runner's state (rotate, not_due, gone, unnamed, blocked) and the message that explains it."""
    system_ids = [report.system_id for report in reports_of(hosts, hostvars, variable)]
    return _rotation.plan(runners or [], _rotation.details_by_id(read_results), system_ids, now, window)


@failing_clearly
def rotation_writes(plan, reset_results, gathered, host="", settings=None, url=None):
    """This host's entries for runner_config_sync and the tokens to verify from it (holds tokens)."""
    return _rotation.host_writes(_fleet.host_report(str(host), gathered), plan or [], reset_results, settings, url)


def rotation_resets(reset_results):
    """What each reset gave, without its token."""
    return _rotation.reset_reports(reset_results)


def rotation_summary(plan, check_mode=False):
    """The runners left although due, and the play's last word."""
    return _rotation.summary(plan or [], boolean(check_mode, strict=False))


class FilterModule:
    def filters(self):
        return {
            "rotation_due": rotation_due,
            "rotation_plan": rotation_plan,
            "rotation_writes": rotation_writes,
            "rotation_resets": rotation_resets,
            "rotation_summary": rotation_summary,
        }
