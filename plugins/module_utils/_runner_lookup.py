# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Finding runners and their owners in GitLab with as few calls as the API allows, and explaining a refusal."""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import ACCEPTED_SCOPES, NEED_DESCRIPTIONS
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import (
    OWNER_KINDS,
    UNKNOWN_OUTCOME_MIN_STATUS,
    normalize_tags,
    owner_named_by,
    quote_ref,
)


def outcome_unknown(error):
    return error.status is None or error.status >= UNKNOWN_OUTCOME_MIN_STATUS


def is_insufficient_scope(error):
    return error.status == 403 and "insufficient_scope" in (error.gitlab_message or "")


def scope_fix(need):
    accepted = " or ".join(ACCEPTED_SCOPES[need])
    return (f"the token needs scope {accepted} to {NEED_DESCRIPTIONS[need]}. A token with only "
            "create_runner may create runners and nothing else: add read_api to find them and "
            "manage_runner (GitLab 17.1 or later) to update, reset and delete them, or use scope api.")


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

    def named_by(self, ref):
        return owner_named_by(self.id, self.path, ref)

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
    """The owner ``ref`` (numeric id or full path) names, as the runner's details show it, or None."""
    if kind == "instance":
        return Owner("instance") if details.get("runner_type") == "instance_type" else None
    return next((owner for owner in details_owners(details, kind) if owner.named_by(ref)), None)


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
