# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A runner as declared to gitlab_runner_create: its options checked before any API call, and what GitLab
should hold for it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from urllib.parse import quote

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import LIVE_WINDOW
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import UTC, format_time, parse_time, read_time
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import runner_token_problem

RUNNER_TYPES = ("instance_type", "group_type", "project_type")
OWNER_KINDS = {"instance_type": "instance", "group_type": "group", "project_type": "project"}
ACCESS_LEVELS = ("not_protected", "ref_protected")
TOKEN_RESET_CHOICES = ("if_no_valid_token", "always", "never")
MINIMUM_TIMEOUT = 600
MAX_TAGS = 50
MAX_TEXT = 1024
# GitLab EE's lower bound for token_expires_at on POST /user/runners.
MIN_REQUESTED_EXPIRY = datetime.timedelta(minutes=5)

# Module option -> GitLab attribute, for the attributes a definition may declare.
ATTRIBUTE_OPTIONS = {
    "tags": "tag_list",
    "run_untagged": "run_untagged",
    "locked": "locked",
    "access_level": "access_level",
    "maximum_timeout": "maximum_timeout",
    "paused": "paused",
    "maintenance_note": "maintenance_note",
}
OPTION_OF_ATTRIBUTE = dict((attr, option) for option, attr in ATTRIBUTE_OPTIONS.items())
OPTION_OF_ATTRIBUTE.update({"tags_list": "tags", "description": "name"})

# What GitLab gives a runner created without the attribute (lib/api/user_runners.rb, Ci::Runner).
CREATE_DEFAULTS = {
    "tag_list": [],
    "run_untagged": True,
    "locked": False,
    "access_level": "not_protected",
    "maximum_timeout": None,
    "paused": False,
    "maintenance_note": None,
}

# An error without an HTTP status (timeout, dropped connection) or a 5xx leaves it unknown
# whether GitLab acted on the request.
UNKNOWN_OUTCOME_MIN_STATUS = 500


def normalize_tags(tags):
    """Strip, drop blanks and repeats, sort: GitLab stores a set, so order carries no meaning."""
    seen = []
    for tag in tags or ():
        tag = str(tag).strip()
        if tag and tag not in seen:
            seen.append(tag)
    return sorted(seen)


def quote_ref(ref):
    """A numeric id or a full path (``platform/ci``) as one URL path segment."""
    return quote(str(ref), safe="")


def owner_arguments(runner_type, ref):
    """gitlab_runner_create's owner option for a runner of ``runner_type``: ``{"group": ref}``, ``{"project": ref}``,
    or nothing for an instance runner (or an unknown owner)."""
    kind = OWNER_KINDS.get(runner_type)
    return {kind: ref} if kind in ("group", "project") and ref not in (None, "") else {}


def owner_named_by(owner_id, owner_path, ref):
    """Whether ``ref`` (a numeric id or a full path) names the group or project with ``owner_id`` and
    ``owner_path``. GitLab finds groups and projects by path without regard to case, so paths compare the same way."""
    ref = str(ref)
    if ref.isdigit():
        return owner_id == int(ref)
    return owner_path is not None and str(owner_path).casefold() == ref.strip("/").casefold()


def validation_fix(message):
    """Name the module option behind a GitLab validation message."""
    lowered = (message or "").lower()
    for attribute in sorted(OPTION_OF_ATTRIBUTE, key=len, reverse=True):
        if attribute in lowered or attribute.replace("_", " ") in lowered:
            option = OPTION_OF_ATTRIBUTE[attribute]
            if option == "tags":
                return "declare at least one tag with tags (at most 50), or set run_untagged to true."
            if option == "maximum_timeout":
                return "set maximum_timeout to 600 seconds or more."
            return f"correct the option {option}."
    return "correct the value GitLab names."


@dataclass(frozen=True)
class KnownToken:
    """A token a host holds for the runner, with that host's system id and what it knows of the token's age."""

    token: str
    system_id: str
    obtained_at: str | None = None
    host: str | None = None

    @property
    def holder(self):
        return f"host {self.host} (system id {self.system_id})" if self.host else f"system id {self.system_id}"


