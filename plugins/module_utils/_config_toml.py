# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""gitlab-runner's config.toml: read, check, merge, compare, render and write it, without AnsibleModule.

gitlab-runner rewrites the whole file itself (token rotation, unregister): it drops comments and keys
it does not know, reorders keys and writes zero values. So everything here compares parsed data, never
text, keeps what it does not manage, and treats an entry's token and token times as runner-owned state.
"""

from __future__ import annotations

import datetime
import difflib
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import tempfile
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_keys as reference
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError, sentence
from ansible_collections.runnerops.gitlab.plugins.module_utils._lock import ExclusiveLock
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import runner_token_problem

TOMLKIT_IMPORT_ERROR = None
try:
    import tomlkit
    from tomlkit.exceptions import ParseError as TomlParseError
    from tomlkit.items import AoT, Comment, InlineTable, Table, Whitespace
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    tomlkit = None
    TomlParseError = AoT = Comment = InlineTable = Table = Whitespace = None
    TOMLKIT_IMPORT_ERROR = traceback.format_exc()

MIN_TOMLKIT = (0, 11, 7)

DEFAULT_PATH = "/etc/gitlab-runner/config.toml"
SYSTEM_ID_FILE = ".runner_system_id"
# The order denisbrodbeck/machineid (used by gitlab-runner) reads them in.
MACHINE_ID_PATHS = ("/var/lib/dbus/machine-id", "/etc/machine-id")
SYSTEM_ID_PATTERN = re.compile(r"^[sr]_[0-9a-zA-Z]{12}$")

REDACTED = "<redacted>"
UTC = datetime.timezone.utc
ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=UTC)

# [[runners]] keys that have their own option in runner_config_sync.
CREDENTIAL_KEYS = ("name", "url", "id", "token", "token_obtained_at", "token_expires_at")
ENTRY_OPTION_KEYS = CREDENTIAL_KEYS + ("executor",)
GLOBAL_OPTION_KEYS = ("concurrent", "check_interval", "log_level", "log_format", "listen_address",
                      "shutdown_timeout", "connection_max_age", "session_server")
EXECUTORS = ("shell", "docker", "docker-windows", "docker+machine", "docker-autoscaler", "kubernetes",
             "custom", "ssh", "parallels", "virtualbox", "instance")


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
# Settings gitlab-runner reads only when it starts.
RESTART_KEYS = ("listen_address", "session_server")
TOKEN_PATTERN = re.compile(r"glrt-[0-9A-Za-z_.\-]+")
LABEL_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{2,64}$")
LABEL_VALUE_PATTERN = re.compile(r"^[a-zA-Z0-9._-]{1,256}$")
MAX_LABELS = 32


def tomlkit_problem():
    """Why tomlkit cannot be used here, or None when it can."""
    if tomlkit is None:
        return "tomlkit is not installed"
    version = tuple(int(part) for part in re.findall(r"\d+", tomlkit.__version__)[:3])
    if version < MIN_TOMLKIT:
        wanted = ".".join(str(part) for part in MIN_TOMLKIT)
        return f"tomlkit {tomlkit.__version__} is too old; {wanted} or later is needed"
    return None


# ---------------------------------------------------------------------------------------------------
# Times and durations

_TIME_PATTERN = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*([Zz]|[+-]\d{2}:?\d{2})?$")


def parse_time(value, field_name):
    """A declared date and time as an aware datetime: ``2026-01-10T09:00:00Z``, GitLab's ``...000Z``, or
    Ansible's ``now(utc=true)`` (no zone, taken as UTC)."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    text = str(value).strip()
    match = _TIME_PATTERN.match(text)
    if not match:
        raise _time_error(field_name, text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zone in (None, "Z", "z"):
        tzinfo = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                                 tzinfo=tzinfo)
    except ValueError as exc:
        raise _time_error(field_name, text, str(exc)) from exc


