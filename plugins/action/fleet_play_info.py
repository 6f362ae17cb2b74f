# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The play as the fleet's steps need it: its strategy, and the hosts of its pattern whatever the limit."""

from __future__ import annotations

from ansible import constants as C
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader

from ansible_collections.runnerops.gitlab.plugins.plugin_utils._plan import strategy_problem


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        spec = {"refuse_unstepped": {"type": "bool", "default": True}}
        _validation, options = self.validate_argument_spec(argument_spec=spec)
        play = self._task.get_play()
        strategy = self._templar.template(play.strategy) if play.strategy else C.DEFAULT_STRATEGY
        pattern = self._templar.template(play.hosts)
        patterns = pattern if isinstance(pattern, list) else [pattern]
        # The inventory's hosts that match the play's pattern, as without --limit.
        lookup = lookup_loader.get("ansible.builtin.inventory_hostnames", loader=self._loader, templar=self._templar)
        pattern_hosts = lookup.run([":".join(str(item) for item in patterns)], variables=task_vars)
        result.update(changed=False, strategy=str(strategy), pattern_hosts=list(pattern_hosts))
        problem = strategy_problem(strategy)
        if problem and options["refuse_unstepped"]:
            result.update(failed=True, msg=problem)
        return result
