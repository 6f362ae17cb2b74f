#!/usr/bin/python
# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: runner_config_sync
short_description: Keep a host's gitlab-runner config.toml in the declared state without losing what is there
version_added: 0.1.0
description:
  - Merges declared global settings and C([[runners]]) entries into gitlab-runner's C(config.toml) with tomlkit.
    Declared keys are set; comments, keys and tables it is not told about stay as they are. Entries are matched
    by O(runners[].name).
  - Compares parsed data, never text. A file gitlab-runner rewrote in its own style (reordered keys, zero
    values, comments gone) with the same content is not a change.
  - Treats each entry's C(token), C(token_obtained_at) and C(token_expires_at) as gitlab-runner's own state,
    because gitlab-runner rotates tokens and rewrites the file itself. A declared token never replaces a token
    that was obtained later.
  - gitlab-runner's zero time V(0001-01-01T00:00:00Z) means "unknown". It never proves a token newer, and it is
    replaced only by a declared time, or by the time of the run when the token gets a real expiry (gitlab-runner
    rotates at once a token whose expiry is known but not when it was obtained). A time quoted as a string and
    the same instant as a TOML date-time are the same content, as gitlab-runner reads both.
  - Checks declared keys against the keys gitlab-runner 19.3 decodes, as it decodes them (regardless of case),
    with a suggestion for typing errors and a note for keys newer runners removed. A value of the wrong type
    fails naming the key, because gitlab-runner would refuse the whole file.
  - Writes only when the content changes, atomically (a temporary file in the same directory, synced, with the
    requested owner and mode, renamed over the old one), optionally after a timestamped backup. An existing file
    that is not valid TOML (a table declared twice, say) fails with its line and column and is left untouched.
  - Two runs writing the same file take turns on an advisory lock (C(flock)) of its directory, each reading what
    the other wrote; a run waits up to two minutes. Check mode takes no lock.
  - gitlab-runner takes no lock when it rewrites the file (rotating its token). When the file changed between
    the module's read and its write, the module merges again onto what is there now, so the newer token stays.
  - A write stopped before its rename (killed, host crash) leaves the old file whole; the next write removes the
    temporary file it left, which carries the writing process id in its name, once that process is gone.
  - Entries that are no longer declared are removed (O(prune)); with O(unregister_pruned) their runner manager is
    first removed from GitLab as C(gitlab-runner unregister) does.
author:
  - runnerops maintainers (@runnerops)
extends_documentation_fragment:
  - runnerops.gitlab._attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - Reads the file, works out the result and reports it, without writing any file or contacting GitLab.
      - RV(unregistered) then lists the entries whose manager a real run would unregister.
  diff_mode:
    support: full
    details:
      - The whole file before and after, with every token and other secret replaced by V(<redacted>).
  idempotent:
    support: full
    details:
      - A new entry declared without O(runners[].token_obtained_at) gets the time of the first run, which the
        next run keeps.
