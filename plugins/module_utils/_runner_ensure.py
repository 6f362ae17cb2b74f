# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bringing one declared runner to its state in GitLab: create, update, delete, and settle the token hosts
must carry.

Plain Python over ``GitLabClient``: nothing here needs AnsibleModule, so unit tests call it directly.
Every failure is a ``RunnerOpsError`` that names the runner, what was attempted, GitLab's answer
and the fix.
"""

from __future__ import annotations

import datetime
from contextlib import nullcontext

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._gitlab import preflight
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import (
    CLAIM_WINDOW,
    describe_manager,
    is_recent,
    live_managers,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import OPTION_OF_ATTRIBUTE, normalize_tags, validation_fix
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_lookup import (
    RunnerLookup,
    belongs_to,
    differences,
    explain_read_error,
    is_insufficient_scope,
    outcome_unknown,
    owner_in_details,
    public_runner,
    runner_attributes,
    scope_fix,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import format_time, read_time


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
        self._check_applied_expiry(runner_id, answer.get("token_expires_at"))

        runner = public_runner(runner_id, attributes, desired.runner_type, owner)
        return self._result(True, runner, {}, runner, token=token,
                            token_expires_at=answer.get("token_expires_at"), token_source="created")

    def _check_applied_expiry(self, runner_id, answered):
        """Fail, the runner created, when GitLab did not apply the expiry asked for: CE does not declare the parameter
        and silently drops it, so a token the user meant to be short-lived would live as long as the settings allow."""
        asked = self.desired.token_expires_at
        applied = read_time(answered)
        if asked is None or (applied is not None and abs((applied - asked).total_seconds()) < 1):
            return
        raise RunnerOpsError(
            f"Creating {self.desired.label}",
            f"GitLab created it as runner {runner_id} but did not apply token_expires_at {format_time(asked)}: its "
            f"token expires {format_time(applied) if applied else 'never'}. This GitLab does not take an expiry when "
            "a runner is created (GitLab CE, or EE before the token expiry parameters of POST /user/runners).",
            fix="remove token_expires_at and token_rotation_deadline from the definition (an expiration policy of the "
                "instance, group or project gives tokens an expiry on every edition). The runner exists, so the next "
                "run finds it and hands its hosts a token instead of creating another.")

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
        A runner created within ``CLAIM_WINDOW`` that no host has used yet counts too: another run may be handing
        its token out right now; an older one is an orphan. Costs one read, made only when a reset is about to
        happen.
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
        claim_window = min(CLAIM_WINDOW, window)
        if young_counts and not managers and is_recent(current.get("created_at"), now, claim_window):
            raise RunnerOpsError(action, (
                f"the runner was created at {current.get('created_at')} and no host has used its token yet: another "
                "run (a job slice, a second controller) may be handing it to its hosts right now, and a reset would "
                "cut them off."),
                fix="let the other run finish, then run again with every host of the fleet; if no other run exists, "
                    f"run again after {claim_window} seconds, when a runner no host used is taken for an orphan and "
                    "its token is reset.")

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
