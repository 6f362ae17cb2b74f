#!/usr/bin/python
# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_create
short_description: Make a GitLab runner exist exactly as declared and settle the token its hosts carry
version_added: 0.1.0
description:
  - Finds the runner named O(name) in its owner (the instance, a group or a project), creates it with
    C(POST /api/v4/user/runners) when it is missing, corrects drifted attributes with one C(PUT), or deletes it
    with O(state=absent).
  - Settles which C(glrt-) runner authentication token the hosts must carry. A token some host already
    holds (O(known_tokens)) is checked the way gitlab-runner checks it, with C(POST /runners/verify) and that
    host's system id, and kept when GitLab accepts it for this runner. Otherwise the token of a runner created
    in this run is returned, or the token of an existing runner is reset.
  - The runner is found by listing only its owner's runners of O(runner_type) and matching the description
    exactly, then reading each match once to confirm it belongs to this owner (GitLab's group and project lists
    also show runners of ancestor groups). Two runners with the description in one owner make the module fail
    and name both ids; it never guesses.
  - With O(known_id), the id hosts carry in C(config.toml), one C(GET /runners/:id) replaces the owner lookup and
    the listing when GitLab has that runner with this description, type and owner; otherwise the module finds the
    runner by listing as above.
  - The create call is never re-sent blindly. When its answer is lost (timeout, dropped connection, 5xx), the
    module looks the runner up again; if GitLab did create it, its token is reset to recover one instead of
    creating a duplicate.
  - GitLab does not keep runner descriptions unique, and no lock reaches another controller or AWX job. After
    creating a runner the module lists its owner's runners once more; when another run created the same runner at
    the same time, the runner with the lower id wins, and the run whose runner is younger deletes it before any
    host received its token and fails, saying to run again once the other run finished.
author:
  - runnerops maintainers (@runnerops)
extends_documentation_fragment:
  - runnerops.gitlab._gitlab
  - runnerops.gitlab._attributes
  - runnerops.gitlab._attributes.ACTIONGROUP_GITLAB
attributes:
  check_mode:
    support: full
    details:
      - Reads the current state once and reports what would change, making no call that changes anything.
      - A new token cannot be returned in check mode, because only creating or resetting makes one. RV(token) is
        V(null) and RV(token_source) says what a real run would do (V(would_create), V(would_reset)).
      - Known tokens are not checked in check mode, because checking one contacts GitLab as the runner would and
        records a runner manager; RV(token_source) is then V(would_verify), and a reset that the check would lead
        to is not predicted.
  diff_mode:
    support: full
    details:
      - RV(diff.before) and RV(diff.after) hold the runner's attributes, never a token.
  idempotent:
    support: full
    details:
      - A second run with the same arguments changes nothing, provided O(known_tokens) holds the token the first
        run returned (or O(known_tokens) is not given). With O(token_reset=always) every run resets the token.