class DesiredRunner:
    """One runner definition, built from module parameters and checked before any API call."""

    def __init__(self, name, runner_type, group=None, project=None, runner_id=None, state="present",
                 attributes=None, known_tokens=None, token_reset="if_no_valid_token", known_id=None,
                 run_system_ids=None, protect_live_managers=None, live_manager_window=LIVE_WINDOW,
                 token_expires_at=None, token_rotation_deadline=None):
        self.name = name
        self.runner_type = runner_type
        self.group = group
        self.project = project
        self.runner_id = runner_id
        self.known_id = known_id
        self.state = state
        self.attributes = dict(attributes or {})
        self.known_tokens = None if known_tokens is None else [
            token if isinstance(token, KnownToken) else KnownToken(*token) for token in known_tokens]
        self.token_reset = token_reset
        self.run_system_ids = None if run_system_ids is None else [str(value) for value in run_system_ids if value]
        # An explicit token_reset=always is a request to rotate; every other reset is guarded unless switched off.
        self.protect_live_managers = (token_reset != "always") if protect_live_managers is None \
            else bool(protect_live_managers)
        self.live_manager_window = live_manager_window
        # Asked of GitLab (EE) for the first token of a runner this module creates; aware datetimes or None.
        self.token_expires_at = token_expires_at
        self.token_rotation_deadline = token_rotation_deadline
        # Known tokens that cannot be runner tokens: (index, KnownToken, what the token is). Set by check().
        self.ignored_tokens = []

    @classmethod
    def from_params(cls, params):
        attributes = {}
        for option, attribute in ATTRIBUTE_OPTIONS.items():
            if params.get(option) is not None:
                value = params[option]
                attributes[attribute] = normalize_tags(value) if option == "tags" else value
        known = params.get("known_tokens")
        desired = cls(
            name=params.get("name"),
            runner_type=params.get("runner_type"),
            group=_text_or_none(params.get("group")),
            project=_text_or_none(params.get("project")),
            runner_id=params.get("id"),
            state=params.get("state") or "present",
            attributes=attributes,
            known_tokens=None if known is None else [
                KnownToken(entry["token"], entry["system_id"], entry.get("obtained_at") or None,
                           entry.get("host") or None) for entry in known],
            token_reset=params.get("token_reset") or "if_no_valid_token",
            known_id=params.get("known_id"),
            run_system_ids=params.get("run_system_ids"),
            protect_live_managers=params.get("protect_live_managers"),
            live_manager_window=LIVE_WINDOW if params.get("live_manager_window") is None
            else params["live_manager_window"],
            token_expires_at=_time_or_none(params.get("token_expires_at"), "token_expires_at"),
            token_rotation_deadline=_time_or_none(params.get("token_rotation_deadline"), "token_rotation_deadline"),
        )
        desired.check()
        return desired

    @property
    def owner_kind(self):
        return OWNER_KINDS[self.runner_type]

    @property
    def owner_ref(self):
        return {"group": self.group, "project": self.project}.get(self.owner_kind)

    @property
    def label(self):
        return f"runner {self.name!r}"

    def wanted_attributes(self):
        """Declared attributes plus the description, which is the runner's name."""
        wanted = {"description": self.name}
        wanted.update(self.attributes)
        return wanted

    def check(self):
        """Fail on what GitLab would refuse, naming the option, before any call."""
        action = f"Checking the definition of {self.label}"

        def fail(reason, fix):
            raise RunnerOpsError(action, reason, fix=fix)

        if not self.name or not str(self.name).strip():
            fail("name is empty.", "set name; it is written as the runner's description and identifies it.")
        if len(self.name) > MAX_TEXT:
            fail(f"name is {len(self.name)} characters long; GitLab allows {MAX_TEXT}.", "shorten name.")
        if self.runner_type not in RUNNER_TYPES:
            fail(f"runner_type {self.runner_type!r} is not one of {', '.join(RUNNER_TYPES)}.",
                 "set runner_type to instance_type, group_type or project_type.")
        if self.runner_type == "group_type" and not self.group:
            fail("runner_type group_type needs the group that owns the runner.",
                 "set group to the group's full path or numeric id.")
        if self.runner_type == "project_type" and not self.project:
            fail("runner_type project_type needs the project that owns the runner.",
                 "set project to the project's full path or numeric id.")
        if self.group and self.runner_type != "group_type":
            fail(f"group is set but runner_type is {self.runner_type}.",
                 "use runner_type group_type for a group runner, or remove group.")
        if self.project and self.runner_type != "project_type":
            fail(f"project is set but runner_type is {self.runner_type}.",
                 "use runner_type project_type for a project runner, or remove project.")
        if self.runner_id is not None and self.runner_id <= 0:
            fail(f"id {self.runner_id} is not a runner id.", "set id to a positive runner id, or remove it.")
        if self.known_id is not None and self.runner_id is not None:
            fail("id and known_id are both set.",
                 "use id to pin a runner, or known_id to name the runner hosts carry; not both.")
        if self.known_id is not None and self.known_id <= 0:
            fail(f"known_id {self.known_id} is not a runner id.",
                 "set known_id to the positive id hosts carry in config.toml, or remove it.")
        self._check_requested_expiry(fail)
        timeout = self.attributes.get("maximum_timeout")
        if timeout is not None and timeout < MINIMUM_TIMEOUT:
            fail(f"maximum_timeout is {timeout} seconds; GitLab needs at least {MINIMUM_TIMEOUT} (10 minutes).",
                 f"set maximum_timeout to {MINIMUM_TIMEOUT} or more.")
        tags = self.attributes.get("tag_list")
        if tags is not None and len(tags) > MAX_TAGS:
            fail(f"tags has {len(tags)} distinct tags; GitLab allows at most {MAX_TAGS}.",
                 f"declare at most {MAX_TAGS} tags.")
        if self.attributes.get("run_untagged") is False and tags is not None and not tags:
            fail("run_untagged is false and tags is empty: the runner could never pick a job, and GitLab "
                 "refuses it.", "declare at least one tag, or set run_untagged to true.")
        note = self.attributes.get("maintenance_note")
        if note is not None and len(note) > MAX_TEXT:
            fail(f"maintenance_note is {len(note)} characters long; GitLab allows {MAX_TEXT}.",
                 "shorten maintenance_note.")
        if self.access_level_invalid():
            fail(f"access_level {self.attributes['access_level']!r} is not one of {', '.join(ACCESS_LEVELS)}.",
                 "set access_level to not_protected or ref_protected.")
        if self.token_reset not in TOKEN_RESET_CHOICES:
            fail(f"token_reset {self.token_reset!r} is not one of {', '.join(TOKEN_RESET_CHOICES)}.",
                 "set token_reset to if_no_valid_token, always or never.")
        if self.live_manager_window is not None and self.live_manager_window <= 0:
            fail(f"live_manager_window is {self.live_manager_window}; it must be a number of seconds above 0.",
                 "set live_manager_window to how recently a host must have contacted GitLab to count as live "
                 f"(default {LIVE_WINDOW}), or set protect_live_managers to false.")
        self.ignored_tokens = []
        for index, known in enumerate(self.known_tokens or ()):
            if not known.token or not known.system_id:
                fail(f"known_tokens[{index}] lacks its token or its system_id.",
                     "give each known token with the system_id of the host that holds it; a token is only "
                     "ever checked together with its holder's system id.")
            wrong_kind = runner_token_problem(known.token)
            if wrong_kind:
                # One host with a pasted API token must not stop the runner: set it aside, never echo it.
                self.ignored_tokens.append((index, known, wrong_kind))

    def access_level_invalid(self):
        level = self.attributes.get("access_level")
        return level is not None and level not in ACCESS_LEVELS

    def _check_requested_expiry(self, fail, now=None):
        """What GitLab refuses whatever its version and limits; the upper bound (15 days, 21 on newer versions, and
        the instance, group and project limits) is GitLab's to check."""
        expires, deadline = self.token_expires_at, self.token_rotation_deadline
        if deadline is not None and expires is None:
            fail("token_rotation_deadline is set without token_expires_at.",
                 "set token_expires_at too; the deadline must be no later than it.")
        if expires is None:
            return
        now = now or datetime.datetime.now(UTC)
        if expires < now + MIN_REQUESTED_EXPIRY:
            fail(f"token_expires_at {format_time(expires)} is less than 5 minutes ahead; GitLab accepts from 5 "
                 "minutes to 15 days ahead (21 on newer versions), within the instance, group and project limits.",
                 "set token_expires_at further ahead, for example with now(utc=true) plus a few days.")
        if deadline is not None and deadline > expires:
            fail(f"token_rotation_deadline {format_time(deadline)} is later than token_expires_at "
                 f"{format_time(expires)}.", "set token_rotation_deadline no later than token_expires_at (equal to "
                 "it turns rotation off).")

    def create_payload(self, owner):
        payload = {"runner_type": self.runner_type, "description": self.name}
        if owner.kind == "group":
            payload["group_id"] = owner.id
        elif owner.kind == "project":
            payload["project_id"] = owner.id
        payload.update(self.attributes)
        for key in ("token_expires_at", "token_rotation_deadline"):
            if getattr(self, key) is not None:
                payload[key] = format_time(getattr(self, key))
        return payload

    def predicted_attributes(self):
        """What GitLab holds right after creating this runner."""
        attributes = dict(CREATE_DEFAULTS)
        attributes.update(self.wanted_attributes())
        return attributes

    def usable_known_tokens(self):
        ignored = set(index for index, _known, _kind in self.ignored_tokens)
        return [known for index, known in enumerate(self.known_tokens or ()) if index not in ignored]

    def distinct_known_tokens(self):
        """Each distinct usable token once: ``(token, system id of its first holder, earliest known age)``."""
        seen = {}
        for known in self.usable_known_tokens():
            first = seen.setdefault(known.token, [known.system_id, known.obtained_at])
            obtained, earliest = read_time(known.obtained_at), read_time(first[1])
            if obtained and (earliest is None or obtained < earliest):
                first[1] = known.obtained_at
        return [(token, system_id, obtained_at) for token, (system_id, obtained_at) in seen.items()]

    def protected_system_ids(self):
        """The system ids of this run's hosts: run_system_ids, else every holder of a known token."""
        if self.run_system_ids is not None:
            return set(self.run_system_ids)
        return set(known.system_id for known in self.known_tokens or ())

    def ignored_token_report(self):
        return [{"index": index, "host": known.host, "system_id": known.system_id, "reason": kind}
                for index, known, kind in self.ignored_tokens]


def _time_or_none(value, option):
    if value is None or str(value).strip() == "":
        return None
    return parse_time(value, option)


def _text_or_none(value):
    if value is None:
        return None
    value = str(value).strip().strip("/")
    return value or None