options:
  path:
    description:
      - Path of C(config.toml). Its directory must exist.
      - When it is a symbolic link (to a persistent volume, say), the link stays and its target is written,
        atomically in the target's directory. C(.runner_system_id) stays beside the path given here, where
        gitlab-runner looks for it.
    type: path
    default: /etc/gitlab-runner/config.toml
  concurrent:
    description: Maximum number of jobs all entries run at once (at least 1).
    type: int
  check_interval:
    description: Seconds between checks for new jobs. gitlab-runner uses 3 for 0 or less.
    type: int
  log_level:
    description: Log level of the service (command line flags take precedence).
    type: str
    choices: [debug, info, warn, warning, error, fatal, panic]
  log_format:
    description: Log format of the service.
    type: str
    choices: [runner, text, json]
  listen_address:
    description:
      - C(host:port) of the metrics and debug server. gitlab-runner reads it only when the service starts.
    type: str
  shutdown_timeout:
    description: Seconds to wait for jobs when the service stops before stopping forcefully.
    type: int
  connection_max_age:
    description:
      - How long a TLS connection to GitLab is reused, as a Go duration such as V(15m) or V(1h).
      - gitlab-runner writes V(15m0s) for V(15m); both mean the same and compare equal.
    type: str
  session_server:
    description:
      - The C([session_server]) table (interactive web terminals). Keys not given here stay as they are.
      - gitlab-runner reads it only when the service starts.
    type: dict
    suboptions:
      listen_address:
        description: C(host:port) the session server listens on.
        type: str
      advertise_address:
        description: C(host:port) GitLab uses to reach the session server.
        type: str
      session_timeout:
        description: Seconds a session may stay open.
        type: int
  global_settings:
    description:
      - Any other top-level keys and tables, merged into the file the same way (for example C(sentry_dsn),
        C(labels) or C(experimental)).
      - A key set to V(null) is removed. Keys that have their own option above must be given there.
    type: dict
  runners:
    description:
      - The C([[runners]]) entries this host carries, matched by O(runners[].name).
      - When not given, the module leaves the entries alone and manages only global settings.
    type: list
    elements: dict
    suboptions:
      name:
        description: The entry's name; only this host knows it.
        type: str
        required: true
      url:
        description: GitLab's base URL. Required for a new entry.
        type: str
      id:
        description: The runner's id in GitLab, as M(runnerops.gitlab.gitlab_runner_create) returns it.
        type: int
      token:
        description:
          - The runner authentication token (C(glrt-...)). Required for a new entry.
          - For an existing entry, it replaces the token on disk only when it was obtained later
            (O(runners[].token_obtained_at)), or when the token on disk has expired, or its time is unknown
            (missing, or the zero time V(0001-01-01T00:00:00Z)).
            Otherwise the token on disk is kept and a warning says so; gitlab-runner may have rotated it.
          - A personal access token (C(glpat-)) or a registration token (C(GR1348941...), C(glrtr-...)) is refused.
            Neither authenticates a runner, and an API token must never be written to C(config.toml).
        type: str
      token_obtained_at:
        description:
          - When the token was obtained, for example V(2026-01-10T09:00:00Z); without a time zone, UTC is assumed.
          - For a token M(runnerops.gitlab.gitlab_runner_create) has just created, reset or confirmed, the time of
            the run (C(now(utc=true))) is right.
          - When a new token is written without it, the time of the run is written.
          - For the token already on disk, it fills in an unknown time there and changes nothing else, since a time
            gitlab-runner recorded is its own.
          - V(0001-01-01T00:00:00Z) means unknown, as gitlab-runner writes it; it never proves a token newer.
        type: str
      token_expires_at:
        description:
          - When the token expires, as GitLab returns it (V(2026-04-10T09:00:00.000Z)).
          - Not given, or V(0001-01-01T00:00:00Z), means the token does not expire.
        type: str
      executor:
        description:
          - The executor, for example V(shell), V(docker), V(docker-autoscaler), V(kubernetes). Required for a
            new entry.
        type: str
      settings:
        description:
          - Every other key of the entry, with sub-tables as nested dicts, for example C(limit), C(docker) for
            C([runners.docker]) or C(cache) with C(Type) and C(s3) for C([runners.cache]) (see the examples).
          - Merged like O(global_settings); lists (such as C(docker.volumes) or C(docker.services)) are replaced
            whole. A key set to V(null) is removed.
          - Keys that have their own option (C(name), C(url), C(id), C(token), C(token_obtained_at),
            C(token_expires_at), C(executor)) are not accepted here.
        type: dict
  prune:
    description:
      - Remove entries whose name is not in O(runners). Applies only when O(runners) is given.
    type: bool
    default: true
  unregister_pruned:
    description:
      - Before removing an entry, remove this host's runner manager from GitLab with the entry's token and the
        host's system id (C(DELETE /api/v4/runners/managers) at the entry's C(url)), as
        C(gitlab-runner unregister) does. The runner itself stays in GitLab.
      - A manager GitLab no longer knows (404) counts as unregistered. A token GitLab refuses (403) gives a
        warning naming the entry. Any other failure stops the module before C(config.toml) is written.
    type: bool
    default: false
  write_system_id:
    description:
      - When C(.runner_system_id) is missing beside O(path), write the id gitlab-runner would generate on this host
        (mode V(0600)), so the manager's identity is fixed before the service first starts.
    type: bool
    default: false
  backup:
    description:
      - Before changing an existing file, copy it to C(<path>.<pid>.<timestamp>~) (mode V(0600)).
    type: bool
    default: false
  validate_keys:
    description:
      - V(error) fails on keys gitlab-runner does not know, V(warn) only warns about them (for older or newer
        runners), V(off) checks nothing.
      - Values of the wrong type fail with V(error) and V(warn).
    type: str
    choices: [error, warn, 'off']
    default: error
  validate_certs:
    description:
      - Whether to verify GitLab's TLS certificate when O(unregister_pruned) contacts it.
      - Prefer O(ca_path) for a private CA.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates, on the host, to verify GitLab's certificate when O(unregister_pruned)
        contacts it.
    type: path
  timeout:
    description: Seconds to wait for GitLab to answer one unregister request.
    type: int
    default: 30
  mode:
    description:
      - Permissions of C(config.toml), which holds tokens. Applied before the file gets its name.
      - See O(ansible.builtin.file#module:mode) for the forms accepted.
    type: raw
    default: '0600'
notes:
  - gitlab-runner picks up a changed C(config.toml) within seconds by itself. Changes to O(listen_address) and
    O(session_server) need a service restart; RV(restart_required) says when one changed.
  - Every secret among the declared values is kept out of the result and the invocation as Ansible's own
    C(no_log) values - the tokens, the string keys of gitlab-runner's configuration that hold secrets (C(token),
    C(password), C(bearer_token), C(SecretKey), C(AccessKey), C(SessionToken), C(AccountKey), C(PrivateKey),
    C(sentry_dsn)) and every C(environment) value. The task needs no C(no_log) for them, so C(--diff) shows
    the change with each secret as C(<redacted>).
  - The module needs C(become) to write C(/etc/gitlab-runner). Tokens are never passed on a command line.
  - Keys that gitlab-runner writes on its own (zero values, C(MaxUploadedArchiveSize), empty cache tables) are
    not declared and so are kept.
