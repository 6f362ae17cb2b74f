# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What decommissioning a host does to each runner it carries, and which managers hosts already gone left behind.

Plain data in, plain data out: the filter plugins hand it what the hosts gathered (``runner_config_info``
results) and what GitLab answered (``gitlab_runner_info`` results), and get back names, ids, system ids and
messages. Nothing returned carries a token, so every result can be shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import host_report
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import describe_manager, live_managers

# GitLab marks a manager stale after seven days without contact. One seen more recently may be a host that is
# only switched off for now: deleting the runner it uses would cut it off when it comes back.
IN_USE_WINDOW = 7 * 24 * 3600

UNREGISTER_HINT = ("remove stale managers on each runner's page in GitLab, or from a host that still holds the "
                   "runner's token: DELETE /api/v4/runners/managers with token and system_id")


@dataclass(frozen=True)
class EntryPlan:
    """What happens to one ``[[runners]]`` entry of the host being decommissioned."""

    name: str
    runner_id: int | None
    # GitLab's view of the runner (``gitlab_runner_info``, never a token), or None when it is not in GitLab.
    runner: dict | None
    # Delete the runner in GitLab (it takes its managers with it).
    delete: bool
    # Unregister this host's manager with the entry's token before the entry goes.
    unregister: bool
    fate: str


def runners_by_id(results):
    """``{id: runner}`` from ``gitlab_runner_info`` results (a loop's ``results``); failed or skipped ones count
    as not read."""
    found = {}
    for result in results or ():
        if not isinstance(result, dict) or result.get("skipped") or result.get("failed"):
            continue
        for runner in result.get("runners") or ():
            if isinstance(runner, dict) and isinstance(runner.get("id"), int):
                found.setdefault(runner["id"], runner)
    return found


def named_for_host(description, host):
    """Whether a runner is the host's own: named ``<host>`` (common for runners registered by hand) or
    ``<name>-<host>`` (the role's per-host definitions)."""
    description = description or ""
    return bool(host) and (description == host or description.endswith("-" + host))


def plan_entries(host, gathered, runners, now=None, window=IN_USE_WINDOW):
    """The host's system id and an ``EntryPlan`` per entry of its ``runner_config_info`` result, in the order
    config.toml has them.

    ``runners`` is ``{id: runner}`` as GitLab sees them (see ``runners_by_id``). A runner named for the host is
    deleted only when no other manager made contact within ``window`` seconds; otherwise, like a shared runner,
    it stays and only this host's manager is unregistered.
    """
    report = host_report(host, gathered)
    plans = []
    for entry in report.entries:
        runner = runners.get(entry.runner_id) if entry.runner_id is not None else None
        delete = unregister = False
        if entry.runner_id is None:
            unregister = True
            fate = "no runner id; only the entry and its manager go"
        elif runner is None:
            # Its token died with the runner: there is no manager left to unregister.
            fate = f"runner {entry.runner_id} is no longer in GitLab; only the entry goes"
        else:
            description = runner.get("description") or ""
            others = live_managers(runner.get("managers"), [report.system_id], now=now, window=window)
            if named_for_host(description, host) and not others:
                delete = True
                fate = f"per-host runner {entry.runner_id} ({description}): delete the runner (and its managers)"
            elif named_for_host(description, host):
                unregister = True
                fate = (f"runner {entry.runner_id} ({description}) is named for this host but managers "
                        f"{', '.join(describe_manager(manager) for manager in others)} use it too: "
                        "unregister this manager only")
            else:
                unregister = True
                fate = f"shared runner {entry.runner_id} ({description}): unregister this manager"
        plans.append(EntryPlan(name=entry.name, runner_id=entry.runner_id, runner=runner, delete=delete,
                               unregister=unregister, fate=fate))
    return report.system_id, plans


