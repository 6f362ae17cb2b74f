# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Plan, then act: what the role checks before its first change, and how it stops when something is wrong.

Every input is checked with the rules the modules apply (their own functions, called here), every host's state
is read, and only then is anything created in GitLab or written on a host. A run that cannot go on stops every
host it concerns, each named in the recap, with the problems said once.
"""

from __future__ import annotations

import difflib
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.runnerops.gitlab.plugins.module_utils._config_declared import GLOBAL_OPTIONS_SPEC, DeclaredConfig
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError, sentence
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import OWNER_KEY as OWNER_KIND
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import checked_definitions, module_failed
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import seconds
from ansible_collections.runnerops.gitlab.plugins.module_utils._prune import stale_threshold

# The role's variables for config.toml's global settings -> runner_config_sync's option.
GLOBAL_VARIABLES = {
    "gitlab_runner_concurrent": "concurrent",
    "gitlab_runner_check_interval": "check_interval",
    "gitlab_runner_log_level": "log_level",
    "gitlab_runner_listen_address": "listen_address",
    "gitlab_runner_session_server": "session_server",
    "gitlab_runner_global_settings": "global_settings",
}
FOLDER_GLOBALS = "global.toml of gitlab_runner_definitions_dir"
# What a user's own variable must look like to be taken for a mistyped role variable.
LOOK_ALIKE = re.compile(r"^gitlab_?runners?_?(.*)$", re.IGNORECASE)
LOOK_ALIKE_CUTOFF = 0.8


# Strategies that let each host run ahead on its own: the fleet's run-once steps need every host at the same step.
UNSTEPPED_STRATEGIES = ("free", "host_pinned")


def strategy_problem(strategy):
    """Why the role cannot run under ``strategy`` (``free``, ``host_pinned``, by any collection's name), or None."""
    name = str(strategy or "").rsplit(".", 1)[-1]
    if name not in UNSTEPPED_STRATEGIES:
        return None
    return (f"The play runs with strategy {strategy}, which lets each host run ahead on its own, but the role's steps "
            "that run once for the play (the plan, the shared runners, the report) need every host at the same step. "
            "Fix: run the play with a linear strategy (linear, the default, or mitogen_linear): remove strategy "
            "from the play, or set ANSIBLE_STRATEGY=linear.")


def connection_problems(api_url, api_token):
    """What is wrong with the role's GitLab connection, each cause on its own: only the one that applies is named."""
    problems = []
    where = ("in the variables of the targeted hosts, such as group_vars of their group, or through {} on the "
             "controller")
    if not re.match(r"^https?://[^/]+", str(api_url or "")):
        problems.append(f"gitlab_runner_api_url is {str(api_url or '')!r}, not GitLab's base URL with its scheme. "
                        f"Fix: set it, for example https://gitlab.example.com, {where.format('GITLAB_URL')}.")
    if not str(api_token or "").strip():
        problems.append("gitlab_runner_api_token is not set. Fix: set it to a token with scope api (or read_api, "
                        f"create_runner and manage_runner), {where.format('GITLAB_PRIVATE_TOKEN')}.")
    return problems


def global_settings_problems(label, values):
    """What runner_config_sync would refuse in ``values`` (its options), each naming ``label`` and the fix."""
    checked = ArgumentSpecValidator(GLOBAL_OPTIONS_SPEC).validate(values)
    problems = [f"{label}: {sentence(message)} Fix: correct the value named." for message in checked.error_messages]
    if problems:
        return problems
    try:
        DeclaredConfig.from_params(checked.validated_parameters)
    except RunnerOpsError as error:
        problems.append(f"{label}: {error.reason} Fix: {error.fix}" if error.fix else f"{label}: {error.reason}")
    return problems


def settings_problems(settings, folder_globals=None):
    """The problems of the role's own variables (``{variable: value}``), each naming the variable and the fix."""
    problems = []
    for variable, option in GLOBAL_VARIABLES.items():
        value = settings.get(variable)
        if value in (None, "", {}) and option not in ("concurrent", "check_interval"):
            continue  # empty leaves the setting as it is
        problems.extend(global_settings_problems(variable, {option: value}))
    if folder_globals:
        problems.extend(global_settings_problems(FOLDER_GLOBALS, {"global_settings": folder_globals}))
    checks = (
        ("gitlab_runner_prune_stale_after", _prune_threshold),
        ("gitlab_runner_live_manager_window", _positive_seconds),
        ("gitlab_runner_token_rotate_before", _positive_seconds),
    )
    for variable, check in checks:
        if variable in settings:
            try:
                check(settings[variable], variable)
            except RunnerOpsError as error:
                problems.append(f"{variable}: {error.reason} Fix: {error.fix}")
    return problems


def _prune_threshold(value, variable):
    if seconds(value, variable, "Checking the role's variables") != 0:  # 0 never prunes
        stale_threshold(value, variable)


def _positive_seconds(value, variable):
    if seconds(value, variable, "Checking the role's variables") == 0:
        raise RunnerOpsError("Checking the role's variables", f"{variable} is 0.",
                             fix=f"set {variable} to a number of seconds above 0.")


def look_alikes(names, known):
    """``{name: role variable}`` for each variable in ``names`` that is no role variable but reads like one, mistyped
    (``gitlab_runners_runners``, ``gitlab_runner_runner``)."""
    known = set(known)
    suffixes = {}
    for variable in known:
        suffixes.setdefault(LOOK_ALIKE.match(variable).group(1).lower(), variable)
    found = {}
    for name in sorted(set(names or ())):
        match = LOOK_ALIKE.match(str(name))
        if name in known or not match:
            continue
        close = difflib.get_close_matches(match.group(1).lower(), list(suffixes), n=1, cutoff=LOOK_ALIKE_CUTOFF)
        if close:
            found[name] = suffixes[close[0]]
    return found


def declared(definitions, folder=None, settings=None, variables=(), known=()):
    """What one host declares, checked: ``{definitions, problems, warnings, allow_empty_config}``."""
    folder = folder or {}
    settings = settings or {}
    checked, problems, warnings = checked_definitions(definitions, folder.get("runners"))
    problems = problems + settings_problems(settings, folder.get("global_settings"))
    warnings = warnings + [f"{name} is not a variable of the role; did you mean {variable}?"
                           for name, variable in look_alikes(variables, known).items()]
    return {"definitions": checked if not problems else [], "problems": problems, "warnings": warnings,
            "allow_empty_config": bool(settings.get("gitlab_runner_allow_empty_config")),
            "prune": bool(settings.get("gitlab_runner_prune", True))}


def read_problem(result):
    """Why a host's ``runner_config_info`` result is no reading (its message, which names the file, what is wrong
    and the fix, never a token), or None. An unreachable host is Ansible's to name."""
    if not module_failed(result):
        return None
    return str(result.get("msg") or "reading config.toml failed without a message.")


def owners_to_resolve(plan):
    """``{api_url: [{group: ref} or {project: ref}]}`` of the runners this run may create (no host agrees on an id
    for them), their paths looked up before any is created; ``""`` is the role's GitLab. A runner the hosts agree on
    proves its owner from its own details, so a rerun looks nothing up."""
    wanted = {}
    for request in _present_requests(plan):
        kind = OWNER_KIND.get(request.get("runner_type"))
        ref = str(request.get(kind) or "") if kind else ""
        if not kind or request.get("known_id") or not ref or ref.isdigit():
            continue
        owners = wanted.setdefault(request.get("api_url") or "", [])
        if {kind: ref} not in owners:
            owners.append({kind: ref})
    return wanted


def owned_plan(plan, owner_results):
    """The plan with each owner looked up as its numeric id, so gitlab_runner_create does not look it up again."""
    ids = {}
    for result in owner_results or ():
        api_url = (result.get("item") or {}).get("key", "") if isinstance(result, dict) else ""
        for owner in (result.get("owners") or ()) if isinstance(result, dict) else ():
            ids[(api_url, owner["type"], owner["ref"])] = str(owner["id"])
    if not ids:
        return plan
    owned = dict(plan)
    for key in ("shared", "per_host"):
        owned[key] = _with_ids(plan.get(key), ids)
    return owned


def _with_ids(requests, ids):
    if isinstance(requests, dict):
        return {host: _with_ids(items, ids) for host, items in requests.items()}
    updated = []
    for request in requests or ():
        kind = OWNER_KIND.get(request.get("runner_type"))
        found = ids.get((request.get("api_url") or "", kind, str(request.get(kind)))) if kind else None
        updated.append(dict(request, **{kind: found}) if found and not request.get("known_id") else request)
    return updated


def _present_requests(plan):
    yield from plan.get("shared") or ()
    for requests in (plan.get("per_host") or {}).values():
        yield from requests


def empty_config_problem(host, report, definitions, allow, prune=True):
    """Why a host must not lose every ``[[runners]]`` entry it carries: it declares no runner at all (a mistyped
    or misplaced variable, most often), and the user did not say that this is meant."""
    if allow or not prune or not report or not report.entries:
        return None
    if any(definition.get("state") == "present" for definition in definitions):
        return None
    names = ", ".join(sorted(entry.name for entry in report.entries))
    return (f"{host}: declares no runner, so this run would remove every entry of its config.toml ({names}) and "
            "unregister their runner managers. Fix: declare its runners in gitlab_runner_runners (check the "
            "variable's name and where it is set: group_vars of a group this host is in, host_vars, play vars or "
            "extra vars), or set gitlab_runner_allow_empty_config to true to remove them.")


def blocked_by(broken, definitions_by_host):
    """``{host: message}`` for the hosts whose run must stop with the hosts that could not be read (``broken``:
    ``{host: why}``): a shared runner a broken host declares may have its token only there, and settling it
    without that host could reset it and cut the broken host off."""
    shared_of = {host: {definition["name"] for definition in definitions or () if not definition.get("per_host")}
                 for host, definitions in definitions_by_host.items()}
    blocked = {}
    for host, names in shared_of.items():
        if host in broken:
            continue
        for other in sorted(broken):
            common = sorted(names & shared_of.get(other, set()))
            if common:
                blocked[host] = (f"{host}: stopped with {other}, which could not be read: both carry "
                                 f"{', '.join(common)}, whose token may be held only by {other}; nothing is "
                                 f"settled for it until {other} can be read.")
                break
    return blocked


def stops(play_hosts, host_problems=None, run_problems=()):
    """``{host: message}``: each host that must stop, with what stops it. Problems of the whole run stop every
    host; the first host carries them in full and the others point to it, so the output says them once."""
    host_problems = {str(host): list(lines) for host, lines in (host_problems or {}).items() if lines}
    hosts = [str(host) for host in play_hosts or ()]
    result = {}
    run_problems = list(run_problems or ())
    first = hosts[0] if hosts else None
    for host in hosts:
        lines = list(host_problems.get(host, ()))
        if run_problems:
            lines = (run_problems + lines) if host == first else lines + [
                f"stopped with the whole run before any change: {first} names the problems."]
        if lines:
            result[host] = " ".join(lines)
    return result
