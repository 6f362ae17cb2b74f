# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which runner managers and per-host runners of the fleet are stale, and may go.

Spot, autoscaled and rebuilt hosts leave their runner managers behind, and a host taken out of the
inventory leaves its per-host runners. What goes is decided from what GitLab shows (each manager's last
contact) and from what the fleet declares, never from how the inventory is written:

- a manager of one of the fleet's runners goes when it made no contact for longer than the threshold
  (``DELETE /runners/managers`` with the runner's token, which a host of the run holds);
- a per-host runner (``<definition>-<host>``) goes when its host is in no inventory group any more and none
  of its managers made contact within the threshold (``DELETE /runners/:id``);
- a runner the fleet does not declare, and a manager seen within the threshold, never go.
"""

from __future__ import annotations

import datetime

from ansible_collections.runnerops.gitlab.plugins.module_utils._decommission import runners_by_id
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import OWNER_KEY, host_report
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import LIVE_WINDOW, describe_manager, seconds
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import owner_arguments, owner_named_by
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import UTC, read_time


# GitLab calls a manager stale after 7 days.
GITLAB_STALE_AFTER = 604800


def stale_threshold(value, variable):
    """``value`` as the seconds after which a silent manager is stale; fails naming ``variable`` (the one the user
    set) and the fix. Below GitLab's online window a manager that is online would count as stale."""
    action = "Checking what pruning may remove"
    threshold = seconds(value, variable, action)
    if threshold < LIVE_WINDOW:
        raise RunnerOpsError(action, f"{variable} is {threshold} seconds, but GitLab shows a manager seen within "
                             f"{LIVE_WINDOW} seconds as online.",
                             fix=f"set {variable} to {LIVE_WINDOW} or more (GitLab itself calls a manager stale after "
                                 f"7 days, {GITLAB_STALE_AFTER}).")
    return threshold


def last_seen(manager):
    """When a manager last made contact, or was created when it never did; None when GitLab says neither."""
    return read_time(manager.get("contacted_at")) or read_time(manager.get("created_at"))


def is_stale(manager, now, threshold):
    seen = last_seen(manager)
    return seen is not None and (now - seen).total_seconds() > threshold


def fleet_names(definitions_by_host):
    """``(shared names, {per-host definition name: [definitions]})`` the fleet declares, over every host of the
    inventory."""
    shared, per_host = set(), {}
    for definitions in definitions_by_host.values():
        for definition in definitions or ():
            # Pruning reads the role's own instance; a runner of another one is never taken for one of it.
            if definition.get("state", "present") != "present" or definition.get("api_url"):
                continue
            if definition.get("per_host"):
                per_host.setdefault(str(definition["name"]), []).append(definition)
            else:
                shared.add(str(definition["name"]))
    return shared, per_host


def declares(definition, runner):
    """Whether ``runner`` (as gitlab_runner_info returns it) is of ``definition``'s type and owner: GitLab lists a
    parent group's runners among a project's, and a name alone proves nothing."""
    if runner.get("runner_type") != definition.get("runner_type"):
        return False
    kind = OWNER_KEY.get(definition.get("runner_type"))
    if kind is None:
        return True
    owner = runner.get("owner") or {}
    return owner.get("type") == kind and owner_named_by(owner.get("id"), owner.get("path"), definition[kind])


def per_host_owner(runner, per_host):
    """``(definition name, host)`` when ``runner`` is a per-host runner of the fleet: named ``<definition>-<host>``,
    of that definition's type and owner."""
    description = runner.get("description") or ""
    for name in sorted(per_host, key=len, reverse=True):
        if description.startswith(name + "-") and len(description) > len(name) + 1 \
                and any(declares(definition, runner) for definition in per_host[name]):
            return name, description[len(name) + 1:]
    return None


def token_holders(gathered_by_host):
    """``{runner_id: (host, url, token)}``: a host of the run that holds each runner's token."""
    holders = {}
    for host, gathered in gathered_by_host.items():
        for entry in host_report(host, gathered).entries:
            if entry.runner_id is not None and entry.token and entry.url:
                holders.setdefault(entry.runner_id, (host, entry.url, entry.token))
    return holders


def prune_reads(definitions_by_host, gathered_by_host):
    """The ``gitlab_runner_info`` reads that show every runner of the fleet with its managers: the groups and
    projects of its definitions (where the runners of hosts gone from the inventory are found), and the runners
    the hosts of the run carry (instance runners, which only an administrator can list)."""
    owners = set()
    for definitions in definitions_by_host.values():
        for definition in definitions or ():
            if definition.get("api_url"):
                continue
            for key in ("group", "project"):
                if definition.get("runner_type") == f"{key}_type" and definition.get(key) not in (None, ""):
                    owners.add((key, str(definition[key])))
    ids = set()
    for host, gathered in gathered_by_host.items():
        ids.update(entry.runner_id for entry in host_report(host, gathered).entries if entry.runner_id is not None)
    return [{key: value} for key, value in sorted(owners)] + [{"id": runner_id} for runner_id in sorted(ids)]


def prune_plan(definitions_by_host, inventory_hosts, gathered_by_host, runner_results, threshold, now=None):
    """What pruning removes, as plain data for the playbook to wire.

    - ``managers``: ``{runner_id, runner, system_id, url, token, line}`` per stale manager to remove (holds
      tokens: keep the task that loops over them ``no_log``);
    - ``runners``: ``{id, name, runner_type, group, project, line}`` per per-host runner to delete;
    - ``lines``: what goes and what stays that a user would want named (never a token).
    """
    now = now or datetime.datetime.now(UTC)
    shared, per_host = fleet_names(definitions_by_host)
    inventory = set(str(host) for host in inventory_hosts or ())
    holders = token_holders(gathered_by_host)
    managers, runners, lines = [], [], []
    for runner_id, runner in sorted(runners_by_id(runner_results).items()):
        description = runner.get("description") or ""
        label = f"{description} (runner {runner_id})"
        owner = per_host_owner(runner, per_host) if description not in shared else None
        if description not in shared and owner is None:
            continue  # not the fleet's
        listed = [manager for manager in runner.get("managers") or () if isinstance(manager, dict)]
        stale = [manager for manager in listed if is_stale(manager, now, threshold)]
        if owner is not None and owner[1] not in inventory and len(stale) == len(listed):
            if listed or is_stale(runner, now, threshold):
                owner_info = runner.get("owner") or {}
                runner_type = runner.get("runner_type")
                line = (f"{label}: delete the runner; its host {owner[1]} is in no inventory group and "
                        + (f"its managers were last seen {', '.join(describe_manager(m) for m in stale)}"
                           if stale else "it has no manager"))
                runners.append({"id": runner_id, "name": description, "runner_type": runner_type,
                                **owner_arguments(runner_type, owner_info.get("id")), "line": line})
                lines.append(line)
                continue
        if not stale:
            continue
        holder = holders.get(runner_id)
        if holder is None:
            lines.append(f"{label}: kept {len(stale)} stale manager(s) ({', '.join(m['system_id'] for m in stale)}): "
                         "no host of this run holds the runner's token; run with a host that carries it")
            continue
        for manager in stale:
            line = f"{label}: remove stale manager {describe_manager(manager)}"
            managers.append({"runner_id": runner_id, "runner": description, "system_id": manager.get("system_id"),
                             "url": holder[1], "token": holder[2], "line": line})
            lines.append(line)
    return {"managers": managers, "runners": runners, "lines": lines or ["nothing stale to prune"]}