def _time_error(field_name, text, detail=None):
    reason = f"{field_name} {text!r} is not a date and time"
    if detail:
        reason += f" ({detail})"
    return RunnerOpsError("Reading the declared runners", reason + ".",
                          fix=f"give {field_name} as GitLab returns it, for example 2026-01-10T09:00:00Z.")


def disk_time(value):
    """A time read from config.toml as an aware datetime; None for missing, zero or unreadable values."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        try:
            value = parse_time(value, "time")
        except RunnerOpsError:
            return None
    else:
        return None
    return None if is_zero_time(value) else value


def is_zero_time(value):
    return value is None or (value.year == 1 and value.month == 1 and value.day == 1
                             and value.hour == 0 and value.minute == 0 and value.second == 0)


def format_time(value):
    """RFC 3339 in UTC with ``Z``, the way gitlab-runner writes times (also for year 1)."""
    if not is_zero_time(value):
        value = value.astimezone(UTC)
    text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def same_time(left, right):
    if is_zero_time(left) or is_zero_time(right):
        return is_zero_time(left) and is_zero_time(right)
    return left == right


_DURATION_UNITS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6,
                   "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(value):
    """A Go ``time.Duration`` as nanoseconds (a string such as ``1h30m`` or an integer), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        return None
    total = Decimal(0)
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match:
            return None
        try:
            total += Decimal(match.group(1)) * _DURATION_UNITS[match.group(2)]
        except InvalidOperation:
            return None
        position = match.end()
    return sign * int(total)


# ---------------------------------------------------------------------------------------------------
# System id (the runner manager's identity)

def system_id_path(config_path):
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), SYSTEM_ID_FILE)


def read_system_id_file(config_path):
    """The id in ``.runner_system_id`` beside config.toml, or None when missing or not well formed."""
    try:
        with open(system_id_path(config_path), "rb") as stream:
            text = stream.read(4096).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunnerOpsError(f"Reading {system_id_path(config_path)}", f"{exc.strerror}.",
                             fix="run the module as a user that can read the gitlab-runner configuration "
                             "directory (become: true).") from exc
    return text if SYSTEM_ID_PATTERN.match(text) else None


def read_machine_id(paths=None):
    for path in MACHINE_ID_PATHS if paths is None else paths:
        try:
            with open(path, "rb") as stream:
                machine_id = stream.read(4096).decode("utf-8", "replace").strip()
        except OSError:
            continue
        if machine_id:
            return machine_id
    return None


def generated_system_id(machine_id_paths=None):
    """The ``s_`` id gitlab-runner derives from the host's machine id, or None without a machine id."""
    machine_id = read_machine_id(machine_id_paths)
    if not machine_id:
        return None
    digest = hmac.new(machine_id.encode("utf-8"), b"gitlab-runner", hashlib.sha256).hexdigest()
    return "s_" + digest[:12]


def random_system_id():
    """What gitlab-runner falls back to on a host without a machine id."""
    alphabet = string.ascii_letters + string.digits
    return "r_" + "".join(secrets.choice(alphabet) for _position in range(12))


def system_identity(config_path, machine_id_paths=None):
    """``(system_id, source)``: source is ``file``, ``generated`` or None when neither is available."""
    from_file = read_system_id_file(config_path)
    if from_file:
        return from_file, "file"
    generated = generated_system_id(machine_id_paths)
    if generated:
        return generated, "generated"
    return None, None


# ---------------------------------------------------------------------------------------------------
# The key reference

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
        return isinstance(value, datetime.datetime)
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


def same_config(left, right):
    return canonical(left) == canonical(right)


# ---------------------------------------------------------------------------------------------------
# What is declared

