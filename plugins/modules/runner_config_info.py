#!/usr/bin/python
# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: runner_config_info
short_description: Read a host's gitlab-runner config.toml and runner system id
version_added: 0.1.0
description:
  - Reads gitlab-runner's C(config.toml) on the host and returns its global settings and every C([[runners]])
    entry, with the entry's token and token times as gitlab-runner last wrote them.
  - Returns the host's runner system id, the identity GitLab gives this host's runner manager. It comes from
    C(.runner_system_id) beside C(config.toml); when that file is missing it is the id gitlab-runner will
    create on its first start (V(s_) and 12 hex digits derived from the host's machine id), so a manager can
    be checked before the service ever ran.
  - A missing C(config.toml) is an empty configuration, not an error. What cannot be read is an error, never
    an empty configuration - a symbolic link into a directory that does not exist (a volume that is not mounted),
    a directory, a file it may not read, a file that is not valid TOML (with its line and column), C(runners) that
    is not an array of tables, and a C(.runner_system_id) gitlab-runner would not accept (an empty one reads as
    missing, as gitlab-runner reads it).
  - Use it to gather what hosts hold before M(runnerops.gitlab.gitlab_runner_create) settles the token each
    runner needs, then write it with M(runnerops.gitlab.runner_config_sync).
author:
  - runnerops maintainers (@runnerops)
extends_documentation_fragment:
  - runnerops.gitlab._attributes
  - runnerops.gitlab._attributes.INFO_MODULE
options:
  path:
    description:
      - Path of C(config.toml) on the host. C(.runner_system_id) is read from the same directory.
    type: path
    default: /etc/gitlab-runner/config.toml
notes:
  - The returned tokens are secrets. Register the result under C(no_log) and keep it out of logs.
  - Two hosts cloned from one image share C(/etc/machine-id) and so the same generated system id; GitLab then
    sees them as one runner manager. Compare RV(system_id) across hosts to find them.
  - Reading C(/etc/gitlab-runner) usually needs C(become).
requirements:
  - tomlkit >= 0.11.7
seealso:
  - module: runnerops.gitlab.runner_config_sync
  - module: runnerops.gitlab.gitlab_runner_create
"""

EXAMPLES = r"""
- name: Read config.toml and the system id
  runnerops.gitlab.runner_config_info:
  become: true
  register: runner_config
  no_log: true

- name: Show which runner entries the host carries (names only)
  ansible.builtin.debug:
    msg: "{{ runner_config.runners | map(attribute='name') | list }} as {{ runner_config.system_id }}"

- name: Read a config.toml kept somewhere else
  runnerops.gitlab.runner_config_info:
    path: /srv/gitlab-runner/config/config.toml
  register: runner_config
  no_log: true
"""

RETURN = r"""
exists:
  description: Whether O(path) existed. When it did not, RV(global_settings) and RV(runners) are empty.
  returned: always
  type: bool
  sample: true
global_settings:
  description:
    - Every top-level setting and table except C([[runners]]), as in the file (for example C(concurrent),
      C(check_interval), C(log_level), C(session_server)).
    - Dates and times are returned as RFC 3339 strings in UTC.
  returned: always
  type: dict
  sample: {"concurrent": 4, "check_interval": 0, "connection_max_age": "15m0s", "session_server": {"session_timeout": 1800}}
runners:
  description: One item per C([[runners]]) entry, in file order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The entry's name (local to this host).
      type: str
      sample: build-01
    url:
      description: The GitLab URL the entry talks to.
      type: str
      sample: https://gitlab.example.com
    id:
      description: The runner's id in GitLab, when gitlab-runner wrote it (15.3 or later).
      type: int
      sample: 42
    token:
      description:
        - The runner authentication token (C(glrt-...)), as gitlab-runner last wrote it.
        - This is a secret. Keep the registered result under C(no_log).
      type: str
      sample: glrt-t3_EXAMPLEexampleEXAMPLE
    token_obtained_at:
      description: When the token was obtained, in UTC. V(null) when the entry has none.
      type: str
      sample: "2026-01-10T09:00:00Z"
    token_expires_at:
      description:
        - When the token expires, in UTC. V(0001-01-01T00:00:00Z) means it never expires.
      type: str
      sample: "0001-01-01T00:00:00Z"
    executor:
      description: The entry's executor.
      type: str
      sample: docker
    settings:
      description:
        - Every other key and sub-table of the entry (for example C(limit), C(docker), C(cache)), in the shape
          O(runnerops.gitlab.runner_config_sync#module:runners[].settings) takes.
        - Cache credentials (C(SecretKey), C(AccountKey) and the like) are secrets too.
      type: dict
      sample: {"limit": 2, "docker": {"image": "alpine:3.20", "privileged": false}}
system_id:
  description:
    - The host's runner system id. V(null) when C(.runner_system_id) is missing and the host has no machine id
      (gitlab-runner then picks a random V(r_) id on its first start).
  returned: always
  type: str
  sample: s_89e5e9956577
system_id_source:
  description:
    - V(file) when RV(system_id) was read from C(.runner_system_id), V(generated) when it is the id gitlab-runner
      would generate on this host, V(null) when there is none.
  returned: always
  type: str
  sample: file
"""

from ansible_collections.runnerops.gitlab.plugins.module_utils._config_sync import DEFAULT_PATH, describe_config
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._module import ConfigFileModule


def main():
    module = ConfigFileModule({"path": {"type": "path", "default": DEFAULT_PATH}}, supports_check_mode=True)
    try:
        result = describe_config(module.params["path"])
    except RunnerOpsError as error:
        module.fail_from(error, changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
