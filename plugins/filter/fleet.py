# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet's decisions as filters: the role and the playbooks wire these, and decide nothing in Jinja.

Each filter is documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet, _health, _install
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.plugin_utils import _declarations
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._filters import failing_clearly
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._hostvars import gathered_by_host, host_var


def reports_of(hosts, hostvars, variable="__gitlab_runner_gathered"):
    """``HostReport`` of each host; a host without its gathered result reports nothing (it counts as outside)."""
    return _fleet.host_reports(gathered_by_host(hosts, hostvars, variable))


def fleet_hosts(hosts, hostvars, variable="__gitlab_runner_gathered"):
    """What each host reported, without tokens: ``[{host, system_id, system_id_source, entries}]``."""
    reports = reports_of(hosts, hostvars, variable)
    return [{"host": report.host, "system_id": report.system_id, "system_id_source": report.system_id_source,
             "entries": [{"name": entry.name, "id": entry.runner_id} for entry in report.entries]}
            for report in reports]


def fleet_verify_refusals(results):
    """Lines naming each entry whose token GitLab did not accept (``uri`` results of ``POST /runners/verify``)."""
    return _fleet.verify_refusals(results)


def fleet_hosts_outside(all_hosts, hostvars, play_hosts, pattern_hosts=()):
    """Hosts outside the run whose inventory (inline definitions or the folder) declares one of the shared runners
    any host of the run declares, and the hosts of the play's pattern outside the run that declare nothing in the
    inventory: the play's own variables reach them as they reach the run (a hint, never a guard)."""
    in_run = [str(host) for host in play_hosts or ()]
    folders = {}
    wanted = _declarations.shared_names({host: _declarations.host_definitions(hostvars, host, folders)
                                         for host in in_run})
    declared = {}
    for host in all_hosts or ():
        if host in in_run:
            continue
        try:
            declared[host] = _declarations.host_definitions(hostvars, host, folders)
        except RunnerOpsError:
            declared[host] = []  # its own definitions are wrong: it lends nothing, GitLab's managers guard it
        if not declared[host] and host in set(pattern_hosts or ()):
            declared[host] = [{"name": name} for name in wanted]
    return _fleet.hosts_outside(all_hosts or (), in_run, declared, wanted)


def _definitions_of(hostvars, host):
    declared = host_var(hostvars, host, "__gitlab_runner_declared", {})
    return declared.get("definitions") or [] if isinstance(declared, dict) else []


def _outside_reports(results):
    return [_fleet.host_report(str(result.get("item")), result) for result in results or ()
            if isinstance(result, dict) and result.get("runners") is not None and not _fleet.module_failed(result)]


@failing_clearly
def fleet_token_plan(play_hosts, hostvars, outside_results=None, rotation="runner", rotate_before=604800):
    """What gitlab_runner_create is asked per runner; holds tokens, so register it under no_log."""
    declared = {str(host): _definitions_of(hostvars, host) for host in play_hosts or ()}
    reports = reports_of(play_hosts, hostvars)
    return _fleet.token_plan(declared, reports, _outside_reports(outside_results), rotation=rotation,
                             rotate_before=int(rotate_before))


def fleet_entries(play_hosts, hostvars, shared_results=None, rotation="runner", ca_file=None):
    """``{host: {runners, pending}}``: the config.toml entries each host writes; holds tokens (no_log). ``ca_file``:
    the role's CA bundle on the hosts, written as ``tls-ca-file`` of the runners of its GitLab."""
    entries = {}
    for host in play_hosts or ():
        gathered = host_var(hostvars, host, "__gitlab_runner_gathered", {})
        per_host = host_var(hostvars, host, "__gitlab_runner_per_host", {})
        results = list(shared_results or ()) + list(per_host.get("results") or () if isinstance(per_host, dict)
                                                    else ())
        entries[str(host)] = _fleet.host_entries(
            str(host), _fleet.host_report(str(host), gathered),
            _definitions_of(hostvars, host), results,
            host_var(hostvars, host, "__gitlab_runner_entry_url"), rotation=rotation,
            ca_file=ca_file or None)
    return entries


def fleet_config_changes(hosts, hostvars, variable="__gitlab_runner_config"):
    """One line per host whose config.toml changed, then the count of the hosts that stayed as they were."""
    return _fleet.config_changes(gathered_by_host(hosts, hostvars, variable))


def fleet_health_plan(hosts, hostvars, entries):
    """``[{id, name, hosts: {host: system_id}}]``: the runners of the role's GitLab each host must show up for."""
    entries = entries or {}
    system_ids = {report.host: report.system_id for report in reports_of(hosts, hostvars)}
    by_host, own = {}, {}
    for host in hosts or ():
        host = str(host)
        by_host[host] = (entries.get(host) or {}).get("runners") or []
        own[host] = {_fleet.runner_name(definition, host) for definition in _definitions_of(hostvars, host)
                     if not definition.get("api_url")}
    return _health.plan(by_host, system_ids, own)


@failing_clearly
def fleet_health_problems(runners, before_results, results, version=None, host=None):
    """Lines naming each host whose gitlab-runner made no contact since the check began; empty when all did. With
    ``host``, only that host's lines."""
    if isinstance(results, dict):
        results = [results]
    expected = None
    if version and str(version).strip() != "latest":
        expected = "{}.{}.{}".format(*_install.parse_version(version)[0])
    return _health.problems(runners or [], before_results or [], results or [], expected,
                            None if host is None else str(host))


def fleet_pending(entries):
    """What check mode cannot show of ``fleet_entries``, one line per kind: runners to create, tokens to reset."""
    return _fleet.pending_notes(entries or {})


@failing_clearly
def fleet_instances(play_hosts, hostvars):
    """``{api_url: api_token}`` of the other GitLab instances the hosts' definitions name; holds tokens (``no_log``)."""
    return _fleet.instances({str(host): _definitions_of(hostvars, host) for host in play_hosts or ()})


def fleet_failures(results):
    """The message of each runner ``gitlab_runner_create`` could not settle, which ``no_log`` hid; never a token."""
    return _fleet.failures(results or ())


def fleet_report(results, hosts=None, hostvars=None, variable=None):
    """One line per settled runner: name, id and where its token came from; never a token. With ``variable``, the
    loop results each host registered under it (its per-host runners) follow ``results``."""
    every = list(results or ())
    if variable:
        for host in hosts or ():
            registered = host_var(hostvars, host, variable, {})
            every.extend(registered.get("results") or () if isinstance(registered, dict) else ())
    return _fleet.settled_report(every)


class FilterModule:
    def filters(self):
        return {
            "fleet_config_changes": fleet_config_changes,
            "fleet_entries": fleet_entries,
            "fleet_failures": fleet_failures,
            "fleet_health_plan": fleet_health_plan,
            "fleet_health_problems": fleet_health_problems,
            "fleet_hosts": fleet_hosts,
            "fleet_hosts_outside": fleet_hosts_outside,
            "fleet_instances": fleet_instances,
            "fleet_pending": fleet_pending,
            "fleet_report": fleet_report,
            "fleet_token_plan": fleet_token_plan,
            "fleet_verify_refusals": fleet_verify_refusals,
        }
