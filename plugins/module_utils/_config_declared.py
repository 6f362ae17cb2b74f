# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What runner_config_sync is asked for: the declared global settings and [[runners]] entries, checked
against gitlab-runner's keys before anything is read or written."""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass, field

from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_keys as reference
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_schema import KeyCheck
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import parse_time
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import runner_token_problem

# [[runners]] keys that have their own option in runner_config_sync.
CREDENTIAL_KEYS = ("name", "url", "id", "token", "token_obtained_at", "token_expires_at")
ENTRY_OPTION_KEYS = CREDENTIAL_KEYS + ("executor",)
GLOBAL_OPTION_KEYS = ("concurrent", "check_interval", "log_level", "log_format", "listen_address",
                      "shutdown_timeout", "connection_max_age", "session_server")
# runner_config_sync's options for the global settings; the role checks its own variables with them.
GLOBAL_OPTIONS_SPEC = {
    "concurrent": {"type": "int"},
    "check_interval": {"type": "int"},
    "log_level": {"type": "str", "choices": ["debug", "info", "warn", "warning", "error", "fatal", "panic"]},
    "log_format": {"type": "str", "choices": ["runner", "text", "json"]},
    "listen_address": {"type": "str"},
    "shutdown_timeout": {"type": "int"},
    "connection_max_age": {"type": "str"},
    "session_server": {"type": "dict", "options": {
        "listen_address": {"type": "str"},
        "advertise_address": {"type": "str"},
        "session_timeout": {"type": "int"},
    }},
    "global_settings": {"type": "dict"},
}
EXECUTORS = ("shell", "docker", "docker-windows", "docker+machine", "docker-autoscaler", "kubernetes",
             "custom", "ssh", "parallels", "virtualbox", "instance")


@dataclass
class DeclaredEntry:
    name: str
    url: str | None = None
    id: int | None = None
    token: str | None = None
    token_obtained_at: datetime.datetime | None = None
    token_expires_at: datetime.datetime | None = None
    executor: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class DeclaredConfig:
    global_settings: dict
    runners: list | None
    warnings: list = field(default_factory=list)

    @classmethod
    def from_params(cls, params):
        """The declared configuration from runner_config_sync's options, checked and canonicalised."""
        check = KeyCheck(params.get("validate_keys") or "error")
        action = "Reading the declared config.toml settings"
        declared = dict(params.get("global_settings") or {})
        for key in declared:
            if str(key).lower() == "runners":
                raise RunnerOpsError(action, "global_settings contains 'runners'.",
                                     fix="declare runner entries with the runners option.")
        for option in GLOBAL_OPTION_KEYS:
            value = params.get(option)
            if value is None:
                continue
            if option == "session_server":
                value = {key: item for key, item in value.items() if item is not None}
                if not value:
                    continue
            clash = [key for key in declared if str(key).lower() == option]
            if clash:
                raise RunnerOpsError(action, f"{option} is given both as an option and in global_settings.",
                                     fix=f"remove {clash[0]!r} from global_settings or drop the {option} option.")
            declared[option] = value
        if params.get("concurrent") is not None and params["concurrent"] < 1:
            raise RunnerOpsError(action, f"concurrent is {params['concurrent']}; gitlab-runner needs at least 1.",
                                 fix="set concurrent to 1 or more.")
        global_settings = check.table(declared, "", "global_settings")

        runners = None
        if params.get("runners") is not None:
            runners = []
            seen = set()
            for index, spec in enumerate(params["runners"]):
                runner = _declared_entry(spec, index, check)
                if runner.name in seen:
                    raise RunnerOpsError(action, f"runners declares the name {runner.name!r} twice.",
                                         fix="give every runner entry a distinct name; entries are matched by name.")
                seen.add(runner.name)
                runners.append(runner)
        check.raise_errors()
        return cls(global_settings=global_settings, runners=runners, warnings=list(check.warnings))


def _declared_entry(spec, index, check):
    action = "Reading the declared runners"
    name = spec.get("name")
    if not name or not str(name).strip():
        raise RunnerOpsError(action, f"runners[{index}] has no name.", fix="give every runner entry a name.")
    where = f"runners[{name}]"
    settings = dict(spec.get("settings") or {})
    for key in settings:
        if str(key).lower() in ENTRY_OPTION_KEYS:
            raise RunnerOpsError(action, f"{where}.settings contains {key!r}.",
                                 fix=f"give it as runners[].{str(key).lower()} instead"
                                 + (" (kept out of logs there)." if "token" in str(key).lower() else "."))
    runner = DeclaredEntry(
        name=str(name),
        url=spec.get("url"),
        id=spec.get("id"),
        token=spec.get("token") or None,
        token_obtained_at=_declared_time(spec.get("token_obtained_at"), f"{where}.token_obtained_at"),
        token_expires_at=_declared_time(spec.get("token_expires_at"), f"{where}.token_expires_at"),
        executor=spec.get("executor"),
        settings=check.table(settings, "runners", f"{where}.settings"),
    )
    unknown_executor = executor_problem(runner.executor)
    if unknown_executor:
        check.warn(f"{where}.{unknown_executor}")
    if runner.token and runner.token.strip() != runner.token:
        raise RunnerOpsError(action, f"{where}.token has leading or trailing white space.",
                             fix="strip the token (a newline from a file lookup is a common cause).")
    wrong_kind = runner_token_problem(runner.token)
    if wrong_kind:
        raise RunnerOpsError(action, f"{where}.token is {wrong_kind}, not the runner's authentication token.",
                             fix="give the glrt- token runnerops.gitlab.gitlab_runner_create returns for the runner; "
                                 "an API or registration token never belongs in config.toml.")
    return runner


def executor_problem(executor):
    """Why ``executor`` is not one gitlab-runner ships, with the one it probably is; None when it is one (or unset).
    runner_config_sync warns (a newer gitlab-runner may ship more); the role refuses it before any change."""
    if executor is None or executor in EXECUTORS:
        return None
    close = difflib.get_close_matches(str(executor), EXECUTORS, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; it ships {', '.join(EXECUTORS)}."
    return f"executor {executor!r} is not an executor gitlab-runner {reference.RUNNER_VERSION} ships{hint}"


def _declared_time(value, field_name):
    if value is None or value == "":
        return None
    return parse_time(value, field_name)
