#!/usr/bin/python
# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_runner_info
short_description: Read GitLab runners and their runner managers
version_added: 0.1.0
description:
  - Lists the runners of a group or project (O(group), O(project)), of the whole instance (O(all_runners),
    administrators only) or, by default, the runners the token's user owns, filtered by type, status, tags,
    paused state and exact name, each with its attributes, owner and runner managers.
  - Reads one runner by id with O(id).
  - With O(check_scopes), first checks that the token has the scopes a play needs and returns GitLab's version
    and the token's scopes, so a play checks once and then runs M(runnerops.gitlab.gitlab_runner_create) with
    O(runnerops.gitlab.gitlab_runner_create#module:preflight=false).
  - Never returns a runner token.
author:
  - runnerops maintainers (@runnerops)
extends_documentation_fragment:
  - runnerops.gitlab._gitlab
  - runnerops.gitlab._attributes
  - runnerops.gitlab._attributes.INFO_MODULE
  - runnerops.gitlab._attributes.ACTIONGROUP_GITLAB
options:
  group:
    description:
      - List the runners available to this group, as its full path or numeric id.
      - GitLab includes the runners of ancestor groups; RV(runners[].owner) tells them apart.
    type: str
  project:
    description:
      - List the runners available to this project, as its full path or numeric id.
      - GitLab includes runners of the project's groups and, when enabled for it, instance runners.
    type: str
  all_runners:
    description:
      - List every runner of the instance (C(GET /runners/all)). Needs an administrator's token.
    type: bool
    default: false
  id:
    description:
      - Read only the runner with this id. RV(runners) is empty when it does not exist.
      - The filters do not apply to it.
    type: int
  runner_type:
    description: Only runners of this type.
    type: str
    choices: [instance_type, group_type, project_type]
  status:
    description:
      - Only runners with this status. V(offline) also matches stale runners, as in GitLab.
    type: str
    choices: [online, offline, stale, never_contacted]
  tags:
    description: Only runners that have all of these tags.
    type: list
    elements: str
  paused:
    description: Only paused (V(true)) or only active (V(false)) runners.
    type: bool
  name:
    description:
      - Only runners whose description is exactly this. GitLab cannot filter on it, so the module compares it
        after listing and reads only the runners that match.
    type: str
  managers:
    description:
      - Read each runner's runner managers (one C(GET /runners/:id/managers) per runner).
      - GitLab before 17.1 has no such endpoint; RV(runners[].managers) is then V(null) and a warning says so.
    type: bool
    default: true
  check_scopes:
    description:
      - Check that the token has the scopes for this work before reading anything, and return RV(gitlab).
      - V(read) - find and read runners; V(create) - create runners; V(manage) - update, reset the token of,
        and delete runners.
      - Fails naming the missing scope. Costs two API calls.
    type: list
    elements: str
    choices: [read, create, manage]
  gather_runners:
    description:
      - Set V(false) to only run the O(check_scopes) check (and O(owners)) and read no runner.
    type: bool
    default: true
  owners:
    description:
      - Groups and projects to find, each as C(group) or C(project) with its full path or numeric id, before
        anything is created in them. RV(owners) returns each with its numeric id, which
        M(runnerops.gitlab.gitlab_runner_create) then takes as O(runnerops.gitlab.gitlab_runner_create#module:group)
        or O(runnerops.gitlab.gitlab_runner_create#module:project) without looking it up again.
      - Fails naming every one GitLab does not show the token's user, at once.
    type: list
    elements: dict
    suboptions:
      group:
        description: A group's full path or numeric id.
        type: str
      project:
        description: A project's full path or numeric id.
        type: str
notes:
  - "Scopes: C(read_api) or C(api). Reading another user's group or project runners needs the Maintainer role
    there; O(all_runners) needs an administrator."
  - "API calls: one to resolve O(group) or O(project), one list (per 100 runners), then per runner that matches:
    one to read it and, with O(managers), one for its managers."
seealso:
  - module: runnerops.gitlab.gitlab_runner_create
"""

EXAMPLES = r"""
- name: Check once that the token may create and manage runners
  runnerops.gitlab.gitlab_runner_info:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    check_scopes: [read, create, manage]
    gather_runners: false
  register: gitlab_check

- name: Find the groups runners will be created in, all before the first is created
  runnerops.gitlab.gitlab_runner_info:
    owners:
      - group: platform/ci
      - project: platform/app
    gather_runners: false
  register: owners

- name: Show the group runner and the hosts (managers) that use it
  runnerops.gitlab.gitlab_runner_info:
    group: platform/ci
    runner_type: group_type
    name: docker-linux
  register: docker_linux

- name: List the instance's offline runners
  runnerops.gitlab.gitlab_runner_info:
    all_runners: true
    status: offline
    managers: false
  register: offline
"""

RETURN = r"""
runners:
  description: The runners found, in the order GitLab lists them. Never holds a token.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The runner's id.
      type: int
      sample: 42
    description:
      description: The runner's description (its name).
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
    locked:
      description: Whether it is locked to its projects.
      type: bool
    access_level:
      description: V(not_protected) or V(ref_protected).
      type: str
    maximum_timeout:
      description: Longest job time in seconds, or V(null).
      type: int
    paused:
      description: Whether it is paused.
      type: bool
    maintenance_note:
      description: The maintenance note; V(null) when unset or not visible to the token's user.
      type: str
    owner:
      description: The owner as GitLab shows it - C(type) (V(instance), V(group), V(project)), C(id) and C(path).
      type: dict
      sample: {"type": "group", "id": 7, "path": "platform/ci"}
    status:
      description: GitLab's status - V(online), V(offline), V(stale), V(never_contacted) or V(paused).
      type: str
      sample: online
    online:
      description: Whether the runner contacted GitLab in the last two hours.
      type: bool
    contacted_at:
      description: Last contact (ISO 8601), or V(null).
      type: str
    created_at:
      description: Creation time (ISO 8601).
      type: str
    managers:
      description:
        - The runner managers (one per host system id that used the runner's token), or V(null) when O(managers)
          is off or GitLab has no managers endpoint.
      type: list
      elements: dict
      contains:
        id:
          description: The manager's id.
          type: int
        system_id:
          description: The host's gitlab-runner system id (C(s_...) or C(r_...)).
          type: str
          sample: s_89e5e9956577
        version:
          description: gitlab-runner version the host reported.
          type: str
        revision:
          description: gitlab-runner revision.
          type: str
        platform:
          description: Operating system.
          type: str
        architecture:
          description: CPU architecture.
          type: str
        executor:
          description: Executor, where GitLab reports it.
          type: str
        ip_address:
          description: Address the host contacted GitLab from.
          type: str
        status:
          description: V(online), V(offline), V(stale) or V(never_contacted).
          type: str
        job_execution_status:
          description: V(active) or V(idle), where GitLab reports it.
          type: str
        created_at:
          description: When the manager first contacted GitLab.
          type: str
        contacted_at:
          description: Last contact.
          type: str
owners:
  description: The groups and projects of O(owners), in that order.
  returned: when O(owners) is set
  type: list
  elements: dict
  contains:
    type:
      description: V(group) or V(project).
      type: str
      sample: group
    ref:
      description: The path or id as given in O(owners).
      type: str
      sample: platform/ci
    id:
      description: The numeric id.
      type: int
      sample: 42
    path:
      description: The full path, where GitLab gave it.
      type: str
      sample: platform/ci
gitlab:
  description: GitLab's version and the token's scopes, from the O(check_scopes) check.
  returned: when O(check_scopes) is set
  type: dict
  contains:
    version:
      description: GitLab's version, or V(null) when the token may not read it.
      type: str
      sample: 17.11.1-ee
    scopes:
      description: The token's scopes.
      type: list
      elements: str
      sample: [read_api, create_runner, manage_runner]
"""

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._module import GitLabModule
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import RUNNER_TYPES
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_info import RUNNER_STATUSES, RunnerReader


def argument_spec():
    return {
        "group": {"type": "str"},
        "project": {"type": "str"},
        "all_runners": {"type": "bool", "default": False},
        "id": {"type": "int"},
        "runner_type": {"type": "str", "choices": list(RUNNER_TYPES)},
        "status": {"type": "str", "choices": list(RUNNER_STATUSES)},
        "tags": {"type": "list", "elements": "str"},
        "paused": {"type": "bool"},
        "name": {"type": "str"},
        "managers": {"type": "bool", "default": True},
        "check_scopes": {"type": "list", "elements": "str", "choices": ["read", "create", "manage"]},
        "gather_runners": {"type": "bool", "default": True},
        "owners": {"type": "list", "elements": "dict",
                   "options": {"group": {"type": "str"}, "project": {"type": "str"}},
                   "mutually_exclusive": [("group", "project")], "required_one_of": [("group", "project")]},
    }


def main():
    module = GitLabModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("group", "project", "id")],
    )
    params = module.params
    if params["all_runners"] and (params["group"] or params["project"] or params["id"] is not None):
        # Checked here: an explicit all_runners=false must not clash with group, project or id.
        module.fail_json(msg="parameters are mutually exclusive: all_runners|group|project|id")
    client = module.gitlab_client()
    reader = RunnerReader(client)
    result = {"changed": False, "runners": []}
    try:
        if params["check_scopes"] is not None:
            # Reading is what this module does, so it is always part of the check.
            result["gitlab"] = reader.check_scopes(["read"] + params["check_scopes"])
        if params["owners"] is not None:
            result["owners"] = reader.resolve_owners(params["owners"])
        if params["gather_runners"]:
            result["runners"] = reader.gather(
                group=params["group"], project=params["project"], all_runners=params["all_runners"],
                runner_id=params["id"], runner_type=params["runner_type"], status=params["status"],
                tags=params["tags"], paused=params["paused"], name=params["name"],
                with_managers=params["managers"],
            )
    except RunnerOpsError as error:
        module.fail_from(error, changed=False)
    for warning in reader.warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
