#!/usr/bin/python
# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_play_info
short_description: The play's strategy and the hosts of its pattern, for the fleet's steps
version_added: 0.1.0
description:
  - Returns the strategy the play runs with and the inventory hosts its pattern matches, as without C(--limit).
  - The hosts of the pattern that a C(--limit) leaves out carry the play's variables too (definitions in the play's
    C(vars), say), although their C(hostvars) do not show them; the role reads their C(config.toml) for the tokens
    they hold, so a host joining with C(--limit) gets the shared token without a reset.
  - Fails with a message for the strategies that do not keep hosts in step (V(free), V(host_pinned)), unless
    O(refuse_unstepped=false); the role's
    steps that run once for the play need every host at the same step. The linear strategies work, Mitogen's
    V(mitogen_linear) included.
  - Runs on the controller only (an action plugin) and changes nothing.
author:
  - runnerops maintainers (@runnerops)
extends_documentation_fragment:
  - runnerops.gitlab._attributes
  - runnerops.gitlab._attributes.INFO_MODULE
options:
  refuse_unstepped:
    description:
      - Fail for a strategy that does not keep hosts in step (V(free), V(host_pinned)), naming the fix.
      - V(false) only reports the strategy.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Read the play
  runnerops.gitlab.fleet_play_info:
  register: play_info

- name: Show the hosts of the play's pattern
  ansible.builtin.debug:
    msg: "{{ play_info.strategy }}: {{ play_info.pattern_hosts }}"
"""

RETURN = r"""
strategy:
  description: The play's strategy.
  returned: always
  type: str
  sample: linear
pattern_hosts:
  description: The inventory hosts the play's pattern matches, in inventory order, whatever C(--limit) leaves out.
  returned: always
  type: list
  elements: str
  sample: [runner-01, runner-02]
"""
