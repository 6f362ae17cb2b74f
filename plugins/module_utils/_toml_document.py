# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""config.toml as a tomlkit document: read it, render it, and show it without its secrets.

Every error tomlkit raises becomes one clear message naming the file, the line and the column, so a
broken file is reported and left as it is, never half understood.
"""

from __future__ import annotations

import re
import traceback

from ansible_collections.runnerops.gitlab.plugins.module_utils._config_schema import ENVIRONMENT_KEY, SECRET_KEYS
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError, sentence
from ansible_collections.runnerops.gitlab.plugins.module_utils._files import check_reachable

TOMLKIT_IMPORT_ERROR = None
try:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError
    from tomlkit.items import AoT, InlineTable, Table
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    tomlkit = None
    AoT = InlineTable = Table = None
    TOMLKitError = ValueError
    TOMLKIT_IMPORT_ERROR = traceback.format_exc()

MIN_TOMLKIT = (0, 11, 7)
TOMLKIT_REQUIREMENT = "tomlkit>=" + ".".join(str(part) for part in MIN_TOMLKIT)
REDACTED = "<redacted>"
TOKEN_PATTERN = re.compile(r"glrt-[0-9A-Za-z_.\-]+")
# What tomlkit raises for text it cannot read: its own errors, and plain ones from a few of its checks.
TOML_ERRORS = (TOMLKitError, ValueError, TypeError, KeyError, IndexError, AttributeError)


def tomlkit_problem():
    """Why tomlkit cannot be used here, or None when it can."""
    if tomlkit is None:
        return "tomlkit is not installed"
    version = tuple(int(part) for part in re.findall(r"\d+", tomlkit.__version__)[:3])
    if version < MIN_TOMLKIT:
        return f"tomlkit {tomlkit.__version__} is too old; {TOMLKIT_REQUIREMENT[9:]} or later is needed"
    return None


def is_table(item):
    return isinstance(item, (Table, InlineTable))


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
        check_reachable(path)
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


def parse_toml(text):
    """``text`` as a tomlkit document, read through (tomlkit finds some errors only when data is unwrapped)."""
    document = tomlkit.parse(text)
    document.unwrap()
    return document


def parse_document(raw, path):
    action = f"Reading {path}"
    fix = "correct the file at that place or restore it from a backup; it was left as it is."
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise RunnerOpsError(action, f"it is not UTF-8 text (byte {exc.start}).", fix=fix) from exc
    try:
        document = parse_toml(text)
    except TOML_ERRORS as exc:
        line, column, message = toml_error_place(text, exc)
        raise RunnerOpsError(action, sentence(f"it is not valid TOML: line {line}, column {column}: {message}"),
                             fix=fix) from None
    runners = document.get("runners")
    if runners is not None and not (isinstance(runners, (AoT, list))
                                    and all(isinstance(entry, dict) for entry in runners)):
        raise RunnerOpsError(action, "'runners' is not an array of tables ([[runners]] entries).", fix=fix)
    return document


def toml_error_place(text, exc):
    """``(line, column, message)`` of a tomlkit error, both counted from 1.

    tomlkit names no place for some errors (a table declared twice inside an entry), and for a key declared
    twice it names where it stopped reading, past the duplicate: the place is then found by reading ever
    longer parts of ``text``, and the duplicate is the key's last mention on or before that line.
    """
    message = re.sub(r" at line \d+ col \d+$", "", str(exc)) or type(exc).__name__
    duplicate = re.match(r'Key "(.+)" already exists', message)
    line = getattr(exc, "line", None)
    if line and not duplicate:
        return line, getattr(exc, "col", 0) + 1, message
    lines = text.splitlines(keepends=True)
    if not line:
        low, high = 1, max(len(lines), 1)
        while low < high:
            middle = (low + high) // 2
            if _fails_the_same(lines[:middle], exc):
                high = middle
            else:
                low = middle + 1
        line = low
    if duplicate:
        mention = re.compile(rf'(?<![\w-]){re.escape(duplicate.group(1))}(?![\w-])')
        for number in range(min(line, len(lines)), 0, -1):
            found = list(mention.finditer(lines[number - 1].split("#", 1)[0]))
            if found:
                return number, found[-1].start() + 1, message
    return line, 1, message


def _fails_the_same(lines, exc):
    try:
        parse_toml("".join(lines))
    except TOML_ERRORS as other:
        return type(other) is type(exc) and str(other) == str(exc)
    return False


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
        document = parse_toml(text)
    except TOML_ERRORS:
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
        if is_table(item):
            _redact_items(item)
        elif str(key).lower() == ENVIRONMENT_KEY and isinstance(item, list) and not isinstance(item, AoT):
            for index, entry in enumerate(item):
                if isinstance(entry, str) and "=" in entry:
                    item[index] = f"{entry.split('=', 1)[0]}={REDACTED}"
        elif isinstance(item, (AoT, list)):
            for element in item:
                if is_table(element):
                    _redact_items(element)
        elif str(key).lower() in SECRET_KEYS and isinstance(item, str) and item:
            container[key] = REDACTED