@dataclass
class DesiredRunner:
    name: str
    url: str | None = None
    id: int | None = None
    token: str | None = None
    token_obtained_at: datetime.datetime | None = None
    token_expires_at: datetime.datetime | None = None
    executor: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class DesiredConfig:
    global_settings: dict
    runners: list | None
    warnings: list = field(default_factory=list)

    @classmethod
    def from_params(cls, params):
        """The declared configuration from runner_config_sync's options, checked and canonicalised."""
        check = KeyCheck(params.get("validate_keys") or "error")
        action = "Reading the declared config.toml settings"
        declared = dict(params.get("global_settings") or {})
        for key in declared:
            if str(key).lower() == "runners":
                raise RunnerOpsError(action, "global_settings contains 'runners'.",
                                     fix="declare runner entries with the runners option.")
        for option in GLOBAL_OPTION_KEYS:
            value = params.get(option)
            if value is None:
                continue
            if option == "session_server":
                value = {key: item for key, item in value.items() if item is not None}
                if not value:
                    continue
            clash = [key for key in declared if str(key).lower() == option]
            if clash:
                raise RunnerOpsError(action, f"{option} is given both as an option and in global_settings.",
                                     fix=f"remove {clash[0]!r} from global_settings or drop the {option} option.")
            declared[option] = value
        if params.get("concurrent") is not None and params["concurrent"] < 1:
            raise RunnerOpsError(action, f"concurrent is {params['concurrent']}; gitlab-runner needs at least 1.",
                                 fix="set concurrent to 1 or more.")
        global_settings = check.table(declared, "", "global_settings")

        runners = None
        if params.get("runners") is not None:
            runners = []
            seen = set()
            for index, spec in enumerate(params["runners"]):
                runner = _desired_runner(spec, index, check)
                if runner.name in seen:
                    raise RunnerOpsError(action, f"runners declares the name {runner.name!r} twice.",
                                         fix="give every runner entry a distinct name; entries are matched by name.")
                seen.add(runner.name)
                runners.append(runner)
        check.raise_errors()
        return cls(global_settings=global_settings, runners=runners, warnings=list(check.warnings))