options:
  name:
    description:
      - The runner's name, written as its description. It identifies the runner within its owner.
    type: str
    required: true
  runner_type:
    description:
      - The kind of runner, which decides its owner.
      - V(instance_type) runners belong to the instance and need an administrator's token.
      - V(group_type) runners belong to O(group) and need the Owner role on it.
      - V(project_type) runners belong to O(project) and need the Maintainer or Owner role on it.
    type: str
    required: true
    choices: [instance_type, group_type, project_type]
  group:
    description:
      - The group that owns a V(group_type) runner, as its full path (for example V(platform/ci)) or numeric id.
      - A path is resolved to the numeric id GitLab's runner API needs, which costs one call; a numeric id is used
        as it is.
    type: str
  project:
    description:
      - The project that owns a V(project_type) runner, as its full path (for example V(platform/ci/app)) or
        numeric id.
      - A path is resolved to the numeric id GitLab's runner API needs, which costs one call; a numeric id is used
        as it is.
    type: str
  id:
    description:
      - Pin an existing runner by its id instead of finding it by O(name). One C(GET) reads it.
      - The pinned runner must have O(runner_type) and belong to O(group) or O(project); GitLab cannot change a
        runner's type or owner in place, so the module fails when they differ.
      - A description that differs from O(name) is updated, which renames the runner.
      - With O(state=present) the runner must exist; the module does not create a runner with a chosen id.
      - Mutually exclusive with O(known_id).
    type: int
  known_id:
    description:
      - The runner id the hosts carry for this runner in C(config.toml) (the C(id) of its C([[runners]]) entry, as
        M(runnerops.gitlab.runner_config_info) returns it), when they all carry the same one.
      - Unlike O(id), it is a hint, never trusted alone. One C(GET /runners/:id) reads the runner, and it is taken
        only when its description is O(name), its type is O(runner_type) and it belongs to O(group) or O(project)
        (as their id or full path). Then neither the owner lookup nor the listing is needed, so a runner that is
        already as declared costs one call (plus one C(POST /runners/verify) per distinct known token).
      - When the runner is gone, cannot be read, or has another description, type or owner, the module finds the
        runner by name as if O(known_id) were not given (and creates it when it is missing).
      - Two runners with the description in one owner are only detected when the module lists; a valid
        O(known_id) names the runner the hosts use, so the module keeps to that one.
      - Mutually exclusive with O(id).
    type: int
  tags:
    description:
      - The runner's tags. Order and repeats do not matter. At most 50.
      - Not set means the tags are not managed.
    type: list
    elements: str
  run_untagged:
    description:
      - Whether the runner picks jobs that have no tags. GitLab refuses V(false) for a runner without tags.
      - Not set means not managed (GitLab creates runners with V(true)).
    type: bool
  locked:
    description:
      - Whether a project runner is locked to its current projects.
      - Not set means not managed (GitLab creates runners with V(false)).
    type: bool
  access_level:
    description:
      - V(ref_protected) runs only jobs of protected branches and tags; V(not_protected) runs all.
      - Not set means not managed (GitLab creates runners with V(not_protected)).
    type: str
    choices: [not_protected, ref_protected]
  maximum_timeout:
    description:
      - Longest time in seconds a job may run on this runner. At least V(600) (GitLab's minimum).
      - Not set means not managed.
    type: int
  paused:
    description:
      - Whether the runner is paused (takes no new jobs).
      - Not set means not managed (GitLab creates runners unpaused).
    type: bool
  maintenance_note:
    description:
      - Free-form note for whoever maintains the runner, at most 1024 characters.
      - Not set means not managed.
    type: str
  state:
    description:
      - V(present) makes the runner exist as declared.
      - V(absent) deletes it with C(DELETE /runners/:id), together with all its runner managers. Deleting a
        runner that is already gone is not a change.
    type: str
    choices: [present, absent]
    default: present
  known_tokens:
    description:
      - The runner tokens hosts hold for this runner, each with the system id of the host that holds it (as
        found in its C(config.toml) and C(.runner_system_id), for example by M(runnerops.gitlab.runner_config_info)).
      - Each distinct token is checked once with C(POST /runners/verify) and its holder's O(known_tokens[].system_id);
        a token is valid only when GitLab answers with this runner's id. The first valid one is returned with
        RV(token_source=existing).
      - When none is valid (or the list is empty) and the runner already existed, its token is reset, unless
        O(token_reset=never) or a live host outside this run would be cut off (see O(protect_live_managers)).
      - An item whose token is not a runner token (an API token pasted into C(config.toml), say) is set aside with a
        warning naming its holder, never its value, and the runner is settled from the other items; see
        RV(ignored_known_tokens).
      - Not set means the module does not settle a token for a runner that already exists; RV(token) is then
        V(null) unless the runner was created in this run or O(token_reset=always).
    type: list
    elements: dict
    suboptions:
      token:
        description:
          - A runner authentication token a host holds.
        type: str
        required: true
      system_id:
        description:
          - The system id of the host holding O(known_tokens[].token). A token is never checked without one,
            because checking records a runner manager under the system id sent.
        type: str
        required: true
      obtained_at:
        description:
          - When the holder obtained the token (its C(token_obtained_at) in C(config.toml)), RFC 3339.
          - Returned as RV(token_obtained_at) when this token is the valid one, so the token keeps its age on every
            host it is handed to. Omit it (or give gitlab-runner's zero time) when the holder does not know it.
        type: str
      host:
        description:
          - The holder's name (for example its inventory name), used in messages only.
        type: str
  run_system_ids:
    description:
      - The system ids of every host this run hands the runner's token to, including hosts that hold no token yet.
      - A manager whose system id is in this list is never counted as a live host outside the run by
        O(protect_live_managers).
      - Not set means the system ids of O(known_tokens).
      - After creating a runner, the token is checked once with the first of these system ids, so GitLab lists a
        manager for the runner at once and other runs see that a host is taking it.
    type: list
    elements: str
  protect_live_managers:
    description:
      - Before resetting the token of a runner that already exists, read its managers (one C(GET
        /runners/:id/managers), only when a reset is about to happen) and refuse the reset when one of them
        contacted GitLab within O(live_manager_window) seconds and its system id is not in O(run_system_ids), because
        that host holds the valid token and would be cut off. The failure names each such manager (system id, IP
        address, version, last contact).
      - A runner created within the last 300 seconds (or O(live_manager_window), when shorter) that no host has used
        yet is protected too, because another run (a job slice, a second controller) may be handing its token out; a
        run that creates a runner claims it within seconds (it checks the new token with a host's system id, so
        GitLab lists a manager). An unclaimed runner older than that is an orphan (a create whose answer was lost and
        that GitLab committed late), and the next run adopts it with a reset.
      - On GitLab before 17.1, which lists no managers, the runner's own last contact decides.
      - Not set means V(true), except with O(token_reset=always), an explicit request to rotate.
    type: bool
  live_manager_window:
    description:
      - Seconds since its last contact within which a runner manager counts as a live host. The default is the
        window in which GitLab itself shows a runner as online.
    type: int
    default: 7200
  token_expires_at:
    description:
      - When the token of a runner this module creates expires, for example V(2026-12-02T09:00:00Z) (without a time
        zone, UTC). GitLab EE takes it from 5 minutes to 15 days ahead (21 days on newer versions), within the
        instance, group and project token expiration limits, and applies it to the first token only; a reset token
        gets the expiry those limits give.
      - Checked before any call (at least 5 minutes ahead; GitLab checks the upper bound and the limits). Ignored for
        a runner that already exists.
      - GitLab CE does not take it. When GitLab answers without applying it, the module fails saying so, after the
        runner was created, so the next run finds that runner instead of creating another.
    type: str
  token_rotation_deadline:
    description:
      - After this time GitLab (EE) refuses to reset the first token, also gitlab-runner's own rotation. Needs
        O(token_expires_at) and is no later than it; equal to it, the token is never rotated.
      - Central rotation (the role's C(gitlab_runner_token_rotation=central)) resets such a token before the deadline.
    type: str
  token_reset:
    description:
      - When to reset the token of a runner that already exists.
      - V(if_no_valid_token) resets it when O(known_tokens) is given and none of them is valid, unless that would cut
        off a live host outside the run (O(protect_live_managers)).
      - V(always) resets it on every run (rotation); the old token stops working at once, so every host must get
        the new one.
      - V(never) never resets; the module fails when O(known_tokens) is given and none of them is valid.
    type: str
    choices: [if_no_valid_token, always, never]
    default: if_no_valid_token
  preflight:
    description:
      - Before any other call, read the token's scopes and GitLab's version and fail when a scope this run needs
        is missing, so nothing is half done. It costs two API calls.
      - A play that already checked (for example with O(runnerops.gitlab.gitlab_runner_info#module:check_scopes))
        can switch it off.
    type: bool
    default: true
  lock_dir:
    description:
      - Where the lock is kept that runs of this module on the same machine take turns on, one lock file per
        GitLab instance (O(api_url)). It is held from finding the runner to settling its token, so two plays
        ensuring the same runner at once (two job launches, a play started twice) find one runner instead of
        both creating it, and the later of two token resets is the one every host keeps.
      - The lock is an advisory C(flock) that ends with the process holding it; there is nothing to clean up.
      - Runs on different machines do not share it. Let one controller manage a fleet, or keep the job templates
        that manage it from running simultaneously (AWX runs one job of a template at a time unless concurrent
        jobs are enabled).
      - Check mode takes no lock.
    type: path
    default: ~/.ansible/runnerops_gitlab_locks
  lock_timeout:
    description:
      - Seconds to wait for another run holding the lock before failing.
    type: int
    default: 300
notes:
  - "Scopes: finding runners needs C(read_api) or C(api); creating needs C(create_runner) or C(api); updating,
    resetting the token and deleting need C(manage_runner) (GitLab 17.1 or later) or C(api). The least-privilege
    set C(read_api) + C(create_runner) creates and finds runners."
  - "The returned RV(token) is a secret. Register the result of this module in a task with C(no_log: true)."
  - API calls for a runner that is already as declared, with O(preflight=false) and no O(known_tokens) - one to
    resolve the group or project (none when it is given as a numeric id), one to list its runners of the type (one
    per 100 runners of that type the owner lists), one to read the match. With a valid O(known_id) - one. Each distinct known token adds one check.
seealso:
  - module: runnerops.gitlab.gitlab_runner_info
  - name: GitLab runners API
    description: The REST endpoints this module uses.
    link: https://docs.gitlab.com/api/runners/
"""

EXAMPLES = r"""
- name: Ensure the group runner exists and get a token the hosts can use
  runnerops.gitlab.gitlab_runner_create:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    name: docker-linux
    runner_type: group_type
    group: platform/ci
    tags: [docker, linux]
    run_untagged: false
    maximum_timeout: 3600
    known_tokens:
      - token: "{{ hostvars['ci-1'].runner_token }}"
        system_id: "{{ hostvars['ci-1'].runner_system_id }}"
  register: docker_linux
  no_log: true

- name: Rotate the token of an instance runner
  runnerops.gitlab.gitlab_runner_create:
    name: shared-small
    runner_type: instance_type
    token_reset: always
  register: shared_small
  no_log: true

- name: Create a runner whose first token expires in two days (GitLab EE)
  runnerops.gitlab.gitlab_runner_create:
    name: build-short-lived
    runner_type: project_type
    project: platform/ci/app
    token_expires_at: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now(utc=true).timestamp() + 2 * 86400, utc=true) }}"
  register: short_lived
  no_log: true

- name: Delete a project runner
  runnerops.gitlab.gitlab_runner_create:
    name: legacy-shell
    runner_type: project_type
    project: platform/ci/app
    state: absent
"""

RETURN = r"""
runner:
  description:
    - The runner as it is after the run (in check mode, as it would be). V(null) with O(state=absent).
    - In check mode, a runner that would be created has RV(runner.id=null).
  returned: always
  type: dict
  contains:
    id:
      description: The runner's id.
      type: int
      sample: 42
    description:
      description: The runner's description, its O(name).
      type: str
      sample: docker-linux
    runner_type:
      description: V(instance_type), V(group_type) or V(project_type).
      type: str
      sample: group_type
    tags:
      description: The runner's tags, sorted.
      type: list
      elements: str
      sample: [docker, linux]
    run_untagged:
      description: Whether it picks untagged jobs.
      type: bool
      sample: false
    locked:
      description: Whether it is locked to its projects.
      type: bool
      sample: false
    access_level:
      description: V(not_protected) or V(ref_protected).
      type: str
      sample: not_protected
    maximum_timeout:
      description: Longest job time in seconds, or V(null) for no limit.
      type: int
      sample: 3600
    paused:
      description: Whether it is paused.
      type: bool
      sample: false
    maintenance_note:
      description: The maintenance note, or V(null). GitLab shows it only to users who may change the runner.
      type: str
      sample: null
    owner:
      description: Who owns the runner.
      type: dict
      contains:
        type:
          description: V(instance), V(group) or V(project).
          type: str
          sample: group
        id:
          description: Numeric id of the group or project; V(null) for the instance.
          type: int
          sample: 7
        path:
          description:
            - Full path of the group or project; V(null) for the instance.
            - Also V(null) when O(group) or O(project) was given as a numeric id and the runner was just created
              (GitLab's answer to the create call does not name it).
          type: str
          sample: platform/ci
token:
  description:
    - "The runner authentication token (C(glrt-...)) the hosts must carry. B(Sensitive) - register the result
      with C(no_log: true)."
    - V(null) in check mode, with O(state=absent), and when O(known_tokens) is not given for a runner that already
      existed.
  returned: always
  type: str
  sample: glrt-t2_xxxxxxxxxxxxxxxxxxxx
token_expires_at:
  description: When RV(token) expires (ISO 8601), or V(null) when it does not expire or no token is returned.
  returned: always
  type: str
  sample: "2026-09-27T21:05:03.203Z"
token_obtained_at:
  description:
    - When RV(token) was obtained (RFC 3339 in UTC), for C(token_obtained_at) in C(config.toml). For V(created)
      and V(reset), the time of this run, to the microsecond. For V(existing), the earliest
      O(known_tokens[].obtained_at) given for that token, so a token keeps its age; V(null) when no holder knew it.
    - M(runnerops.gitlab.runner_config_sync) keeps the token on disk when it was obtained later, so of two runs
      that reset a token one after the other the later token is kept.
  returned: always
  type: str
  sample: "2026-11-23T13:35:02.118276Z"
token_source:
  description:
    - Where RV(token) comes from. V(created) - the runner was created in this run. V(existing) - a token from
      O(known_tokens) that GitLab accepts for this runner. V(reset) - the token was reset in this run.
    - In check mode V(would_create), V(would_reset) or V(would_verify) (known tokens would be checked).
    - V(null) when no token is returned.
  returned: always
  type: str
  sample: existing
ignored_known_tokens:
  description:
    - The items of O(known_tokens) set aside because their token is not a runner token (never the token itself).
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: The item's position in O(known_tokens).
      type: int
    host:
      description: O(known_tokens[].host), or V(null).
      type: str
    system_id:
      description: O(known_tokens[].system_id).
      type: str
    reason:
      description: What the token is instead.
      type: str
  sample: [{"index": 1, "host": "ci-2", "system_id": "s_0123456789ab",
            "reason": "a personal, group or project access token (glpat-)"}]
diff:
  description: The runner's attributes before and after (empty when it does not exist). Never holds a token.
  returned: in diff mode
  type: dict
  contains:
    before:
      description: Attributes before the run.
      type: dict
    after:
      description: Attributes after the run.
      type: dict
"""

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._lock import ExclusiveLock, api_lock_path
from ansible_collections.runnerops.gitlab.plugins.module_utils._module import GitLabModule
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import (
    ACCESS_LEVELS,
    RUNNER_TYPES,
    TOKEN_RESET_CHOICES,
    DesiredRunner,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_ensure import RunnerEnsurer


def argument_spec():
    return {
        "name": {"type": "str", "required": True},
        "runner_type": {"type": "str", "required": True, "choices": list(RUNNER_TYPES)},
        "group": {"type": "str"},
        "project": {"type": "str"},
        "id": {"type": "int"},
        "known_id": {"type": "int"},
        "tags": {"type": "list", "elements": "str"},
        "run_untagged": {"type": "bool"},
        "locked": {"type": "bool"},
        "access_level": {"type": "str", "choices": list(ACCESS_LEVELS)},
        "maximum_timeout": {"type": "int"},
        "paused": {"type": "bool"},
        "maintenance_note": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "known_tokens": {
            "type": "list",
            "elements": "dict",
            # The secret inside is each entry's token, marked no_log below.
            "no_log": False,
            "options": {
                "token": {"type": "str", "required": True, "no_log": True},
                "system_id": {"type": "str", "required": True},
                "obtained_at": {"type": "str"},
                "host": {"type": "str"},
            },
        },
        "run_system_ids": {"type": "list", "elements": "str"},
        "protect_live_managers": {"type": "bool"},
        "live_manager_window": {"type": "int", "default": 7200},
        "token_expires_at": {"type": "str", "no_log": False},
        "token_rotation_deadline": {"type": "str", "no_log": False},
        "token_reset": {"type": "str", "default": "if_no_valid_token", "choices": list(TOKEN_RESET_CHOICES),
                        "no_log": False},
        "preflight": {"type": "bool", "default": True},
        "lock_dir": {"type": "path", "default": "~/.ansible/runnerops_gitlab_locks"},
        "lock_timeout": {"type": "int", "default": 300},
    }


def main():
    module = GitLabModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("group", "project"), ("id", "known_id")],
        required_if=[("runner_type", "group_type", ("group",)), ("runner_type", "project_type", ("project",))],
    )
    try:
        desired = DesiredRunner.from_params(module.params)
    except RunnerOpsError as error:
        module.fail_from(error, changed=False)
    client = module.gitlab_client()
    lock = ExclusiveLock(api_lock_path(module.params["lock_dir"], client.settings.api_url),
                         module.params["lock_timeout"], desired.label)
    ensurer = RunnerEnsurer(client, desired, check_mode=module.check_mode, run_preflight=module.params["preflight"],
                            lock=lock)
    try:
        result = ensurer.run()
    except RunnerOpsError as error:
        for warning in ensurer.warnings:
            module.warn(warning)
        module.fail_from(error, changed=ensurer.changed)
    for warning in ensurer.warnings:
        module.warn(warning)
    if result["token"] is not None:
        # A valid known token is this module's documented output; without this, Ansible would mask it
        # because it also came in as a no_log option. The task registering it is no_log instead.
        module.no_log_values.discard(result["token"])
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
