# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Installing gitlab-runner as filters: which packages one transaction names, the package files of install method
package_url, and which are held.

Documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible_collections.runnerops.gitlab.plugins.module_utils import _install
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._filters import failing_clearly


@failing_clearly
def runner_packages(version, os_family):
    """``{names, state, version, selections, locks}``: the gitlab-runner packages of ``version`` for ``os_family``."""
    return _install.packages(version, os_family)


@failing_clearly
def runner_package_files(items, os_family, folder, check_mode=False):
    """``{downloads, files, apt_get, selections}``: the packages of ``gitlab_runner_package_urls`` on the host."""
    return _install.package_files(items, os_family, folder, check_mode)


@failing_clearly
def runner_apt_changed(stdout):
    """Whether apt-get changed any package, from its summary line."""
    return _install.apt_get_changed(stdout)


class FilterModule:
    def filters(self):
        return {"runner_packages": runner_packages, "runner_package_files": runner_package_files,
                "runner_apt_changed": runner_apt_changed}
