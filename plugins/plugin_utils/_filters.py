# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every filter of the collection shares."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError


def failing_clearly(function):
    """Turn the collection's error into the filter error Ansible reports, with its fix."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except RunnerOpsError as error:
            raise AnsibleFilterError(error.describe()) from None
    return wrapper
