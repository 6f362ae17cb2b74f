# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runners as declared: find, create, update, delete, and settle the token hosts must carry.

Plain Python over ``GitLabClient``: nothing here needs AnsibleModule, so unit tests call it directly.
Every failure is a ``RunnerOpsError`` that names the runner, what was attempted, GitLab's answer
and the fix.
"""

from __future__ import annotations

import datetime
from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import quote

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import (
    ACCEPTED_SCOPES,
    NEED_DESCRIPTIONS,
    preflight,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import (
    LIVE_WINDOW,
    describe_manager,
    is_recent,
    live_managers,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import read_time
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import runner_token_problem

RUNNER_TYPES = ("instance_type", "group_type", "project_type")
OWNER_KINDS = {"instance_type": "instance", "group_type": "group", "project_type": "project"}
ACCESS_LEVELS = ("not_protected", "ref_protected")
TOKEN_RESET_CHOICES = ("if_no_valid_token", "always", "never")
MINIMUM_TIMEOUT = 600
MAX_TAGS = 50
MAX_TEXT = 1024

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


def outcome_unknown(error):
    return error.status is None or error.status >= UNKNOWN_OUTCOME_MIN_STATUS


def is_insufficient_scope(error):
    return error.status == 403 and "insufficient_scope" in (error.gitlab_message or "")


def scope_fix(need):
    accepted = " or ".join(ACCEPTED_SCOPES[need])
    return (f"the token needs scope {accepted} to {NEED_DESCRIPTIONS[need]}. A token with only "
            "create_runner may create runners and nothing else: add read_api to find them and "
            "manage_runner (GitLab 17.1 or later) to update, reset and delete them, or use scope api.")


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
class Owner:
    """Who a runner belongs to: the instance, a group or a project."""

    kind: str
    id: int | None = None
    path: str | None = None

    @property
    def label(self):
        if self.kind == "instance":
            return "the instance"
        return f"{self.kind} {self.path!r}" if self.path else f"{self.kind} {self.id}"

    def as_dict(self):
        return {"type": self.kind, "id": self.id, "path": self.path}

    def role_fix(self):
        if self.kind == "instance":
            return ("instance runners can only be created, changed and listed by an administrator "
                    "(with admin mode active where it is enabled): use an administrator's token.")
        if self.kind == "group":
            return (f"group runners need the Owner role on {self.label} (Maintainer may list them but "
                    "not create, change or delete them): give the token's user Owner there or use an "
                    "owner's token.")
        return (f"project runners need the Maintainer or Owner role on {self.label}: give the token's "
                "user that role or use such a user's token. A runner enabled in more than one project "
                "can only be deleted by an administrator.")


def details_owners(details, kind):
    """Every group or project (``kind``) a runner's details name, with id and path."""
    if kind == "group":
        return [Owner("group", group.get("id"), group_path_from_web_url(group.get("web_url")))
                for group in details.get("groups") or []]
    if kind == "project":
        return [Owner("project", project.get("id"), project.get("path_with_namespace"))
                for project in details.get("projects") or []]
    return []


def owner_from_details(details):
    """The owner GitLab shows in a runner's details (its first group or project)."""
    kind = OWNER_KINDS.get(details.get("runner_type"), "instance")
    if kind == "instance":
        return Owner("instance")
    owners = details_owners(details, kind)
    return owners[0] if owners else Owner(kind)


def group_path_from_web_url(web_url):
    """``https://gitlab.example.com/groups/platform/ci`` -> ``platform/ci``."""
    if not web_url or "/groups/" not in web_url:
        return None
    return web_url.split("/groups/", 1)[1].strip("/") or None


def runner_attributes(details):
    """GitLab's view of the attributes this collection manages, keyed by GitLab attribute."""
    paused = details.get("paused")
    if paused is None and "active" in details:
        paused = not details["active"]
    return {
        "description": details.get("description"),
        "tag_list": normalize_tags(details.get("tag_list")),
        "run_untagged": details.get("run_untagged"),
        "locked": details.get("locked"),
        "access_level": details.get("access_level"),
        "maximum_timeout": details.get("maximum_timeout"),
        "paused": bool(paused),
        "maintenance_note": details.get("maintenance_note"),
    }