def host_plan(host, gathered, runners, now=None, window=IN_USE_WINDOW):
    """The host's whole plan as plain data, for the playbook to wire into its steps.

    - ``lines``: one message per entry (or that there is none);
    - ``unregister``: whether some entry's manager is unregistered (the first config.toml step runs);
    - ``kept``: the entries that first step leaves in place, by name (per-host runners and runners gone);
    - ``delete``: the runners to delete, with what ``gitlab_runner_create`` needs to find them;
    - ``remove``: whether entries remain for the last config.toml step;
    - ``runner_ids``: the runners that stay in GitLab, whose managers the stale-manager report reads;
    - ``system_id``: the host's runner system id.
    """
    system_id, plans = plan_entries(host, gathered, runners, now=now, window=window)
    deleted = []
    for plan in plans:
        if not plan.delete:
            continue
        owner = plan.runner.get("owner") or {}
        runner_type = plan.runner.get("runner_type")
        deleted.append({"id": plan.runner_id, "name": plan.runner.get("description"), "runner_type": runner_type,
                        "group": owner.get("id") if runner_type == "group_type" else None,
                        "project": owner.get("id") if runner_type == "project_type" else None})
    return {
        "system_id": system_id,
        "lines": [f"entry '{plan.name}': {plan.fate}" for plan in plans] or ["no runner entries"],
        "unregister": any(plan.unregister for plan in plans),
        "kept": [{"name": plan.name} for plan in plans if not plan.unregister],
        "delete": deleted,
        "remove": any(not plan.unregister for plan in plans),
        "runner_ids": sorted({plan.runner_id for plan in plans if plan.runner is not None and not plan.delete}),
    }


def fleet_view(read_by_host, decommissioned):
    """What the rest of the fleet holds, and what this run took out of it.

    ``read_by_host`` is ``{host: runner_config_info result}`` for the hosts read (an unreachable or failed host
    has a result without a system id); ``decommissioned`` is ``{host: host_plan}`` for the hosts this run
    decommissioned. Returns the system ids the fleet reports, the runners to read (those the fleet carries and
    those the decommissioned hosts left in GitLab), the hosts that could not be read, and the managers this run
    unregisters (``{runner_id, system_id}``), which are not stale: in check mode they are still there.
    """
    system_ids, runner_ids, unread, leaving = [], set(), [], []
    for host, result in read_by_host.items():
        report = host_report(host, result)
        if not report.system_id:
            unread.append(host)
            continue
        system_ids.append(report.system_id)
        runner_ids.update(entry.runner_id for entry in report.entries if entry.runner_id is not None)
    for host, plan in decommissioned.items():
        plan = plan if isinstance(plan, dict) else {}
        ids = [runner_id for runner_id in plan.get("runner_ids") or () if isinstance(runner_id, int)]
        runner_ids.update(ids)
        if plan.get("system_id"):
            leaving.extend({"runner_id": runner_id, "system_id": plan["system_id"]} for runner_id in ids)
    return {"system_ids": sorted(set(system_ids)), "runner_ids": sorted(runner_ids), "unread": sorted(unread),
            "leaving": sorted(leaving, key=lambda pair: (pair["runner_id"], pair["system_id"]))}


def stale_report(results, fleet):
    """Lines naming every manager of the runners read whose system id belongs to no host of the fleet.

    ``results`` are ``gitlab_runner_info`` results (a loop's ``results``), ``fleet`` is ``fleet_view``'s answer.
    """
    fleet = fleet if isinstance(fleet, dict) else {}
    known = set(fleet.get("system_ids") or ())
    leaving = {(pair.get("runner_id"), pair.get("system_id")) for pair in fleet.get("leaving") or ()
               if isinstance(pair, dict)}
    unread = list(fleet.get("unread") or ())
    lines = []
    for runner_id, runner in sorted(runners_by_id(results).items()):
        for manager in runner.get("managers") or ():
            if not isinstance(manager, dict):
                continue
            system_id = manager.get("system_id")
            if system_id in known or (runner_id, system_id) in leaving:
                continue
            status = f"{manager['status']} " if manager.get("status") else ""
            lines.append(f"{runner.get('description') or '(no description)'} (runner {runner_id}): {status}manager "
                         f"{describe_manager(manager)} belongs to no host of the fleet")
    if not lines:
        if unread:
            return [f"no stale runner managers found; could not read {', '.join(unread)}, so the runners only they "
                    "carry were not checked"]
        return ["no stale runner managers"]
    if unread:
        lines.append(f"could not read {', '.join(unread)}, so some of these may be theirs")
    lines.append(UNREGISTER_HINT)
    return lines
