# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Times as gitlab-runner and GitLab write them, and Go durations.

gitlab-runner writes ``0001-01-01T00:00:00Z`` (Go's zero time) when it does not know a time: a token
that never expires, or one whose obtained time nobody recorded. That value means "unknown" wherever a
time is read or compared here, never "the year 1". config.toml may hold a time as a TOML datetime or as
a quoted string; gitlab-runner reads both the same way, and so does everything here.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError

UTC = datetime.timezone.utc
ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=UTC)

_TIME_PATTERN = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*([Zz]|[+-]\d{2}:?\d{2})?$")


def parse_time(value, field_name):
    """A declared date and time as an aware datetime: ``2026-01-10T09:00:00Z``, GitLab's ``...000Z``, or
    Ansible's ``now(utc=true)`` (no zone, taken as UTC). The zero time parses as itself."""
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


def read_time(value):
    """A time as gitlab-runner or GitLab wrote it (datetime or text), aware; None when it is missing,
    unreadable or the zero time ("unknown")."""
    if isinstance(value, datetime.datetime):
        value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, str) and value.strip():
        try:
            value = parse_time(value, "time")
        except RunnerOpsError:
            return None
    else:
        return None
    return None if is_zero_time(value) else value


def is_zero_time(value):
    """Whether ``value`` (an aware or naive datetime, or None) is gitlab-runner's "unknown"."""
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


def known_time(value):
    """A time as gitlab-runner's text (``2026-01-10T09:00:00Z``), or None when it is not known."""
    moment = read_time(value)
    return format_time(moment) if moment is not None else None


def same_time(left, right):
    """Whether two times (datetime or text, in any zone) are the same instant; all unknowns are equal."""
    left, right = read_time(left), read_time(right)
    if left is None or right is None:
        return left is None and right is None
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
