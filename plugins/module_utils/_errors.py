# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one exception the collection's library code raises.

Modules catch it once in ``main()`` and turn it into ``fail_json``.
"""

from __future__ import annotations


class RunnerOpsError(Exception):
    """A failure described for the person who has to fix it.

    ``action`` says what was being done, ``status`` and ``gitlab_message`` carry GitLab's answer when
    the failure came from the API, and ``fix`` says what to change.
    """

    def __init__(self, action, reason, status=None, gitlab_message=None, fix=None):
        self.action = action
        self.reason = reason
        self.status = status
        self.gitlab_message = gitlab_message
        self.fix = fix
        super().__init__(self.describe())

    def describe(self):
        text = f"{self.action} failed: {self.reason}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    def amended(self, action=None, reason=None, fix=None, note=None):
        """The same failure told differently: another action, reason or fix, or a note after the reason.

        GitLab's status and message stay as they came.
        """
        reason = reason or self.reason
        if note:
            reason = f"{reason} {note}"
        return RunnerOpsError(action or self.action, reason, status=self.status, gitlab_message=self.gitlab_message,
                              fix=fix or self.fix)

    def as_fail_kwargs(self):
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        result = {"msg": self.describe()}
        if self.status is not None:
            result["status"] = self.status
        if self.gitlab_message is not None:
            result["gitlab_message"] = self.gitlab_message
        return result


def sentence(text):
    """``text`` ending in exactly one period, whether or not GitLab or a library ended it with one."""
    return f"{str(text).rstrip().rstrip('.')}."
