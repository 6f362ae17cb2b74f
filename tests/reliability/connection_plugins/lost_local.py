# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local connection that is lost when a given module is about to run, as a host that goes away mid-play."""

from __future__ import annotations

DOCUMENTATION = """
    name: lost_local
    short_description: local connection that becomes unreachable at one module
    description:
        - Runs like the local connection until the module named by the environment variable
          RELIABILITY_LOST_AT is about to run on the host; from then on the host is unreachable.
    author: runnerops maintainers (@runnerops)
    options: {}
"""

import os

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    transport = "lost_local"

    def _lost(self, text):
        module = os.environ.get("RELIABILITY_LOST_AT")
        if module and f"AnsiballZ_{module}" in to_text(text):
            raise AnsibleConnectionFailure(f"Failed to connect to {self._play_context.remote_addr}: host is gone")

    def put_file(self, in_path, out_path):
        self._lost(out_path)
        return super().put_file(in_path, out_path)

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._lost(cmd)
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