def public_runner(runner_id, attributes, runner_type, owner):
    """The ``runner`` return value: plain, documented, never a token."""
    return {
        "id": runner_id,
        "description": attributes.get("description"),
        "runner_type": runner_type,
        "tags": list(attributes.get("tag_list") or []),
        "run_untagged": attributes.get("run_untagged"),
        "locked": attributes.get("locked"),
        "access_level": attributes.get("access_level"),
        "maximum_timeout": attributes.get("maximum_timeout"),
        "paused": attributes.get("paused"),
        "maintenance_note": attributes.get("maintenance_note"),
        "owner": owner.as_dict(),
    }


def same_value(attribute, wanted, current):
    if attribute == "tag_list":
        return normalize_tags(wanted) == normalize_tags(current)
    if attribute in ("maintenance_note", "description"):
        # GitLab shows an unset note as null; an empty declared note means the same.
        return (wanted or None) == (current or None)
    return wanted == current


def differences(wanted, current):
    """Declared attributes whose value differs from GitLab's, as ``{attribute: wanted}``."""
    return dict((attribute, value) for attribute, value in wanted.items()
                if not same_value(attribute, value, current.get(attribute)))


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
                 run_system_ids=None, protect_live_managers=None, live_manager_window=LIVE_WINDOW):
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

    def create_payload(self, owner):
        payload = {"runner_type": self.runner_type, "description": self.name}
        if owner.kind == "group":
            payload["group_id"] = owner.id
        elif owner.kind == "project":
            payload["project_id"] = owner.id
        payload.update(self.attributes)
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


def _text_or_none(value):
    if value is None:
        return None
    value = str(value).strip().strip("/")
    return value or None


class RunnerLookup:
    """Resolves owners and finds runners with as few calls as the API allows."""

    def __init__(self, client):
        self.client = client
        # Runners read once and found to belong to another owner (an ancestor group's, say): never read again.
        self.foreign_ids = set()

    def resolve_owner(self, kind, ref, purpose):
        """A group or project (numeric id or full path) as an ``Owner`` with its numeric id and path."""
        if kind == "instance":
            return Owner("instance")
        if str(ref).isdigit():
            # GitLab's runner API takes the numeric id itself; one that does not exist shows as a 404 on the
            # next call, which names the same fix.
            return Owner(kind, int(ref))
        action = f"Looking up {kind} {ref!r} for {purpose}"
        if kind == "group":
            path, query = f"/groups/{quote_ref(ref)}", {"with_projects": "false"}
        else:
            path, query = f"/projects/{quote_ref(ref)}", {}
        try:
            found = self.client.get(action, path, query=query)
        except RunnerOpsError as error:
            if error.status == 404:
                raise error.amended(fix=owner_not_found_fix(kind, ref)) from error
            if is_insufficient_scope(error):
                raise error.amended(fix=scope_fix("read")) from error
            raise
        if kind == "group":
            return Owner("group", found["id"], found.get("full_path") or ref)
        return Owner("project", found["id"], found.get("path_with_namespace") or ref)

    def list_path(self, owner):
        if owner.kind == "group":
            return f"/groups/{owner.id}/runners"
        if owner.kind == "project":
            return f"/projects/{owner.id}/runners"
        return "/runners/all"

    def list_owner_runners(self, owner, runner_type, purpose, query=None):
        action = f"Listing the runners of {owner.label} for {purpose}"
        params = {"type": runner_type}
        params.update(query or {})
        try:
            return self.client.list(action, self.list_path(owner), query=params)
        except RunnerOpsError as error:
            raise explain_read_error(error, owner) from error

    def details(self, runner_id, purpose, owner=None):
        """One runner's details, or None when it does not exist."""
        action = f"Reading runner {runner_id} for {purpose}"
        try:
            return self.client.get(action, f"/runners/{runner_id}", missing_ok=True)
        except RunnerOpsError as error:
            raise explain_read_error(error, owner) from error

    def find_known(self, desired):
        """``(owner, details)`` of the runner hosts carry as ``known_id``, or ``(None, None)``.

        One GET, and no owner lookup: the details name the runner's group or project (id and path), so
        they prove the owner themselves. The id is only taken when GitLab has it with this definition's
        description, type and owner; anything else (gone, unreadable, renamed, another owner) is left to
        ``find``, which lists the owner's runners as if no id were known.
        """
        runner_id = desired.known_id
        try:
            details = self.details(runner_id, f"{desired.label} (the id hosts carry)")
        except RunnerOpsError as error:
            if error.status == 403:
                return None, None  # not this user's to read: finding it by name says what is wrong
            raise
        if not isinstance(details, dict) or details.get("id") != runner_id:
            return None, None
        if details.get("description") != desired.name or details.get("runner_type") != desired.runner_type:
            return None, None
        owner = owner_in_details(details, desired.owner_kind, desired.owner_ref)
        if owner is None:
            return None, None
        return owner, details

    def find(self, desired, owner):
        """The details of the runner this definition means, or None when it does not exist yet.

        Lists only the owner's runners of the declared type and matches the description exactly; each
        match is read once to confirm it belongs to this owner (GitLab's group and project lists also
        show runners inherited from ancestor groups). With a pinned id, one GET.
        """
        purpose = desired.label
        if desired.runner_id is not None:
            details = self.details(desired.runner_id, purpose, owner)
            if details is not None:
                check_pinned(desired, owner, details)
            return details

        listed = self.list_owner_runners(owner, desired.runner_type, purpose)
        matches = [item for item in listed if item.get("description") == desired.name
                   and item.get("runner_type", desired.runner_type) == desired.runner_type]
        if owner.kind == "instance":
            confirmed_ids = [item["id"] for item in matches]
            if len(confirmed_ids) > 1:
                raise ambiguous(desired, owner, confirmed_ids)
            return self.details(confirmed_ids[0], purpose, owner) if confirmed_ids else None

        confirmed = []
        for item in matches:
            details = self.details(item["id"], purpose, owner)
            if details is not None and belongs_to(details, owner):
                confirmed.append(details)
            elif details is not None:
                self.foreign_ids.add(item["id"])
        if len(confirmed) > 1:
            raise ambiguous(desired, owner, [details["id"] for details in confirmed])
        return confirmed[0] if confirmed else None


