# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bringing a host's config.toml to the declared state, and describing it as it is.

gitlab-runner rewrites the whole file itself (token rotation, unregister): it drops comments and keys
it does not know, reorders keys and writes zero values. So everything here compares parsed data, never
text, and keeps what it does not manage.
"""

from __future__ import annotations

import datetime
import os
from contextlib import nullcontext
from dataclasses import dataclass, field

from ansible_collections.runnerops.gitlab.plugins.module_utils._config_declared import ENTRY_OPTION_KEYS
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_merge import MergeResult, merge
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_schema import same_config
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._files import atomic_write, backup
from ansible_collections.runnerops.gitlab.plugins.module_utils._lock import ExclusiveLock
from ansible_collections.runnerops.gitlab.plugins.module_utils._system_id import (
    random_system_id,
    system_identity,
    write_system_id,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import UTC, format_time
from ansible_collections.runnerops.gitlab.plugins.module_utils._toml_document import (
    ConfigDocument,
    parse_document,
    redact,
    render,
)

DEFAULT_PATH = "/etc/gitlab-runner/config.toml"
# Settings gitlab-runner reads only when it starts.
RESTART_KEYS = ("listen_address", "session_server")
# How long a write waits for another run writing the same file on the host.
CONFIG_LOCK_SECONDS = 120


@dataclass
class SyncPlan:
    """What runner_config_sync would do, worked out without touching anything."""

    config: ConfigDocument
    before_text: str
    after_text: str
    content_changed: bool
    merged: MergeResult
    warnings: list
    restart_required: bool = False
    global_settings_changed: list = field(default_factory=list)

    def diff(self, declared_secrets=()):
        before = self.before_text
        after = self.after_text if self.content_changed else before
        hidden = set(declared_secrets) | {entry.token for entry in self.merged.pruned if entry.token}
        return {
            "before": redact(before, hidden),
            "after": redact(after, hidden),
            "before_header": f"{self.config.path} (before)",
            "after_header": f"{self.config.path} (after)",
        }


def plan_sync(path, desired, prune=True, now=None):
    """Read ``path``, merge ``desired`` and compare parsed data; nothing is written."""
    config = ConfigDocument.load(path)
    before_data = config.plain()
    before_text = config.text
    merged = merge(config.document, desired, prune=prune, now=now)
    after_text = render(config.document)
    after_data = parse_document(after_text, path).unwrap()
    if not same_config(after_data, config.document.unwrap()):
        raise RunnerOpsError(f"Rendering {path}", "the rendered file does not read back as the merged data.",
                             fix="report this with the file's layout (tokens removed); the file was left as it was.")
    changed = not same_config(before_data, after_data)
    if not changed:
        merged.updated = []
    restart = changed and any(not same_config(before_data.get(key), after_data.get(key)) for key in RESTART_KEYS)
    globals_changed = sorted(key for key in set(before_data) | set(after_data) if key != "runners"
                             and not same_config({key: before_data.get(key)}, {key: after_data.get(key)}))
    return SyncPlan(config=config, before_text=before_text, after_text=after_text, content_changed=changed,
                    global_settings_changed=globals_changed,
                    merged=merged, warnings=list(desired.warnings) + merged.warnings, restart_required=restart)


def replan_if_rewritten(path, desired, plan, prune=True, now=None):
    """``plan`` again, onto the file as it is now, when it changed since it was read.

    gitlab-runner rewrites config.toml whenever it rotates a token and takes no lock; merging onto what
    it wrote keeps that newer token. Anything unreadable is left to the write, which reports it.
    """
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        raw = None
    except OSError:
        return plan
    if raw == (plan.config.raw if plan.config.exists else None):
        return plan
    return plan_sync(path, desired, prune=prune, now=now)


@dataclass
class SyncOutcome:
    result: dict
    warnings: list
    plan: SyncPlan


def run_sync(path, desired, prune=True, check_mode=False, make_backup=False, unregister=None,
             write_id=False, prepare=None, unsafe_writes=False, machine_id_paths=None, now=None):
    """Bring ``path`` to the declared state: unregister pruned managers first, then write the file.

    Unregistering comes first so that a failure leaves config.toml, and the tokens a rerun needs, as
    they were. Check mode works everything out and changes nothing, contacting nobody. Two runs on one
    host take turns on a lock of the file's directory, so each reads what the other wrote.
    """
    directory = os.path.dirname(os.path.abspath(path))
    # A missing directory has nothing to take turns on; writing there fails with its own message.
    unlocked = check_mode or not os.path.isdir(directory)
    with nullcontext() if unlocked else ExclusiveLock(directory, CONFIG_LOCK_SECONDS, f"writing {path}"):
        return _run_sync(path, desired, prune, check_mode, make_backup, unregister, write_id, prepare,
                         unsafe_writes, machine_id_paths, now)


def _run_sync(path, desired, prune, check_mode, make_backup, unregister, write_id, prepare, unsafe_writes,
              machine_id_paths, now):
    plan = plan_sync(path, desired, prune=prune, now=now)
    warnings = list(plan.warnings)
    result = {"changed": plan.content_changed, "added": plan.merged.added, "updated": plan.merged.updated,
              "removed": plan.merged.removed, "unregistered": [], "backup_file": None,
              "restart_required": plan.restart_required, "global_settings_changed": plan.global_settings_changed}
    system_id = source = None
    if write_id or (unregister is not None and plan.merged.pruned):
        system_id, source = system_identity(path, machine_id_paths)

    if unregister is not None:
        for entry in plan.merged.pruned:
            skip = _unregister_skip_reason(entry, system_id)
            if skip:
                warnings.append(f"runners[{entry.name}]: removed without unregistering its runner manager: {skip}")
                continue
            if check_mode:
                result["unregistered"].append(entry.name)
                continue
            outcome = unregister.unregister(entry.name, entry.url, entry.token, system_id)
            if outcome == "forbidden":
                warnings.append(
                    f"runners[{entry.name}]: GitLab refused the entry's token (403), so runner manager {system_id} "
                    "could not be unregistered with it; the token is no longer valid. If GitLab still lists that "
                    "manager, remove it on the runner's page in GitLab.")
            else:
                result["unregistered"].append(entry.name)

    if plan.content_changed and not check_mode:
        replanned = replan_if_rewritten(path, desired, plan, prune=prune, now=now)
        if replanned is not plan:
            plan = replanned
            warnings.extend(warning for warning in plan.warnings if warning not in warnings)
            result.update(changed=plan.content_changed, added=plan.merged.added, updated=plan.merged.updated,
                          removed=plan.merged.removed, restart_required=plan.restart_required,
                          global_settings_changed=plan.global_settings_changed)
        if plan.content_changed:
            if make_backup and plan.config.exists:
                result["backup_file"] = backup(path, plan.config.raw)
            atomic_write(path, plan.after_text.encode("utf-8"), prepare=prepare, unsafe_writes=unsafe_writes)

    if write_id and source != "file":
        result["changed"] = True
        if not check_mode:
            write_system_id(path, system_id or random_system_id())
    return SyncOutcome(result=result, warnings=warnings, plan=plan)


def _unregister_skip_reason(entry, system_id):
    if not entry.token:
        return "it has no token."
    if entry.token.startswith("$"):
        return "its token is an environment variable reference that only the gitlab-runner service can expand."
    if not entry.url:
        return "it has no url."
    if not system_id:
        return ("this host has neither .runner_system_id nor a machine id, so gitlab-runner never registered a "
                "manager with a known id here.")
    return None


def json_safe(value):
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_time(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return value


def describe_config(path, machine_id_paths=None):
    """config.toml and the system id as plain data; a missing file is an empty configuration."""
    config = ConfigDocument.load(path)
    data = json_safe(config.plain())
    entries = data.pop("runners", [])
    runners = []
    for entry in entries:
        lowered = {key.lower(): key for key in entry}
        described = {key: entry.pop(lowered[key], None) if key in lowered else None for key in ENTRY_OPTION_KEYS}
        described["settings"] = entry
        runners.append(described)
    system_id, source = system_identity(path, machine_id_paths)
    return {
        "exists": config.exists,
        "global_settings": data,
        "runners": runners,
        "system_id": system_id,
        "system_id_source": source,
    }