def _desired_runner(spec, index, check):
    action = "Reading the declared runners"
    name = spec.get("name")
    if not name or not str(name).strip():
        raise RunnerOpsError(action, f"runners[{index}] has no name.", fix="give every runner entry a name.")
    where = f"runners[{name}]"
    settings = dict(spec.get("settings") or {})
    for key in settings:
        if str(key).lower() in ENTRY_OPTION_KEYS:
            raise RunnerOpsError(action, f"{where}.settings contains {key!r}.",
                                 fix=f"give it as runners[].{str(key).lower()} instead"
                                 + (" (kept out of logs there)." if "token" in str(key).lower() else "."))
    runner = DesiredRunner(
        name=str(name),
        url=spec.get("url"),
        id=spec.get("id"),
        token=spec.get("token") or None,
        token_obtained_at=_declared_time(spec.get("token_obtained_at"), f"{where}.token_obtained_at"),
        token_expires_at=_declared_time(spec.get("token_expires_at"), f"{where}.token_expires_at"),
        executor=spec.get("executor"),
        settings=check.table(settings, "runners", f"{where}.settings"),
    )
    if runner.executor is not None and runner.executor not in EXECUTORS:
        close = difflib.get_close_matches(runner.executor, EXECUTORS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        check.warn(f"{where}.executor {runner.executor!r} is not an executor gitlab-runner "
                   f"{reference.RUNNER_VERSION} ships{hint}")
    if runner.token and runner.token.strip() != runner.token:
        raise RunnerOpsError(action, f"{where}.token has leading or trailing white space.",
                             fix="strip the token (a newline from a file lookup is a common cause).")
    wrong_kind = runner_token_problem(runner.token)
    if wrong_kind:
        raise RunnerOpsError(action, f"{where}.token is {wrong_kind}, not the runner's authentication token.",
                             fix="give the glrt- token runnerops.gitlab.gitlab_runner_create returns for the runner; "
                                 "an API or registration token never belongs in config.toml.")
    return runner


def _declared_time(value, field_name):
    if value is None or value == "":
        return None
    return parse_time(value, field_name)


# ---------------------------------------------------------------------------------------------------
# Reading the file

class ConfigDocument:
    """config.toml as found: its bytes, its tomlkit document, and whether it existed."""

    def __init__(self, path, raw, exists, document):
        self.path = path
        self.raw = raw
        self.exists = exists
        self.document = document

    @property
    def text(self):
        return self.raw.decode("utf-8")

    @classmethod
    def load(cls, path):
        action = f"Reading {path}"
        try:
            with open(path, "rb") as stream:
                raw = stream.read()
        except FileNotFoundError:
            return cls(path, b"", False, tomlkit.document())
        except IsADirectoryError as exc:
            raise RunnerOpsError(action, "it is a directory.", fix="set path to the config.toml file.") from exc
        except OSError as exc:
            raise RunnerOpsError(action, f"{exc.strerror}.",
                                 fix="run the module as a user that can read it (become: true).") from exc
        return cls(path, raw, True, parse_document(raw, path))

    def plain(self):
        return self.document.unwrap()

    def entries(self):
        runners = self.document.get("runners")
        return list(runners) if runners is not None else []


def parse_document(raw, path):
    action = f"Reading {path}"
    fix = "correct the file at that place or restore it from a backup; it was left as it is."
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise RunnerOpsError(action, f"it is not UTF-8 text (byte {exc.start}).", fix=fix) from exc
    try:
        document = tomlkit.parse(text)
    except TomlParseError as exc:
        message = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise RunnerOpsError(action, sentence(f"it is not valid TOML: line {exc.line}, column {exc.col}: {message}"),
                             fix=fix) from exc
    runners = document.get("runners")
    if runners is not None and not (isinstance(runners, (AoT, list))
                                    and all(isinstance(entry, dict) for entry in runners)):
        raise RunnerOpsError(action, "'runners' is not an array of tables ([[runners]] entries).", fix=fix)
    return document


# ---------------------------------------------------------------------------------------------------
# Merging into the document

def _is_table(item):
    return isinstance(item, (Table, InlineTable))


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
    body = container.value.body if _is_table(container) else getattr(container, "body", [])
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
        if isinstance(value, dict) and existing is not None and _is_table(existing):
            if existing_key != key:
                _rename(container, existing_key, key)
            merge_table(container[key], value, depth + 1, style, sub_table if code == "table" else None)
            continue
        if existing is not None and canonical({key: existing.unwrap() if hasattr(existing, "unwrap") else existing},
                                              table) == canonical({key: value}, table):
            continue
        simple = not (isinstance(value, dict) or _is_table_list(value) or _is_table(existing)
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
    if _is_table(container) or not hasattr(container, "_insert_at"):
        return None
    for index, (key, item) in enumerate(container.body):
        if key is not None and str(key) == "runners" and isinstance(item, AoT):
            return index
    return None


def _add(container, key, value, depth, style):
    stored = container.value if _is_table(container) else container
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
        if not _is_table(container) and _text_before(container, stored.item(key)).endswith("\n\n"):
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
    values, warning = settle_token(entry.unwrap(), runner, now)
    if runner.url is not None:
        values["url"] = runner.url
    if runner.executor is not None:
        values["executor"] = runner.executor
    merge_table(entry, values, 1, style, "runners")
    merge_table(entry, runner.settings, 1, style, "runners")
    return warning


def settle_token(current, runner, now):
    """The credential keys to write for one entry, never replacing a token with an older one.

    Returns ``(values, warning)``. The token on disk wins when it was obtained later than the declared
    one, or when the declared token carries no ``token_obtained_at`` to prove it is newer (gitlab-runner
    may have rotated it since the inventory was written), unless the disk token has expired.
    """
    current = {key.lower(): value for key, value in current.items() if key.lower() in CREDENTIAL_KEYS}
    disk_token = current.get("token")
    disk_obtained = disk_time(current.get("token_obtained_at"))
    disk_expires_raw = current.get("token_expires_at")
    disk_expires = disk_time(disk_expires_raw)
    values = {}
    warning = None

    if runner.token is not None and runner.token != disk_token:
        newer_on_disk = disk_token and disk_obtained is not None and (
            runner.token_obtained_at is None or runner.token_obtained_at < disk_obtained)
        expired_on_disk = disk_expires is not None and disk_expires <= now
        if newer_on_disk and not expired_on_disk:
            declared = format_time(runner.token_obtained_at) if runner.token_obtained_at else "not given"
            return values, (
                f"runners[{runner.name}]: kept the token on disk (obtained {format_time(disk_obtained)}) instead of "
                f"the declared one (token_obtained_at {declared}): gitlab-runner may have rotated it, and an older "
                "token would stop the runner. To replace it, declare the new token with a later token_obtained_at.")
        values["token"] = runner.token
        values["token_obtained_at"] = runner.token_obtained_at or now
        values["token_expires_at"] = runner.token_expires_at or ZERO_TIME
        if runner.id is not None:
            values["id"] = runner.id
        return values, warning

    if runner.token is not None:
        if runner.id is not None:
            values["id"] = runner.id
        if runner.token_expires_at is not None and not same_time(disk_time(disk_expires_raw) or ZERO_TIME,
                                                                 runner.token_expires_at):
            values["token_expires_at"] = runner.token_expires_at
    if disk_token:
        # Both times or neither: a real expiry without an obtained time makes gitlab-runner rotate at once.
        has_expiry = "token_expires_at" in values or disk_expires_raw is not None
        if has_expiry and disk_obtained is None:
            values["token_obtained_at"] = runner.token_obtained_at or now
        if disk_obtained is not None and "token_expires_at" not in values and disk_expires_raw is None:
            values["token_expires_at"] = runner.token_expires_at or ZERO_TIME
    return values, warning


# ---------------------------------------------------------------------------------------------------
# Rendering and redaction

def render(document):
    text = tomlkit.dumps(document)
    return text.rstrip("\n") + "\n" if text.strip() else text


def environment_secrets(value, values=True):
    """``environment`` entries (``NAME=value``) whole, and with ``values`` their bare values too.

    Masking a bare value such as ``10`` everywhere would garble a result; the whole entry is never that short.
    """
    found = set()
    for entry in value if isinstance(value, list) else ():
        if isinstance(entry, str) and "=" in entry:
            secret = entry.split("=", 1)[1]
            if secret:
                found.update((secret, entry) if values else (entry,))
    return found


def secrets_in(data, environment_values=True):
    """Every secret value (tokens, cache keys, passwords, environment values) in parsed config.toml data."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if str(key).lower() in SECRET_KEYS and isinstance(value, str) and value:
                found.add(value)
            elif str(key).lower() == ENVIRONMENT_KEY:
                found.update(environment_secrets(value, environment_values))
            else:
                found.update(secrets_in(value, environment_values))
    elif isinstance(data, list):
        for item in data:
            found.update(secrets_in(item, environment_values))
    return found


def redact(text, extra_secrets=()):
    """``text`` with every token and other secret replaced by ``<redacted>``, for diffs and messages."""
    if not text:
        return text
    known = set(extra_secrets)
    try:
        document = tomlkit.parse(text)
    except TomlParseError:
        document = None
    if document is not None:
        known.update(secrets_in(document.unwrap()))
        _redact_items(document)
        text = tomlkit.dumps(document)
    # Short values (a one-letter password) would garble the text; their keys are already redacted.
    for secret in sorted((s for s in known if s and len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return TOKEN_PATTERN.sub(REDACTED, text)


def _redact_items(container):
    for key in list(container.keys()):
        item = container[key]
        if _is_table(item):
            _redact_items(item)
        elif str(key).lower() == ENVIRONMENT_KEY and isinstance(item, list) and not isinstance(item, AoT):
            for index, entry in enumerate(item):
                if isinstance(entry, str) and "=" in entry:
                    item[index] = f"{entry.split('=', 1)[0]}={REDACTED}"
        elif isinstance(item, (AoT, list)):
            for element in item:
                if _is_table(element):
                    _redact_items(element)
        elif str(key).lower() in SECRET_KEYS and isinstance(item, str) and item:
            container[key] = REDACTED


# ---------------------------------------------------------------------------------------------------
# Writing files

def atomic_write(path, data, prepare=None, unsafe_writes=False, owner_from=None):
    """Replace ``path`` with ``data`` so readers see the old file or the new one, never a part.

    The temporary file is created 0600 in the same directory (so the rename stays on one file
    system), synced, given the owner of ``owner_from`` (default: ``path`` itself, when it exists) and
    then the requested owner and mode by ``prepare(temp_path)`` before it gets its name, then renamed
    over ``path``. ``unsafe_writes`` allows writing in place when the rename is refused (a file
    bind-mounted into a container).
    """
    directory = os.path.dirname(os.path.abspath(path))
    action = f"Writing {path}"
    prefix = f".{os.path.basename(path)}."
    remove_orphaned_temp_files(directory, prefix)
    try:
        # The writer's pid in the name tells a later write whether this file is still being written.
        handle, temp_path = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise RunnerOpsError(action, f"cannot create a file in {directory}: {exc.strerror}.",
                             fix="make sure the directory exists and the module runs with rights to it "
                             "(become: true).") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _copy_owner(owner_from or path, temp_path)
        if prepare is not None:
            prepare(temp_path)
        else:
            os.chmod(temp_path, 0o600)
        try:
            os.replace(temp_path, path)
        except OSError as exc:
            if not (unsafe_writes and exc.errno in (errno.EBUSY, errno.EXDEV)):
                raise
            with open(path, "r+b") as stream:
                stream.truncate(0)
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        _fsync_directory(directory)
    except OSError as exc:
        fix = "check the free space and rights in the directory"
        if exc.errno in (errno.EBUSY, errno.EXDEV):
            fix = "the file is probably bind-mounted; set unsafe_writes=true to write it in place"
        raise RunnerOpsError(action, f"{exc.strerror or exc}.", fix=fix + ".") from exc
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)


def remove_orphaned_temp_files(directory, prefix):
    """Remove temporary files of writes whose process died before the rename (killed, host crash).

    They hold the new content, tokens included, so they are not left behind; a file whose writer still
    runs (another play writing the same file) is left alone.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        writer = name[len(prefix):].split(".", 1)[0]
        if writer.isdigit() and _process_alive(int(writer)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _copy_owner(source, destination):
    try:
        info = os.stat(source)
    except OSError:
        return
    try:
        os.chown(destination, info.st_uid, info.st_gid)
    except PermissionError:
        pass  # not root: the file stays ours, as it would with any other write


def _fsync_directory(directory):
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def backup(path, raw, now=None):
    """Write ``raw`` (the file as read) to a timestamped copy beside it, 0600 from the first byte."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now))
    destination = f"{path}.{os.getpid()}.{stamp}~"
    created = False
    try:
        source = os.stat(path)
        handle = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        created = True
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(raw)
            stream.flush()
            os.fsync(stream.fileno())
            try:
                os.fchown(stream.fileno(), source.st_uid, source.st_gid)
            except PermissionError:
                pass
    except OSError as exc:
        if created:
            # A partial copy is no backup (a full disk, say): it would only be mistaken for one.
            try:
                os.unlink(destination)
            except OSError:
                pass
        raise RunnerOpsError(f"Backing up {path}", f"{exc.strerror or exc}.",
                             fix="check the free space and rights in the directory, or set backup=false.") from exc
    return destination


# ---------------------------------------------------------------------------------------------------
# Unregistering runner managers

def api_base(url):
    """The instance URL as gitlab-runner uses it: no trailing slash, no legacy ``/ci`` suffix."""
    url = (url or "").strip().rstrip("/")
    if url.endswith("/ci"):
        url = url[:-3]
    return url


class ManagerUnregister:
    """``DELETE /api/v4/runners/managers`` with an entry's token and the host's system id.

    This removes only this host's runner manager; the runner stays in GitLab, as with
    ``gitlab-runner unregister``. The token travels in the JSON body, never in the URL.
    """

    RETRY_STATUSES = (429, 500, 502, 503, 504)

    def __init__(self, timeout=30, validate_certs=True, ca_path=None, attempts=3, opener=None, sleep=None):
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.attempts = attempts
        self.opener = opener or open_url
        self.sleep = sleep or time.sleep

    def unregister(self, name, url, token, system_id):
        """``removed``, ``gone`` (GitLab no longer knew the manager) or ``forbidden`` (token not valid)."""
        base = api_base(url)
        action = f"Unregistering the runner manager of entry {name!r} from {base}"
        endpoint = f"{base}/api/v4/runners/managers"
        body = json.dumps({"token": token, "system_id": system_id}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.opener(endpoint, data=body, headers=headers, method="DELETE", timeout=self.timeout,
                                       validate_certs=self.validate_certs, ca_path=self.ca_path,
                                       follow_redirects="none", use_netrc=False)
                response.read()
                return "removed"
            except HTTPError as exc:
                if exc.code == 404:
                    return "gone"
                if exc.code == 403:
                    return "forbidden"
                message = _gitlab_message(exc, (token,))
                if exc.code in self.RETRY_STATUSES and attempt < self.attempts:
                    self.sleep(_retry_delay(exc, attempt))
                    continue
                raise RunnerOpsError(action, sentence(f"GitLab answered {exc.code}: {message}"), status=exc.code,
                                     gitlab_message=message, fix=_unregister_fix(exc.code)) from None
            except SSLValidationError as exc:
                raise RunnerOpsError(action, f"the TLS certificate of {base} could not be verified ({exc}).",
                                     fix="set ca_path to the PEM bundle of the CA that signed GitLab's "
                                     "certificate.") from None
            except (URLError, OSError, UrlConnectionError) as exc:
                if attempt < self.attempts:
                    self.sleep(_retry_delay(None, attempt))
                    continue
                reason = getattr(exc, "reason", None) or exc
                raise RunnerOpsError(action, f"the connection failed ({reason}) after {self.attempts} attempts.",
                                     fix="check that the entry's url is reachable from this host, or raise "
                                     "timeout.") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _gitlab_message(exc, secrets_to_hide):
    try:
        body = exc.read().decode("utf-8", "replace")
    except (OSError, ValueError, AttributeError):  # the body only explains the failure
        body = ""
    try:
        data = json.loads(body)
        message = data.get("message") or data.get("error") or body
    except (ValueError, AttributeError):
        message = body or exc.reason
    message = str(message).strip()
    for secret in secrets_to_hide:
        if secret:
            message = message.replace(secret, REDACTED)
    return message[:500]


def _retry_delay(exc, attempt):
    if exc is not None:
        try:
            return min(float(exc.headers.get("Retry-After")), 30.0)
        except (TypeError, ValueError, AttributeError):
            pass
    return float(min(2 ** (attempt - 1), 10))


def _unregister_fix(status):
    if status == 400:
        return "this GitLab may be older than 16.0, which added DELETE /runners/managers; remove the manager " \
            "in GitLab's runner page instead."
    if 300 <= status < 400:
        return "set the entry's url to the address GitLab redirects to (usually https)."
    if status == 429:
        return "GitLab kept rate limiting: run again later."
    if status >= 500:
        return "GitLab kept failing: check its health, then run again. config.toml was left as it was."
    return "check the entry's url and GitLab's logs; config.toml was left as it was."


# ---------------------------------------------------------------------------------------------------
# Putting it together

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
    return SyncPlan(config=config, before_text=before_text, after_text=after_text, content_changed=changed,
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


# How long a write waits for another run writing the same file on the host.
CONFIG_LOCK_SECONDS = 120


def write_system_id(config_path, system_id):
    """Write ``.runner_system_id`` as gitlab-runner does (no newline, 0600), owned like config.toml."""
    atomic_write(system_id_path(config_path), system_id.encode("ascii"), owner_from=config_path)


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
              "restart_required": plan.restart_required}
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
                          removed=plan.merged.removed, restart_required=plan.restart_required)
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


# ---------------------------------------------------------------------------------------------------
# Reading for runner_config_info

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
