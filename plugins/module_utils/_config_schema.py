# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""gitlab-runner's config.toml keys: which exist, their types, which hold secrets, and how to compare data.

Built from gitlab-runner's own key list (``_config_keys``): keys are matched as gitlab-runner decodes them
(regardless of case), and two parsed files are the same configuration when gitlab-runner would read them
the same way.
"""

from __future__ import annotations

import datetime
import difflib
import re

from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_keys as reference
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import (
    UTC,
    format_time,
    parse_duration,
    parse_time,
)


def is_secret_key(name):
    """Whether a config.toml key of gitlab-runner holds a secret itself (not a path or an id naming one)."""
    lowered = name.lower()
    if lowered.endswith(("file", "_path", "keyid")):
        return False
    return lowered in ("token", "password", "sentry_dsn") or lowered.endswith(
        ("_token", "secretkey", "accesskey", "privatekey", "accountkey", "sessiontoken"))


# Values never shown in a diff or a result, matched case-insensitively in any table: every string key of
# gitlab-runner's own key list that holds a secret (tokens, passwords, cache credentials, the Sentry DSN).
SECRET_KEYS = frozenset(name.lower() for keys in reference.TABLES.values() for name, kind in keys.items()
                        if kind == "str" and is_secret_key(name))
# [[runners]] environment entries ("NAME=value"): any value may be a password, so every value is one.
ENVIRONMENT_KEY = "environment"
LABEL_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{2,64}$")
LABEL_VALUE_PATTERN = re.compile(r"^[a-zA-Z0-9._-]{1,256}$")
MAX_LABELS = 32


_LOWER_KEYS = {table: {key.lower(): key for key in keys} for table, keys in reference.TABLES.items()}
_ARRAY_TABLES = {f"{table}.{key}" if table else key
                 for table, keys in reference.TABLES.items() for key, code in keys.items() if code == "tables"}
_TABLES_BY_KEY = {}
for _table, _keys in reference.TABLES.items():
    for _key in _keys:
        _TABLES_BY_KEY.setdefault(_key.lower(), []).append(_table)

_TYPE_NAMES = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
    "duration": "a Go duration such as 15m or 1h30m", "datetime": "a date and time",
    "list[str]": "a list of strings", "list[float]": "a list of numbers", "list[int]": "a list of integers",
    "map[str]": "a table of strings", "map[bool]": "a table of true/false values",
    "map[int]": "a table of integers", "map[any]": "a table", "map[list[str]]": "a table of string lists",
    "table": "a table (dict)", "tables": "a list of tables (dicts)", "str|list[str]": "a string or a list of strings",
}


def child_table(table, key):
    if table is None:
        return None
    return f"{table}.{key}" if table else key


def key_code(table, key):
    """``(canonical key, type code)`` for a key of a known table, matched as gitlab-runner decodes keys."""
    keys = reference.TABLES.get(table) if table is not None else None
    if not keys:
        return key, None
    if key in keys:
        return key, keys[key]
    canonical = _LOWER_KEYS[table].get(key.lower())
    if canonical is not None:
        return canonical, keys[canonical]
    return key, None


def describe_table(table):
    if table == "":
        return "the top level"
    if table in _ARRAY_TABLES:
        return f"[[{table}]]"
    return f"[{table}]"


def _type_name(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table (dict)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime.datetime):
        return "a date and time"
    return type(value).__name__


def _scalar_ok(code, value):
    if code == "str":
        return isinstance(value, str)
    if code == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if code == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if code == "bool":
        return isinstance(value, bool)
    if code == "duration":
        return parse_duration(value) is not None
    if code == "datetime":
        return _as_time(value) is not None
    if code == "any":
        return True
    return False


class KeyCheck:
    """Checks declared settings against the keys gitlab-runner knows and returns them canonicalised.

    ``mode``: ``error`` (unknown keys fail), ``warn`` (unknown keys warn) or ``off`` (no checks). Wrong
    types fail in ``error`` and ``warn`` mode: gitlab-runner refuses the whole file over one of them.
    """

    def __init__(self, mode="error"):
        self.mode = mode
        self.errors = []
        self.warnings = []

    def table(self, data, table, where):
        """Check ``data`` as the content of ``table`` (a reference path or None); return a canonical copy."""
        result = {}
        for key, value in data.items():
            key = str(key)
            canonical, code = key_code(table, key)
            label = f"{where}: {key!r} in {describe_table(table)}" if table is not None else f"{where}: {key!r}"
            if canonical in result:
                self._error(f"{where}: {key!r} is given twice (gitlab-runner matches keys regardless of case).")
                continue
            if code is not None and canonical != key and value is not None:
                self.warn(f"{label} is spelled {canonical!r} by gitlab-runner; it is written that way.")
            if code is None and table is not None and reference.TABLES.get(table) is not None and value is not None:
                self._unknown(label, table, key)
            result[canonical] = self.value(value, code, child_table(table, canonical) if code else None,
                                           f"{where}.{canonical}", label)
        return result

    def value(self, value, code, table, where, label):
        if value is None or code is None or code == "any":
            if isinstance(value, dict):
                return self.table(value, None, where)
            return value
        if code == "table":
            if not isinstance(value, dict):
                return self._wrong(label, code, value)
            return self.table(value, table, where)
        if code == "tables":
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                return self._wrong(label, code, value)
            return [self.table(item, table, f"{where}[{index}]") for index, item in enumerate(value)]
        if code.startswith("list["):
            inner = code[5:-1]
            if not isinstance(value, list) or not all(_scalar_ok(inner, item) for item in value):
                return self._wrong(label, code, value)
            return value
        if code == "str|list[str]":
            if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(i, str) for i in value))):
                return self._wrong(label, code, value)
            return value
        if code.startswith("map["):
            return self._map(value, code, table, where, label)
        if not _scalar_ok(code, value):
            return self._wrong(label, code, value)
        return value

    def _map(self, value, code, table, where, label):
        if not isinstance(value, dict):
            return self._wrong(label, code, value)
        inner = code[4:-1]
        for name, item in value.items():
            if item is None:
                continue
            if inner == "list[str]":
                good = isinstance(item, list) and all(isinstance(i, str) for i in item)
            else:
                good = _scalar_ok(inner, item)
            if not good:
                self._error(f"{label} entry {name!r} must be {_TYPE_NAMES[inner]}, got {_type_name(item)}.")
        if table in ("runners.feature_flags",):
            self._flags(value, where)
        if table in ("labels", "runners.labels"):
            self._labels(value, label)
        return dict(value)

    def _flags(self, flags, where):
        for name, item in flags.items():
            if item is None:
                continue
            if name in reference.FEATURE_FLAGS:
                if reference.FEATURE_FLAGS[name]:
                    self.warn(f"{where}: feature flag {name!r} is deprecated in gitlab-runner {reference.RUNNER_VERSION}.")
                continue
            message = f"{where}: {name!r} is not a feature flag of gitlab-runner {reference.RUNNER_VERSION}"
            if name in reference.REMOVED_FEATURE_FLAGS:
                message += f"; it was removed after gitlab-runner {reference.REMOVED_FEATURE_FLAGS[name]}"
            else:
                close = difflib.get_close_matches(name.upper(), list(reference.FEATURE_FLAGS), n=1, cutoff=0.8)
                if close:
                    message += f"; did you mean {close[0]!r}?"
            self._problem(message.rstrip(".?") + ("?" if "did you mean" in message else "."))

    def _labels(self, labels, label):
        if len(labels) > MAX_LABELS:
            self._error(f"{label} has {len(labels)} labels; gitlab-runner accepts at most {MAX_LABELS}.")
        for name, item in labels.items():
            if not LABEL_KEY_PATTERN.match(str(name)):
                self._error(f"{label} name {name!r} must match {LABEL_KEY_PATTERN.pattern}.")
            if isinstance(item, str) and not LABEL_VALUE_PATTERN.match(item):
                self._error(f"{label} value of {name!r} must match {LABEL_VALUE_PATTERN.pattern}.")

    def _unknown(self, label, table, key):
        message = f"{label} is not a key gitlab-runner {reference.RUNNER_VERSION} knows"
        removed = reference.REMOVED_KEYS.get(table, {}).get(key)
        if removed is None:
            removed = next((spec for name, spec in reference.REMOVED_KEYS.get(table, {}).items()
                            if name.lower() == key.lower()), None)
        if removed is not None:
            last, replacement = removed
            message += f"; it was removed after gitlab-runner {last}"
            if replacement:
                message += f", use {replacement!r} instead"
            self._problem(message + ".")
            return
        candidates = {name.lower(): name for name in reference.TABLES[table]}
        close = difflib.get_close_matches(key.lower(), list(candidates), n=3, cutoff=0.7)
        if close:
            message += "; did you mean " + " or ".join(repr(candidates[name]) for name in close) + "?"
            self._problem(message)
            return
        elsewhere = [other for other in _TABLES_BY_KEY.get(key.lower(), []) if other != table]
        if elsewhere:
            message += "; it is a key of " + ", ".join(describe_table(other) for other in elsewhere[:3])
        self._problem(message + ".")

    def _wrong(self, label, code, value):
        self._error(f"{label} must be {_TYPE_NAMES.get(code, code)}, got {_type_name(value)}.")
        return value

    def _problem(self, message):
        if self.mode == "error":
            self.errors.append(message)
        elif self.mode == "warn":
            self.warnings.append(message)

    def _error(self, message):
        if self.mode != "off":
            self.errors.append(message)

    def warn(self, message):
        if self.mode != "off":
            self.warnings.append(message)

    def raise_errors(self):
        if not self.errors:
            return
        fix = "correct the keys named above"
        if self.mode == "error":
            fix += " (validate_keys=warn accepts keys gitlab-runner does not know, for older runners)"
        raise RunnerOpsError("Checking the declared config.toml settings", " ".join(self.errors), fix=fix + ".")


# ---------------------------------------------------------------------------------------------------
# Comparing parsed data

def canonical(value, table=""):
    """Parsed config.toml data as gitlab-runner sees it: keys in its spelling, durations in
    nanoseconds, times in UTC, booleans apart from integers. Equal results mean the same configuration."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            name, code = key_code(table, str(key))
            if code is not None and code.startswith("map["):
                result[name] = {str(k): canonical(v, None) for k, v in item.items()} if isinstance(item, dict) \
                    else canonical(item, None)
            elif code == "duration" and parse_duration(item) is not None:
                result[name] = ("duration", parse_duration(item))
            elif code == "datetime" and _as_time(item) is not None:
                result[name] = canonical(_as_time(item))
            else:
                result[name] = canonical(item, child_table(table, name) if code in ("table", "tables") else None)
        return result
    if isinstance(value, list):
        return [canonical(item, table) for item in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return ("time", format_time(value))
    return value


def _as_time(value):
    """A time given as a TOML datetime or as quoted text (gitlab-runner reads both), else None."""
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_time(value, "time")
        except RunnerOpsError:
            return None
    return None


def same_config(left, right):
    return canonical(left) == canonical(right)