def owner_in_details(details, kind, ref):
    """The owner ``ref`` (numeric id or full path) names, as the runner's details show it, or None.

    GitLab finds groups and projects by path without regard to case, so paths compare the same way.
    """
    if kind == "instance":
        return Owner("instance") if details.get("runner_type") == "instance_type" else None
    ref = str(ref)
    for owner in details_owners(details, kind):
        if ref.isdigit():
            matches = owner.id == int(ref)
        else:
            matches = owner.path is not None and owner.path.casefold() == ref.casefold()
        if matches:
            return owner
    return None


def belongs_to(details, owner):
    if owner.kind == "instance":
        return details.get("runner_type") == "instance_type"
    return any(candidate.id == owner.id for candidate in details_owners(details, owner.kind))


def check_pinned(desired, owner, details):
    """A pinned runner must have the declared type and owner: neither can be changed in place."""
    action = f"Checking pinned runner {desired.runner_id} of {desired.label}"
    actual_type = details.get("runner_type")
    if actual_type != desired.runner_type:
        raise RunnerOpsError(
            action,
            f"runner {desired.runner_id} is a {actual_type} runner, but the definition declares "
            f"{desired.runner_type}; GitLab cannot change a runner's type in place.",
            fix="correct runner_type (and group/project) to match the runner, or remove id and delete the old "
                "runner so a new one is created with the declared type.",
        )
    if not belongs_to(details, owner):
        actual = owner_from_details(details)
        raise RunnerOpsError(
            action,
            f"runner {desired.runner_id} belongs to {actual.label}, not {owner.label}; GitLab cannot move a "
            "runner to another owner in place.",
            fix="correct group/project to the runner's owner, or remove id and delete the old runner so a new "
                "one is created where declared.",
        )


def ambiguous(desired, owner, ids):
    ids = sorted(ids)
    return RunnerOpsError(
        f"Finding {desired.label} in {owner.label}",
        f"{len(ids)} runners there have the description {desired.name!r}: ids "
        f"{', '.join(str(i) for i in ids)}. The module will not guess which one is meant.",
        fix="delete the extra runners (or give them other descriptions) so one is left, or pin the one to "
            "keep with id.",
    )


