# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runners as GitLab holds them, for gitlab_runner_info: details, managers and status, read only."""

from __future__ import annotations

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import preflight
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import normalize_tags
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_lookup import (
    Owner,
    RunnerLookup,
    explain_read_error,
    owner_from_details,
    public_runner,
    runner_attributes,
)


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

    def resolve_owners(self, owners):
        """``[{type, ref, id, path}]`` of each group or project (``{group: ref}`` or ``{project: ref}``), each looked
        up once; fails naming every one GitLab does not show, at once, before anything is created in any."""
        resolved, missing, seen = [], [], {}
        for owner in owners:
            kind = "group" if owner.get("group") is not None else "project"
            ref = str(owner[kind]).strip().strip("/")
            if (kind, ref) not in seen:
                try:
                    seen[(kind, ref)] = self.lookup.resolve_owner(kind, ref, "the runners to create there")
                except RunnerOpsError as error:
                    if error.status != 404:
                        raise
                    seen[(kind, ref)] = None
                    missing.append(f"{kind} {ref!r}")
            found = seen[(kind, ref)]
            if found is not None:
                resolved.append({"type": kind, "ref": ref, "id": found.id, "path": found.path})
        if missing:
            raise RunnerOpsError(
                "Finding the groups and projects runners are created in",
                f"GitLab shows the token's user no {' and no '.join(missing)} (404).",
                status=404,
                fix="correct each path (the full path, for example platform/ci, or the numeric id) and make sure the "
                    "token's user is a member there; GitLab answers 404 for a group or project the user cannot see.")
        return resolved

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
