# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Merging the declared configuration into config.toml's tomlkit document.

Only declared keys change; comments, formatting and everything undeclared stay. An entry's token and
its times are the runner's own state: the token on disk is never replaced by an older one, and a time is
never invented where gitlab-runner wrote its zero time ("unknown") and nothing was declared.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from ansible_collections.runnerops.gitlab.plugins.module_utils._config_declared import CREDENTIAL_KEYS
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_schema import canonical, child_table, key_code
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import (
    UTC,
    ZERO_TIME,
    format_time,
    read_time,
    same_time,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._toml_document import is_table

try:
    import tomlkit
    from tomlkit.items import AoT, Comment, Table, Whitespace
except ImportError:  # pragma: no cover - reported by _toml_document.tomlkit_problem
    tomlkit = AoT = Comment = Table = Whitespace = None


def _find_key(container, key):
    """The existing key matching ``key`` exactly, else regardless of case (as gitlab-runner decodes)."""
    if key in container:
        return key
    lowered = key.lower()
    return next((existing for existing in container if str(existing).lower() == lowered), None)


class _Style:
    """How new lines are indented: like the file's own entries, else like gitlab-runner (two spaces)."""

    def __init__(self, document):
        self.unit = "  "
        entries = document.get("runners")
        if entries is not None and len(entries):
            first = _first_value_indent(entries[0])
            if first is not None:
                self.unit = first

    def keys(self, container, depth):
        found = _first_value_indent(container)
        return found if found is not None else self.unit * depth

    def header(self, depth):
        return self.unit * max(depth - 1, 0)


def _first_value_indent(container):
    body = container.value.body if is_table(container) else getattr(container, "body", [])
    for key, item in body:
        if key is None or isinstance(item, (Table, AoT, Whitespace)):
            continue
        return item.trivia.indent.lstrip("\n")
    return None


def _toml_value(value):
    if isinstance(value, datetime.datetime):
        return tomlkit.value(format_time(value))
    return tomlkit.item(value)


def _new_table(data, depth, style):
    table = tomlkit.table()
    for key, value in data.items():
        if value is None or isinstance(value, dict) or _is_table_list(value):
            continue
        item = _toml_value(value)
        item.trivia.indent = style.unit * depth
        table.add(key, item)
    for key, value in data.items():
        if isinstance(value, dict):
            table.add(key, _new_table(value, depth + 1, style))
        elif _is_table_list(value):
            table.add(key, _new_aot(value, depth + 1, style))
    table.trivia.indent = "\n" + style.header(depth)
    return table


def _new_aot(items, depth, style):
    aot = tomlkit.aot()
    for item in items:
        aot.append(_new_table(item, depth, style))
    return aot


def _is_table_list(value):
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def merge_table(container, desired, depth, style, table):
    """Set the declared keys in ``container`` (a tomlkit table or document), keeping everything else.

    ``None`` removes a key; dicts merge into existing tables; other values replace what is there when
    they differ as gitlab-runner would read them (so formatting and comments stay where nothing changed).
    """
    for key, value in desired.items():
        existing_key = _find_key(container, key)
        existing = container[existing_key] if existing_key is not None else None
        code = key_code(table, key)[1] if table is not None else None
        sub_table = child_table(table, key) if code in ("table", "tables") else None
        if value is None:
            if existing_key is not None:
                del container[existing_key]
            continue
        if isinstance(value, dict) and existing is not None and is_table(existing):
            if existing_key != key:
                _rename(container, existing_key, key)
            merge_table(container[key], value, depth + 1, style, sub_table if code == "table" else None)
            continue
        if existing is not None and canonical({key: existing.unwrap() if hasattr(existing, "unwrap") else existing},
                                              table) == canonical({key: value}, table):
            continue
        simple = not (isinstance(value, dict) or _is_table_list(value) or is_table(existing)
                      or isinstance(existing, AoT))
        if existing_key == key and simple:
            container[key] = _toml_value(value)  # in place: keeps position, indentation and comment
            continue
        if existing_key is not None:
            del container[existing_key]
        _add(container, key, value, depth, style)


def _rename(container, old, new):
    item = container[old]
    del container[old]
    container[new] = item


def _runners_position(container):
    """Index of the [[runners]] array in the document's body, or None (also for any other table)."""
    if is_table(container) or not hasattr(container, "_insert_at"):
        return None
    for index, (key, item) in enumerate(container.body):
        if key is not None and str(key) == "runners" and isinstance(item, AoT):
            return index
    return None


def _add(container, key, value, depth, style):
    stored = container.value if is_table(container) else container
    # tomlkit prefixes the parent's own indentation on insert; the final one is set on the stored item.
    if isinstance(value, dict):
        table = _new_table(value, depth + 1, style)
        position = _runners_position(container)
        if position is None:
            container[key] = table
        else:
            # Top-level tables go before the [[runners]] entries, where gitlab-runner writes them.
            container._insert_at(position, key, table)  # pylint: disable=protected-access
        blank = "\n"
        if not is_table(container) and _text_before(container, stored.item(key)).endswith("\n\n"):
            blank = ""
        stored.item(key).trivia.indent = blank + style.header(depth + 1)
    elif _is_table_list(value):
        container[key] = _new_aot(value, depth + 1, style)
        for table in stored.item(key).body:
            table.trivia.indent = "\n" + style.header(depth + 1)
    else:
        indent = style.keys(container, depth)
        container[key] = _toml_value(value)
        stored.item(key).trivia.indent = indent


@dataclass
class MergeResult:
    added: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    pruned: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


@dataclass
class PrunedEntry:
    """An entry taken out of the file; its token stays in memory for the unregister call only."""

    name: str | None
    url: str | None
    token: str | None = field(repr=False, default=None)


def merge(document, desired, prune=True, now=None):
    """Merge ``desired`` (a DesiredConfig) into ``document`` (tomlkit, changed in place)."""
    now = now or datetime.datetime.now(UTC).replace(microsecond=0)
    style = _Style(document)
    result = MergeResult()
    if desired.global_settings:
        merge_table(document, desired.global_settings, 0, style, "")
    if desired.runners is None:
        return result

    entries = document.get("runners")
    by_name = {}
    for position, entry in enumerate(entries or []):
        by_name.setdefault(_entry_name(entry), []).append(position)
    for runner in desired.runners:
        positions = by_name.get(runner.name, [])
        if len(positions) > 1:
            ids = ", ".join(str(_lookup(entries[position], "id", "none")) for position in positions)
            raise RunnerOpsError(
                f"Merging runner {runner.name!r} into config.toml",
                f"config.toml has {len(positions)} [[runners]] entries named {runner.name!r} (runner ids {ids}); "
                "gitlab-runner register appends a new entry each time it runs.",
                fix="remove the extra entries by hand (or with gitlab-runner unregister), keeping the one whose "
                "token GitLab accepts, then run again.")

    declared = {runner.name for runner in desired.runners}
    if prune and entries is not None:
        for position in reversed(range(len(entries))):
            entry = entries[position]
            if _entry_name(entry) in declared:
                continue
            plain = {str(key).lower(): value for key, value in entry.unwrap().items()}
            name = plain.get("name") or f"(entry {position + 1} without a name)"
            result.pruned.insert(0, PrunedEntry(name=name, url=plain.get("url"), token=plain.get("token")))
            result.removed.insert(0, name)
            del entries[position]

    for runner in desired.runners:
        entries = document.get("runners")
        current = next((entry for entry in (entries or []) if _entry_name(entry) == runner.name), None)
        if current is None:
            _add_entry(document, runner, style, now)
            result.added.append(runner.name)
            continue
        before = canonical(current.unwrap(), "runners")
        warning = _update_entry(current, runner, style, now)
        if warning:
            result.warnings.append(warning)
        if canonical(current.unwrap(), "runners") != before:
            result.updated.append(runner.name)

    entries = document.get("runners")
    if entries is not None and not len(entries):
        del document["runners"]
    elif entries is not None:
        _space_entries(document, entries)
    return result


def _lookup(table, key, default=None):
    found = _find_key(table, key)
    return table[found] if found is not None else default


def _entry_name(entry):
    """An entry's name, found as gitlab-runner finds keys (``Name`` works too)."""
    name = _lookup(entry, "name")
    return str(name) if name is not None else None


def _space_entries(document, entries):
    """One blank line before every [[runners]] header, as gitlab-runner writes them."""
    for position in range(len(entries)):
        entry = entries[position]
        before = entries[position - 1].as_string() if position else _text_before(document, entries)
        wanted = "\n" if before and not before.endswith("\n\n") else ""
        entry.trivia.indent = wanted + entry.trivia.indent.lstrip("\n")


def _text_before(document, target):
    """The end of the document text that precedes ``target`` (enough to see blank lines)."""
    items = []
    for _key, item in document.body:
        if item is target:
            break
        items.append(item)
    tail = ""
    for item in reversed(items):
        if isinstance(item, Whitespace):
            tail = item.as_string() + tail
            continue
        # A key/value line ends with its trail; tables and comments render whole.
        tail = (item.as_string() if isinstance(item, (Table, AoT, Comment)) else item.trivia.trail) + tail
        break
    return tail


def _add_entry(document, runner, style, now):
    action = f"Adding runner {runner.name!r} to config.toml"
    missing = [name for name, value in (("url", runner.url), ("token", runner.token)) if not value]
    executor = runner.executor
    if not executor:
        missing.append("executor")
    if missing:
        raise RunnerOpsError(action, f"the entry is new and has no {', '.join(missing)}.",
                             fix=f"give runners[].{' and runners[].'.join(missing)} for {runner.name!r}.")
    data = {"name": runner.name, "url": runner.url}
    if runner.id is not None:
        data["id"] = runner.id
    data["token"] = runner.token
    data["token_obtained_at"] = runner.token_obtained_at or now
    data["token_expires_at"] = runner.token_expires_at or ZERO_TIME
    data["executor"] = executor
    for key, value in runner.settings.items():
        if value is not None:
            data[key] = value
    table = _new_table(data, 1, style)
    entries = document.get("runners")
    if entries is None:
        document.append("runners", _new_aot([], 1, style))
        entries = document["runners"]
    entries.append(table)


def _update_entry(entry, runner, style, now):
    """Apply a declared runner to its existing entry; return a warning when the disk token was kept."""
    values, warning = entry_credentials(entry.unwrap(), runner, now)
    if runner.url is not None:
        values["url"] = runner.url
    if runner.executor is not None:
        values["executor"] = runner.executor
    merge_table(entry, values, 1, style, "runners")
    merge_table(entry, runner.settings, 1, style, "runners")
    return warning


def entry_credentials(current, runner, now):
    """The credential keys to write for one entry, never replacing a token with an older one.

    Returns ``(values, warning)``. The token on disk wins when it was obtained later than the declared
    one, or when the declared token carries no ``token_obtained_at`` to prove it is newer (gitlab-runner
    may have rotated it since the inventory was written), unless the disk token has expired. The zero
    time is "unknown": it proves nothing, and it is replaced only by a declared time or, when the token
    has a real expiry, by the time of the run (gitlab-runner rotates at once a token whose obtained time
    is unknown but whose expiry is not).
    """
    current = {key.lower(): value for key, value in current.items() if key.lower() in CREDENTIAL_KEYS}
    disk_token = current.get("token")
    disk_obtained = read_time(current.get("token_obtained_at"))
    disk_expires_raw = current.get("token_expires_at")
    disk_expires = read_time(disk_expires_raw)
    declared_obtained = read_time(runner.token_obtained_at)
    values = {}

    if runner.token is not None and runner.token != disk_token:
        newer_on_disk = disk_token and disk_obtained is not None and (
            declared_obtained is None or declared_obtained < disk_obtained)
        expired_on_disk = disk_expires is not None and disk_expires <= now
        if newer_on_disk and not expired_on_disk:
            declared = format_time(declared_obtained) if declared_obtained else "not given"
            return values, (
                f"runners[{runner.name}]: kept the token on disk (obtained {format_time(disk_obtained)}) instead of "
                f"the declared one (token_obtained_at {declared}): gitlab-runner may have rotated it, and an older "
                "token would stop the runner. To replace it, declare the new token with a later token_obtained_at.")
        values["token"] = runner.token
        values["token_expires_at"] = runner.token_expires_at or ZERO_TIME
        # A new token without a declared time was obtained now, as gitlab-runner register records it.
        unknown_declared = runner.token_obtained_at is not None and read_time(values["token_expires_at"]) is None
        values["token_obtained_at"] = declared_obtained or (runner.token_obtained_at if unknown_declared else now)
        if runner.id is not None:
            values["id"] = runner.id
        return values, None

    if runner.token is not None:
        if runner.id is not None:
            values["id"] = runner.id
        if runner.token_expires_at is not None and not same_time(disk_expires_raw, runner.token_expires_at):
            values["token_expires_at"] = runner.token_expires_at
        if disk_obtained is None and declared_obtained is not None:
            values["token_obtained_at"] = declared_obtained
    if disk_token:
        expires = read_time(values["token_expires_at"]) if "token_expires_at" in values else disk_expires
        if expires is not None and disk_obtained is None and "token_obtained_at" not in values:
            values["token_obtained_at"] = now
        if disk_obtained is not None and "token_expires_at" not in values and disk_expires_raw is None:
            values["token_expires_at"] = runner.token_expires_at or ZERO_TIME
    return values, None
