# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the hosts of a fleet hold, read from their ``runner_config_info`` results.

Plain data in, plain data out: the filter plugins hand it what the hosts gathered, and every decision built
on it (which token a host carries, which runner is due, what a host leaves behind) reads the holders from
here instead of walking the hosts again.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError

UTC = datetime.timezone.utc


@dataclass(frozen=True)
class HeldEntry:
    """One ``[[runners]]`` entry of one host: the runner it names and the credentials it carries."""

    host: str
    system_id: str | None
    name: str
    runner_id: int | None = None
    url: str | None = None
    token: str | None = None
    token_obtained_at: str | None = None
    token_expires_at: str | None = None
    settings: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class HostReport:
    """What one host reported: its runner system id and its entries."""

    host: str
    system_id: str | None
    system_id_source: str | None
    entries: tuple

    def entry(self, name):
        return next((entry for entry in self.entries if entry.name == name), None)


def host_report(host, gathered):
    """A ``HostReport`` from one host's ``runner_config_info`` result (an unreadable host reports nothing)."""
    gathered = gathered if isinstance(gathered, dict) else {}
    system_id = gathered.get("system_id") or None
    entries = []
    for raw in gathered.get("runners") or ():
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        runner_id = raw.get("id")
        entries.append(HeldEntry(
            host=host, system_id=system_id, name=str(raw["name"]),
            runner_id=runner_id if isinstance(runner_id, int) and runner_id > 0 else None,
            url=raw.get("url") or None, token=raw.get("token") or None,
            token_obtained_at=known_time(raw.get("token_obtained_at")),
            token_expires_at=known_time(raw.get("token_expires_at")),
            settings=raw.get("settings") or {}))
    return HostReport(host=host, system_id=system_id, system_id_source=gathered.get("system_id_source"),
                      entries=tuple(entries))


def host_reports(gathered_by_host):
    """``HostReport`` per host, in the order given, from ``{host: runner_config_info result}``."""
    return [host_report(host, gathered) for host, gathered in gathered_by_host.items()]


def known_time(value):
    """A time gitlab-runner wrote, as text, or None when missing or the zero time it writes for "unknown"."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if value.year <= 1:
            return None
        return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond
                                                      else "") + "Z"
    text = str(value).strip()
    if not text or text.startswith("0001-01-01"):
        return None
    return text


def system_id_conflicts(reports):
    """``{system_id: [hosts]}`` for every system id more than one host reports."""
    hosts_of = {}
    for report in reports:
        if report.system_id:
            hosts_of.setdefault(report.system_id, []).append(report.host)
    return {system_id: sorted(hosts) for system_id, hosts in sorted(hosts_of.items()) if len(hosts) > 1}


def check_system_ids(reports):
    """Fail when two hosts report one runner system id: GitLab sees them as one runner manager."""
    conflicts = system_id_conflicts(reports)
    if not conflicts:
        return
    shared = "; ".join(f"{', '.join(hosts)} report {system_id}" for system_id, hosts in conflicts.items())
    raise RunnerOpsError(
        "Checking the hosts' runner system ids",
        f"hosts share a runner system id ({shared}), so GitLab sees each group of them as one runner manager; "
        "verifying, unregistering or protecting one would act for the others.",
        fix="give each host its own machine id (empty /etc/machine-id, then systemd-machine-id-setup) or its own "
            ".runner_system_id beside config.toml. Hosts cloned from one image usually share it.")


def verify_refusals(results):
    """What GitLab refused among ``uri`` results of ``POST /runners/verify``, one line per entry, no token.

    Each result carries its loop item ``{name, id}``; a token is accepted only when GitLab answers 200 with the
    entry's runner id.
    """
    lines = []
    for result in results or ():
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        item = result.get("item") or {}
        name, runner_id = item.get("name"), item.get("id")
        answer = result.get("json") if isinstance(result.get("json"), dict) else {}
        if result.get("status") != 200:
            lines.append(f"entry '{name}' (runner {runner_id}): {result.get('msg') or 'no answer'}")
        elif answer.get("id") != runner_id:
            lines.append(f"entry '{name}': the token belongs to runner {answer.get('id', 'unknown')}, not {runner_id}")
    return lines