def owner_not_found_fix(kind, ref):
    return (f"check {kind} {ref!r}: give its full path (for example platform/ci) or numeric id, and make sure the "
            f"token's user is a member of it; GitLab answers 404 for a {kind} the user cannot see.")


def explain_read_error(error, owner):
    if is_insufficient_scope(error):
        return error.amended(fix=scope_fix("read"))
    if error.status == 404 and owner is not None and owner.kind != "instance":
        return error.amended(fix=owner_not_found_fix(owner.kind, owner.path or str(owner.id)))
    if error.status == 403 and owner is not None:
        return error.amended(fix=owner.role_fix())
    return error


class RunnerEnsurer:
    """Brings one runner to its declared state; ``run()`` returns the module result.

    Check mode reads the state once, computes the plan and skips every call that would change
    something (creating, updating, deleting, and checking or resetting tokens).
    """

    def __init__(self, client, desired, check_mode=False, run_preflight=True, lock=None):
        self.client = client
        self.desired = desired
        self.check_mode = check_mode
        self.run_preflight = run_preflight
        # Held from finding the runner to settling its token, so that two runs never both create it.
        self.lock = lock
        self.lookup = RunnerLookup(client)
        self.preflight_result = None
        self.warnings = []
        # Whether a changing call went through, so a later failure still reports the change.
        self.changed = False

    # ------------------------------------------------------------------ entry point

    def run(self):
        desired = self.desired
        for index, known, kind in desired.ignored_tokens:
            self.warnings.append(
                f"known_tokens[{index}] of {desired.label}, held by {known.holder}, is {kind}, not a runner "
                "authentication token, so it was set aside (its value is not shown) and the runner was settled from "
                "the other holders. Fix that host's config.toml entry; the next run hands it the runner's token.")
        if self.run_preflight:
            self._preflight()
        with nullcontext() if self.lock is None or self.check_mode else self.lock:
            return self._settle()

    def _settle(self):
        desired = self.desired
        owner = current = None
        if desired.known_id is not None:
            owner, current = self.lookup.find_known(desired)
        if current is None:
            owner = self.lookup.resolve_owner(desired.owner_kind, desired.owner_ref, desired.label)
            current = self.lookup.find(desired, owner)
        if current is not None and owner.path is None and owner.kind != "instance":
            # An owner given by numeric id: the runner's details name its path.
            owner = owner_in_details(current, owner.kind, owner.id) or owner
        if desired.state == "absent":
            return self._absent(owner, current)
        if current is None:
            if desired.runner_id is not None:
                raise RunnerOpsError(
                    f"Finding pinned runner {desired.runner_id} of {desired.label}",
                    f"GitLab has no runner with id {desired.runner_id}.",
                    fix="remove id to let the module find the runner by name in its owner (and create it when "
                        "missing), or correct id.",
                )
            return self._create(owner)
        return self._present(owner, current)

    def _preflight(self):
        desired = self.desired
        needs = ["read"]
        if desired.state == "present" and desired.runner_id is None:
            needs.append("create")
        if desired.state == "absent" or desired.token_reset == "always":
            needs.append("manage")
        try:
            self.preflight_result = preflight(self.client, needs)
        except RunnerOpsError as error:
            raise error.amended(action=f"{error.action} for {desired.label}") from error

    def _require(self, need, action):
        if self.preflight_result is not None:
            self.preflight_result.require([need], action, fix="add the scope named (manage_runner needs GitLab 17.1 "
                                          "or later), or use a token with scope api.")

    def _write(self, need, owner, action, call):
        """Run a changing call, turning GitLab's refusal into the fix for this runner."""
        self._require(need, action)
        try:
            answer = call(action)
        except RunnerOpsError as error:
            raise self._explain(error, need, owner) from error
        self.changed = True
        return answer

    def _explain(self, error, need, owner):
        if is_insufficient_scope(error):
            return error.amended(fix=scope_fix(need))
        if error.status == 403:
            return error.amended(fix=owner.role_fix())
        if error.status == 400:
            return error.amended(fix=validation_fix(error.gitlab_message))
        return error

    # ------------------------------------------------------------------ states

    def _result(self, changed, runner, before, after, token=None, token_expires_at=None, token_source=None,
                obtained_at=None):
        if token_source in ("created", "reset"):
            # To the microsecond: of two runs that took turns on the lock, the later token is the valid one.
            obtained_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "changed": changed,
            "runner": runner,
            "token": token,
            "token_expires_at": token_expires_at,
            "token_obtained_at": obtained_at,
            "token_source": token_source,
            "ignored_known_tokens": self.desired.ignored_token_report(),
            "diff": {"before": before, "after": after},
        }

    def _absent(self, owner, current):
        if current is None:
            return self._result(False, None, {}, {})
        runner_id = current["id"]
        before = public_runner(runner_id, runner_attributes(current), current.get("runner_type"), owner)
        if not self.check_mode:
            self._write("manage", owner, f"Deleting {self.desired.label} (id {runner_id}) from {owner.label}",
                        lambda action: self.client.delete(action, f"/runners/{runner_id}", missing_ok=True))
        return self._result(True, None, before, {})

    def _create(self, owner):
        desired = self.desired
        attributes = desired.predicted_attributes()
        if self.check_mode:
            runner = public_runner(None, attributes, desired.runner_type, owner)
            return self._result(True, runner, {}, runner, token_source="would_create")

        action = f"Creating {desired.label} in {owner.label}"
        self._require("create", action)
        try:
            # Never re-sent blindly: a retried create whose first attempt succeeded makes a duplicate.
            answer = self.client.post(action, "/user/runners", desired.create_payload(owner),
                                      retry_transient=False)
        except RunnerOpsError as error:
            if not outcome_unknown(error):
                raise self._explain(error, "create", owner) from error
            return self._recover_lost_create(owner, error)
        self.changed = True
        runner_id, token = answer.get("id"), answer.get("token")
        self._claim(runner_id, token)
        self._settle_duplicates(owner, runner_id)

        runner = public_runner(runner_id, attributes, desired.runner_type, owner)
        return self._result(True, runner, {}, runner, token=token,
                            token_expires_at=answer.get("token_expires_at"), token_source="created")

    def _claim(self, runner_id, token):
        """Show GitLab at once that a host of this run is taking the new token.

        GitLab lists a runner manager only once a host used the token, so until then another run (a job slice,
        a second controller) would see a runner nobody uses. Checking the token with the system id of a host of
        this run records that host as the runner's manager, which every other run's guard then sees.
        """
        system_ids = sorted(self.desired.protected_system_ids())
        if not system_ids or not token:
            return
        try:
            self.client.post(f"Recording host {system_ids[0]} as a manager of new {self.desired.label} "
                             f"(id {runner_id})", "/runners/verify", {"token": token, "system_id": system_ids[0]})
        except RunnerOpsError as error:
            self.warnings.append(f"Could not record a manager for new {self.desired.label} (id {runner_id}): "
                                 f"{error.reason} Until a host uses its token, another run could reset it.")

    def _settle_duplicates(self, owner, runner_id):
        """After a create, look again: of two runs that both created the runner, the older runner wins.

        GitLab has no uniqueness on a runner's description, and no lock reaches another controller or AWX
        job. Ids grow with creation, so the runner with the lowest id is the one every run keeps; a run whose
        own runner is younger deletes it before any host received its token, and fails.
        """
        desired = self.desired
        listed = self.lookup.list_owner_runners(owner, desired.runner_type, desired.label)
        others = sorted(item["id"] for item in listed if item.get("description") == desired.name
                        and item.get("runner_type", desired.runner_type) == desired.runner_type
                        and item.get("id") != runner_id)
        older = []
        for other_id in others:
            if other_id > runner_id or other_id in self.lookup.foreign_ids:
                continue  # a younger twin (its own run removes it), or another owner's runner
            details = self.lookup.details(other_id, desired.label, owner)
            if details is not None and belongs_to(details, owner):
                older.append(other_id)
        if not older:
            return
        self._write("manage", owner, f"Removing runner {runner_id}, the duplicate of {desired.label} this run created",
                    lambda action: self.client.delete(action, f"/runners/{runner_id}", missing_ok=True))
        raise RunnerOpsError(
            f"Creating {desired.label} in {owner.label}",
            f"another run created the same runner at the same time (runner {older[0]}), so this run deleted its own "
            f"duplicate (runner {runner_id}) before any host received its token.",
            fix=f"let the other run finish: its hosts then hold the token of runner {older[0]}, and running this play "
                "again (best with every host of the fleet in one run) hands that token to these hosts too.")

    def _recover_lost_create(self, owner, error):
        """The create call failed without a clear answer: look again instead of creating twice."""
        desired = self.desired
        if error.status is None:
            # The create call is never retried, so the generic wording about retries would mislead.
            error = error.amended(reason="the connection to GitLab failed before its answer arrived.")
        found = self.lookup.find(desired, owner)
        if found is None:
            raise error.amended(note=(
                f"Looked again: {owner.label} has no runner named {desired.name!r}, so none was created; "
                "running again is safe.")) from error
        runner_id = found["id"]
        self.changed = True
        self.warnings.append(
            f"The answer to creating {desired.label} in {owner.label} was lost ({error.reason.rstrip('.')}), but "
            f"GitLab had created it as runner {runner_id}. Its token was reset to recover one instead of creating "
            "a duplicate.")
        # Most likely this run's own runner: only hosts already using it are protected, not its young age.
        self._guard_reset(found, young_counts=False)
        token, expires = self._reset(owner, found)
        runner = public_runner(runner_id, runner_attributes(found), found.get("runner_type"), owner)
        return self._result(True, runner, {}, runner, token=token, token_expires_at=expires, token_source="reset")

    def _present(self, owner, current):
        desired = self.desired
        runner_id = current["id"]
        runner_type = current.get("runner_type")
        before_attributes = runner_attributes(current)
        before = public_runner(runner_id, before_attributes, runner_type, owner)
        change = differences(desired.wanted_attributes(), before_attributes)
        after_attributes = dict(before_attributes)
        after_attributes.update(change)
        after_attributes["tag_list"] = normalize_tags(after_attributes["tag_list"])
        changed = bool(change)

        if change and not self.check_mode:
            names = ", ".join(OPTION_OF_ATTRIBUTE.get(key, key) for key in sorted(change))
            updated = self._write(
                "manage", owner, f"Updating {desired.label} (id {runner_id}) in {owner.label}: {names}",
                lambda action: self.client.put(action, f"/runners/{runner_id}", change))
            if isinstance(updated, dict) and updated.get("id") == runner_id:
                after_attributes = runner_attributes(updated)
        after = public_runner(runner_id, after_attributes, runner_type, owner)

        token, expires, source, token_changed, obtained_at = self._settle_token(owner, current)
        return self._result(changed or token_changed, after, before, after, token=token,
                            token_expires_at=expires, token_source=source, obtained_at=obtained_at)

    # ------------------------------------------------------------------ tokens

    def _settle_token(self, owner, current):
        """``(token, token_expires_at, token_source, changed, token_obtained_at)`` for a runner that existed."""
        desired = self.desired
        if desired.token_reset == "always":
            self._guard_reset(current)
            if self.check_mode:
                return None, None, "would_reset", True, None
            token, expires = self._reset(owner, current)
            return token, expires, "reset", True, None
        if desired.known_tokens is None:
            # No token asked for: leave the runner's token alone.
            return None, None, None, False, None

        candidates = desired.distinct_known_tokens()
        if self.check_mode:
            if candidates:
                # Checking a token contacts GitLab as the runner would and records a runner manager.
                return None, None, "would_verify", False, None
            self._refuse_reset_if_forbidden(current, checked=0)
            self._guard_reset(current)
            return None, None, "would_reset", True, None

        for index, (token, system_id, obtained_at) in enumerate(candidates):
            answer = self._verify(current, token, system_id, index)
            if answer is not None:
                # The token keeps the age its holder knew; a run never re-stamps it.
                return token, answer.get("token_expires_at"), "existing", False, obtained_at
        self._refuse_reset_if_forbidden(current, checked=len(candidates))
        self._guard_reset(current)
        token, expires = self._reset(owner, current)
        return token, expires, "reset", True, None

    def _guard_reset(self, current, young_counts=True):
        """Refuse a reset that would cut off a live host this run cannot reach, as GitLab sees its hosts.

        Live: a manager that made contact within the window and whose system id belongs to no host of this run.
        A runner created within the window that no host has used yet counts too: another run may be handing
        its token out right now. Costs one read, made only when a reset is about to happen.
        """
        desired = self.desired
        if not desired.protect_live_managers:
            return
        runner_id = current["id"]
        window = desired.live_manager_window
        now = datetime.datetime.now(datetime.timezone.utc)
        action = f"Resetting the token of {desired.label} (id {runner_id})"
        fix = ("run the play with those hosts too (one of them holds the valid token, which is then handed to every "
               "host), or let the other run finish first. If they are gone for good, remove them (decommission) or "
               f"wait until they have been silent for {window} seconds; set protect_live_managers to false only to "
               "cut them off deliberately.")
        try:
            managers = self.client.get(f"Reading the managers of {desired.label} (id {runner_id}) before a reset",
                                       f"/runners/{runner_id}/managers", missing_ok=True)
        except RunnerOpsError as error:
            raise explain_read_error(error, None) from error
        if managers is None:
            # GitLab before 17.1 lists no managers: the runner's own last contact is all there is to see.
            if is_recent(current.get("contacted_at"), now, window):
                raise RunnerOpsError(action, (
                    f"no host of this run holds a valid token, and a host contacted GitLab with this runner at "
                    f"{current.get('contacted_at')} (within {window} seconds); this GitLab lists no runner managers "
                    "(GET /runners/:id/managers arrived in 17.1), so it cannot tell whether that host is part of this "
                    "run. A reset would cut it off."), fix=fix)
            return
        live = live_managers(managers, desired.protected_system_ids(), now, window)
        if live:
            raise RunnerOpsError(action, (
                "no host of this run holds a valid token, and GitLab lists managers that contacted it within "
                f"{window} seconds and belong to no host of this run: "
                f"{'; '.join(describe_manager(manager) for manager in live)}. A reset would cut them off."), fix=fix)
        if young_counts and not managers and is_recent(current.get("created_at"), now, window):
            raise RunnerOpsError(action, (
                f"the runner was created at {current.get('created_at')} and no host has used its token yet: another "
                "run (a job slice, a second controller) may be handing it to its hosts right now, and a reset would "
                "cut them off."),
                fix="let the other run finish, then run again with every host of the fleet; if no other run exists, "
                    f"delete runner {runner_id} in GitLab (this play creates it again) or wait {window} seconds.")

    def _verify(self, current, token, system_id, index):
        """The verify answer when ``token`` authenticates this very runner, else None."""
        action = (f"Checking known token {index + 1} (held by system id {system_id}) of {self.desired.label} "
                  f"(id {current['id']})")
        try:
            answer = self.client.post(action, "/runners/verify", {"token": token, "system_id": system_id})
        except RunnerOpsError as error:
            # 403: unknown, expired or reset token. 422: the token's runner is orphaned.
            if error.status in (403, 422):
                return None
            raise
        if isinstance(answer, dict) and answer.get("id") == current["id"]:
            return answer
        return None

    def _refuse_reset_if_forbidden(self, current, checked):
        desired = self.desired
        if desired.token_reset != "never":
            return
        if checked:
            reason = (f"none of the {checked} distinct known token(s) is valid for runner {current['id']}, so no "
                      "host holds a working token, and token_reset is never, which forbids a reset.")
        else:
            reason = (f"known_tokens is empty, so no host holds a token for runner {current['id']}, and "
                      "token_reset is never, which forbids a reset.")
        raise RunnerOpsError(
            f"Settling the token of {desired.label}",
            reason,
            fix="give the token a host holds in known_tokens (with that host's system_id), or allow a reset with "
                "token_reset: if_no_valid_token and hand the new token to every host.",
        )

    def _reset(self, owner, current):
        runner_id = current["id"]
        answer = self._write(
            "manage", owner, f"Resetting the token of {self.desired.label} (id {runner_id}) in {owner.label}",
            lambda action: self.client.post(action, f"/runners/{runner_id}/reset_authentication_token"))
        return answer.get("token"), answer.get("token_expires_at")


