# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading another host's variables from Ansible's ``hostvars`` in a filter, the one way the filters do it."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import module_failed


def plain(value):
    """``value`` as plain dicts and lists: Ansible hands filters lazy containers that template on access, and
    copying those (as argument validation does) copies the templating engine with them."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def host_var(hostvars, host, variable, default=None):
    """``hostvars[host][variable]``, or ``default`` when the host or the variable is missing (or None)."""
    host_vars = hostvars.get(host) if hasattr(hostvars, "get") else None
    value = host_vars.get(variable) if host_vars is not None and hasattr(host_vars, "get") else None
    return default if value is None else value


def gathered_by_host(hosts, hostvars, variable):
    """``{host: hostvars[host][variable]}`` for the hosts that have it (an unreachable host, or one whose module run
    failed, has not)."""
    found = {}
    for host in hosts or ():
        value = host_var(hostvars, host, variable)
        if isinstance(value, dict) and not module_failed(value) and not value.get("unreachable"):
            found[str(host)] = value
    return found