requirements:
  - tomlkit >= 0.11.7
seealso:
  - module: runnerops.gitlab.runner_config_info
  - module: runnerops.gitlab.gitlab_runner_create
"""

EXAMPLES = r"""
- name: Create a runner in GitLab and get its token
  runnerops.gitlab.gitlab_runner_create:
    api_url: https://gitlab.example.com
    api_token: "{{ vault_gitlab_token }}"
    name: docker-builders
    runner_type: group_type
    group: platform
  delegate_to: localhost
  run_once: true
  register: created_runner
  no_log: true

- name: Write config.toml
  runnerops.gitlab.runner_config_sync:
    concurrent: 4
    log_level: info
    runners:
      - name: docker-builders
        url: https://gitlab.example.com
        id: "{{ created_runner.runner.id }}"
        token: "{{ created_runner.token }}"
        # GitLab has just created or confirmed this token, so it is newer than any token on disk.
        token_obtained_at: "{{ created_runner.token_obtained_at or now(utc=true).isoformat() }}"
        token_expires_at: "{{ created_runner.token_expires_at }}"
        executor: docker
        settings:
          limit: 2
          docker:
            image: alpine:3.20
            privileged: false
            volumes: [/cache]
          feature_flags:
            FF_NETWORK_PER_BUILD: true
    prune: true
    unregister_pruned: true
    backup: true
  become: true
  no_log: true

- name: Only global settings; leave the entries alone
  runnerops.gitlab.runner_config_sync:
    concurrent: 8
    global_settings:
      sentry_dsn: null
  become: true

- name: Preview the change without writing (tokens are redacted in the diff)
  runnerops.gitlab.runner_config_sync:
    runners: "{{ gitlab_runner_entries }}"
  check_mode: true
  diff: true
  become: true
"""

RETURN = r"""
global_settings_changed:
  description:
    - The global keys of C(config.toml) (outside C([[runners]])) whose value changed, or would change in check
      mode, as gitlab-runner names them.
  returned: always
  type: list
  elements: str
  sample: [concurrent]
restart_required:
  description:
    - Whether a setting gitlab-runner reads only when it starts (O(listen_address), O(session_server)) changed, so
      the service must be restarted for it to apply. In check mode, whether it would change.
  returned: always
  type: bool
  sample: false
