"""Grape-style parameter declarations: coercion, validation and its error text.

GitLab's API validates parameters with Grape before the endpoint body runs, and
answers ``400 {"error": "<messages joined by ', '>"}``.  The declarations here
reproduce the parts the runner endpoints use: ``requires``/``optional`` with a
type, ``values:``, ``regexp:``, ``given`` blocks, ``at_least_one_of`` and
``mutually_exclusive``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping, Sequence

_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}
_INTEGER = re.compile(r"[+-]?\d+")


class Kind(Enum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING_LIST = "string_list"  # Array[String] with CommaSeparatedToArray coercion
    HASH = "hash"
    DATETIME = "datetime"  # Grape's DateTime: ISO 8601, naive taken as UTC


class Invalid(Exception):
    """A value could not be coerced to the declared type."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind = Kind.STRING
    required: bool = False
    values: tuple[str, ...] | None = None
    regexp: str | None = None
    default: Any = None
    # Grape's ``given other: ->(v) { v == value }``: only declared when that holds.
    given: tuple[str, str] | None = None


@dataclass(frozen=True)
class AtLeastOneOf:
    names: tuple[str, ...]


@dataclass(frozen=True)
class MutuallyExclusive:
    names: tuple[str, ...]


Rule = Param | AtLeastOneOf | MutuallyExclusive


class ValidationError(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(", ".join(messages))
        self.messages = messages


def coerce(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    match kind:
        case Kind.STRING:
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (str, int, float)):
                return str(value)
        case Kind.INTEGER:
            if isinstance(value, bool):
                raise Invalid
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                if value == "":
                    return None
                if _INTEGER.fullmatch(value):
                    return int(value)
        case Kind.BOOLEAN:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str):
                if value == "":
                    return None
                if value.lower() in _TRUE:
                    return True
                if value.lower() in _FALSE:
                    return False
        case Kind.STRING_LIST:
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
                return [str(v) for v in value]
        case Kind.HASH:
            if isinstance(value, dict):
                return value
        case Kind.DATETIME:
            if isinstance(value, str) and value.strip():
                text = value.strip()
                text = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
                try:
                    moment = datetime.fromisoformat(text)
                except ValueError:
                    raise Invalid from None
                return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    raise Invalid


def validate(raw: Mapping[str, Any], rules: Sequence[Rule]) -> dict[str, Any]:
    """Coerce and check ``raw`` against ``rules``.

    Returns the declared parameters that were given (or have a default);
    raises ValidationError with Grape's messages in declaration order.
    """
    result: dict[str, Any] = {}
    errors: list[str] = []
    for rule in rules:
        if isinstance(rule, AtLeastOneOf):
            if not any(name in raw for name in rule.names):
                errors.append(f"{', '.join(rule.names)} are missing, at least one parameter must be provided")
            continue
        if isinstance(rule, MutuallyExclusive):
            if sum(name in raw for name in rule.names) > 1:
                errors.append(f"{', '.join(rule.names)} are mutually exclusive")
            continue
        if rule.given and result.get(rule.given[0]) != rule.given[1]:
            continue
        present = rule.name in raw
        if not present:
            if rule.required:
                errors.append(f"{rule.name} is missing")
                if rule.values:
                    errors.append(f"{rule.name} does not have a valid value")
            elif rule.default is not None:
                result[rule.name] = rule.default
            continue
        value = raw[rule.name]
        try:
            value = coerce(rule.kind, value)
        except Invalid:
            errors.append(f"{rule.name} is invalid")
            if rule.values:
                errors.append(f"{rule.name} does not have a valid value")
            continue
        if rule.values and (value not in rule.values if value is not None else rule.required):
            errors.append(f"{rule.name} does not have a valid value")
            continue
        if rule.regexp and value is not None and not re.match(rule.regexp, value):
            errors.append(f"{rule.name} is invalid")
            continue
        result[rule.name] = value
    if errors:
        raise ValidationError(errors)
    return result
