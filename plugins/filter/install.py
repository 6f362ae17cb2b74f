# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Installing gitlab-runner as a filter: which packages one transaction names, and which are held.

Documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.module_utils import _install
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError


def runner_packages(version, os_family):
    """``{names, state, version, selections}``: the gitlab-runner packages of ``version`` for ``os_family``."""
    try:
        return _install.packages(version, os_family)
    except RunnerOpsError as error:
        raise AnsibleFilterError(error.describe()) from None


class FilterModule:
    def filters(self):
        return {"runner_packages": runner_packages}