added:
  description: Names of the entries that were added.
  returned: always
  type: list
  elements: str
  sample: [docker-builders]
updated:
  description: Names of existing entries whose content changed.
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: Names of the entries that were removed because they are not declared.
  returned: always
  type: list
  elements: str
  sample: [old-shell]
unregistered:
  description:
    - Names of removed entries whose runner manager is no longer registered in GitLab (including those GitLab
      no longer knew). In check mode, those a real run would unregister.
  returned: always
  type: list
  elements: str
  sample: [old-shell]
backup_file:
  description: Path of the backup made before writing, when O(backup) made one.
  returned: always
  type: str
  sample: /etc/gitlab-runner/config.toml.4242.2026-01-10@09:00:00~
diff:
  description: The whole file before and after, with tokens and other secrets replaced by V(<redacted>).
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: The file as it was.
      type: str
    after:
      description: The file as it is (or would be, in check mode).
      type: str
    before_header:
      description: Label of the old file.
      type: str
    after_header:
      description: Label of the new file.
      type: str
"""

from ansible_collections.runnerops.gitlab.plugins.module_utils._config_declared import GLOBAL_OPTIONS_SPEC, DeclaredConfig
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_sync import DEFAULT_PATH, run_sync
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._manager_api import ManagerUnregister
from ansible_collections.runnerops.gitlab.plugins.module_utils._module import ConfigFileModule
from ansible_collections.runnerops.gitlab.plugins.module_utils._toml_document import secrets_in


def argument_spec():
    runner = {
        "name": {"type": "str", "required": True},
        "url": {"type": "str"},
        "id": {"type": "int"},
        "token": {"type": "str", "no_log": True},
        "token_obtained_at": {"type": "str", "no_log": False},
        "token_expires_at": {"type": "str", "no_log": False},
        "executor": {"type": "str"},
        "settings": {"type": "dict"},
    }
    return {
        "path": {"type": "path", "default": DEFAULT_PATH},
        **GLOBAL_OPTIONS_SPEC,
        "runners": {"type": "list", "elements": "dict", "options": runner},
        "prune": {"type": "bool", "default": True},
        "unregister_pruned": {"type": "bool", "default": False},
        "write_system_id": {"type": "bool", "default": False},
        "backup": {"type": "bool", "default": False},
        "validate_keys": {"type": "str", "choices": ["error", "warn", "off"], "default": "error", "no_log": False},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "timeout": {"type": "int", "default": 30},
        "mode": {"type": "raw", "default": "0600"},
    }


def main():
    module = ConfigFileModule(argument_spec(), supports_check_mode=True, add_file_common_args=True)
    params = module.params
    path = params["path"]
    # Masked by Ansible wherever they would appear: the invocation, the result, a failure's message.
    module.no_log_values.update(secrets_in({"global_settings": params.get("global_settings") or {},
                                            "runners": [runner.get("settings") or {}
                                                        for runner in params.get("runners") or []]},
                                           environment_values=False))

    def apply_file_arguments(temp_path):
        # Owner, group and mode are set on the temporary file, before it replaces config.toml.
        module.set_fs_attributes_if_different(module.load_file_common_arguments(params, path=temp_path), False)

    unregister = None
    if params["unregister_pruned"]:
        unregister = ManagerUnregister(timeout=params["timeout"], validate_certs=params["validate_certs"],
                                       ca_path=params["ca_path"])
    try:
        desired = DeclaredConfig.from_params(params)
        outcome = run_sync(path, desired, prune=params["prune"], check_mode=module.check_mode,
                           make_backup=params["backup"], unregister=unregister,
                           write_id=params["write_system_id"], prepare=apply_file_arguments,
                           unsafe_writes=params["unsafe_writes"])
    except RunnerOpsError as error:
        module.fail_from(error, changed=False)

    for warning in outcome.warnings:
        module.warn(warning)
    result = outcome.result
    if outcome.plan.config.exists or (result["changed"] and not module.check_mode):
        result["changed"] = module.set_fs_attributes_if_different(module.load_file_common_arguments(params),
                                                                  result["changed"])
    if module._diff:
        result["diff"] = outcome.plan.diff([runner.token for runner in desired.runners or [] if runner.token])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
