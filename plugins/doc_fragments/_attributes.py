# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to this collection: it may change at any time.

from __future__ import annotations


class ModuleDocFragment:

    # What each attribute means; modules state their support next to it.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Runs in check mode and reports whether it would change something, without changing it.
  diff_mode:
    description: Shows what changed, or would change in check mode, when run with C(--diff).
  idempotent:
    description:
      - Run a second time with the same arguments, outside check mode, it reports no change.
      - This assumes nothing else changed what the module manages in between.
"""

    # For modules that only read; use together with DOCUMENTATION.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This module changes nothing.
  diff_mode:
    support: N/A
    details:
      - This module changes nothing.
  idempotent:
    support: full
    details:
      - This module changes nothing.
"""

    # For the API modules in the action group of meta/runtime.yml.
    ACTIONGROUP_GITLAB = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/runnerops.gitlab.gitlab) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - runnerops.gitlab.gitlab
"""
