# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether gitlab-runner on every host made contact with GitLab, as GitLab's runner managers show it.

A host is healthy when, for each runner it carries, GitLab lists a manager with the host's system id whose
last contact is newer than it was when the check began. The play's own token check also counts as a contact
in GitLab; it happens before the check begins, so only gitlab-runner's own requests can move the time on.
"""

from __future__ import annotations

from ansible_collections.runnerops.gitlab.plugins.module_utils._times import known_time, read_time
from ansible_collections.runnerops.gitlab.plugins.module_utils._urls import api_base

CAUSES = ("Likely causes: the url in config.toml does not reach GitLab from the host, a firewall or a proxy "
          "stands between them (a proxy goes in gitlab_runner_service_environment), or GitLab refuses the "
          "runner's token; the service's log on the host says which (journalctl -u gitlab-runner).")


def plan(entries_by_host, system_ids, own_instance_names):
    """``[{id, name, hosts: {host: system_id}}]``: each runner of the role's GitLab the hosts carry, with the
    hosts expected to show up as its managers.

    ``entries_by_host``: ``{host: [entry]}`` (name and id); ``system_ids``: ``{host: system_id}``;
    ``own_instance_names``: ``{host: names}`` of the runners on the role's own GitLab connection.
    """
    runners = {}
    for host, entries in entries_by_host.items():
        system_id = system_ids.get(host)
        for entry in entries or ():
            if not system_id or not entry.get("id") or entry.get("name") not in own_instance_names.get(host, ()):
                continue
            runner = runners.setdefault(int(entry["id"]), {"id": int(entry["id"]), "name": entry["name"], "hosts": {}})
            runner["hosts"][host] = system_id
    return sorted(runners.values(), key=lambda runner: runner["id"])


def _registered(report, base):
    """The entries of a host's config.toml registered with the GitLab at ``base`` (a runner id and its url)."""
    return [entry for entry in report.entries if entry.runner_id and entry.url and api_base(entry.url) == base]


def held_plan(reports, url):
    """The ``plan`` of what the hosts hold: each ``config.toml`` entry with a runner id whose url is ``url``'s GitLab
    (entries of another GitLab cannot be read through this one). ``reports``: ``_fleet.HostReport`` of each host."""
    base = api_base(url)
    entries_by_host, names = {}, {}
    for report in reports:
        held = [{"name": entry.name, "id": entry.runner_id} for entry in _registered(report, base)]
        entries_by_host[report.host] = held
        names[report.host] = {entry["name"] for entry in held}
    return plan(entries_by_host, {report.host: report.system_id for report in reports}, names)


def unconfirmable(reports, url):
    """``{host: line}`` for each host whose gitlab-runner GitLab cannot vouch for: no runner system id yet, or no
    registered runner of ``url``'s GitLab in its config.toml. An upgrade must not stop such a host."""
    base = api_base(url)
    lines = {}
    for report in reports:
        if not report.system_id:
            lines[report.host] = (f"{report.host}: gitlab-runner has no runner system id on the host yet, so GitLab "
                                  "cannot confirm it runs the new version.")
        elif not _registered(report, base):
            held = ", ".join(f"{entry.name} ({entry.url or 'no url'})" for entry in report.entries) or "none"
            lines[report.host] = (f"{report.host}: config.toml holds no registered runner of {base} (entries: {held}), "
                                  "so GitLab cannot confirm it runs the new version.")
        else:
            continue
        lines[report.host] += " Run the role on the host first, or leave it out with target or --limit."
    return lines


def _contacts(results):
    """``{(runner_id, system_id): manager}`` from ``gitlab_runner_info`` loop results, and ``{runner_id: msg}`` of
    the reads that failed."""
    managers, failed = {}, {}
    for result in results or ():
        if not isinstance(result, dict) or not isinstance(result.get("item"), dict):
            continue
        runner_id = result["item"].get("id")
        if result.get("runners") is None:
            # The read itself failed; a read whose retries ran out still holds what GitLab listed.
            failed[runner_id] = result.get("msg") or "reading the runner failed"
            continue
        for runner in result.get("runners") or ():
            for manager in runner.get("managers") or ():
                managers[(runner_id, manager.get("system_id"))] = manager
    return managers, failed


def problems(runners, before_results, results, version=None, host=None):
    """One line per host and runner whose gitlab-runner made no contact since the check began (or reports another
    version than ``version``), then the likely causes of a missing contact; empty when every host is healthy. With
    ``host``, only the lines of that host (a runner that could not be read counts for each host carrying it)."""
    before, _failed = _contacts(before_results)
    now, failed = _contacts(results)
    lines, silent = [], False
    for runner in runners or ():
        if host is not None:
            runner = dict(runner, hosts={name: sid for name, sid in runner["hosts"].items() if name == host})
            if not runner["hosts"]:
                continue
        label = f"runner {runner['name']} (id {runner['id']})"
        if runner["id"] in failed:
            lines.append(f"{label}: {failed[runner['id']]}")
            silent = True
            continue
        for name, system_id in sorted(runner["hosts"].items()):
            manager = now.get((runner["id"], system_id))
            if manager is None:
                lines.append(f"{name}: GitLab lists no runner manager with its system id {system_id} for {label}: "
                             "gitlab-runner on the host never made contact with this runner's token.")
                silent = True
                continue
            last = read_time(manager.get("contacted_at"))
            earlier = read_time((before.get((runner["id"], system_id)) or {}).get("contacted_at"))
            if last is None or (earlier is not None and last <= earlier):
                lines.append(f"{name}: gitlab-runner made no contact for {label} while the check waited "
                             f"(last contact {known_time(last) or 'never'}).")
                silent = True
            elif version and str(manager.get("version") or "") != version:
                lines.append(f"{name}: gitlab-runner reports version {manager.get('version') or 'none'} for {label}, "
                             f"not {version}: the service still runs the version it started with, or the package "
                             "did not change.")
    return lines + [CAUSES] if silent else lines