# ---------------------------------------------------------------------- reading (gitlab_runner_info)

RUNNER_STATUSES = ("online", "offline", "stale", "never_contacted")
MANAGER_FIELDS = ("id", "system_id", "version", "revision", "platform", "architecture", "executor",
                  "ip_address", "status", "job_execution_status", "created_at", "contacted_at")


def info_runner(details, managers):
    """A runner as ``gitlab_runner_info`` returns it: attributes, owner, status and managers."""
    runner = public_runner(details["id"], runner_attributes(details), details.get("runner_type"),
                           owner_from_details(details))
    runner.update({
        "status": details.get("status"),
        "online": details.get("online"),
        "contacted_at": details.get("contacted_at"),
        "created_at": details.get("created_at"),
        "managers": None if managers is None else [
            dict((key, manager.get(key)) for key in MANAGER_FIELDS) for manager in managers
        ],
    })
    return runner


class RunnerReader:
    """Reads runners and their managers; changes nothing."""

    def __init__(self, client):
        self.client = client
        self.lookup = RunnerLookup(client)
        self.warnings = []
        self.version = None
        self._managers_missing = False

    def check_scopes(self, needs):
        try:
            result = preflight(self.client, needs)
        except RunnerOpsError as error:
            raise error.amended(action=f"{error.action} for reading runners") from error
        self.version = result.version
        return {"version": result.version, "scopes": list(result.scopes or ())}

    def gather(self, group=None, project=None, all_runners=False, runner_id=None, runner_type=None,
               status=None, tags=None, paused=None, name=None, with_managers=True):
        """Runners matching the filters, each with its details and (optionally) its managers."""
        purpose = "gitlab_runner_info"
        if runner_id is not None:
            details = self.lookup.details(runner_id, purpose)
            found = [] if details is None else [details]
            return [info_runner(d, self._managers(d) if with_managers else None) for d in found]

        query = {}
        if runner_type:
            query["type"] = runner_type
        if status:
            query["status"] = status
        if tags:
            query["tag_list"] = ",".join(normalize_tags(tags))
        if paused is not None:
            query["paused"] = "true" if paused else "false"

        if group or project:
            kind, ref = ("group", group) if group else ("project", project)
            owner = self.lookup.resolve_owner(kind, ref, purpose)
            path, label = self.lookup.list_path(owner), owner.label
        else:
            owner = Owner("instance") if all_runners else None
            path = "/runners/all" if all_runners else "/runners"
            label = "the instance" if all_runners else "the token's user"
        try:
            listed = self.client.list(f"Listing the runners of {label}", path, query=query)
        except RunnerOpsError as error:
            raise explain_read_error(error, owner) from error

        runners = []
        for item in listed:
            # The API cannot filter by description; match exactly here, before any further call.
            if name is not None and item.get("description") != name:
                continue
            details = self.lookup.details(item["id"], purpose)
            if details is None:
                continue  # deleted while we were reading
            runners.append(info_runner(details, self._managers(details) if with_managers else None))
        return runners

    def _managers(self, details):
        if self._managers_missing:
            return None
        runner_id = details["id"]
        try:
            managers = self.client.get(f"Reading the managers of runner {runner_id}", f"/runners/{runner_id}/managers",
                                       missing_ok=True)
        except RunnerOpsError as error:
            raise explain_read_error(error, None) from error
        if managers is None:
            # The runner was just read, so a 404 here means the route itself is missing.
            self._managers_missing = True
            version = self._gitlab_version()
            self.warnings.append(
                f"GitLab {version} has no REST endpoint for runner managers (GET /runners/:id/managers arrived "
                "in GitLab 17.1), so managers is null for every runner. Use GitLab 17.1 or later, or the GraphQL "
                "API, to see them.")
            return None
        return managers if isinstance(managers, list) else []

    def _gitlab_version(self):
        if self.version is None:
            try:
                self.version = (self.client.get("Reading the GitLab version", "/version") or {}).get("version")
            except RunnerOpsError:
                self.version = None
        return self.version or "(version unknown)"
