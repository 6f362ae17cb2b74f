# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the hosts of a fleet hold, read from their ``runner_config_info`` results.

Plain data in, plain data out: the filter plugins hand it what the hosts gathered, and every decision built
on it (which token a host carries, which runner is due, what a host leaves behind) reads the holders from
here instead of walking the hosts again.
"""

from __future__ import annotations

import datetime
import difflib
import re
from dataclasses import dataclass, field

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_keys as reference
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_declared import (
    CREDENTIAL_KEYS,
    ENTRY_OPTION_KEYS,
    executor_problem,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._config_schema import KeyCheck, key_code
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError, sentence
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import (
    ATTRIBUTE_OPTIONS,
    OWNER_KINDS,
    DesiredRunner,
    owner_arguments,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import (
    UTC,
    known_time,
    read_time,
    same_time,
)
from ansible_collections.runnerops.gitlab.plugins.module_utils._urls import api_base


@dataclass(frozen=True)
class HeldEntry:
    """One ``[[runners]]`` entry of one host: the runner it names and the credentials it carries."""

    host: str
    system_id: str | None
    name: str
    runner_id: int | None = None
    url: str | None = None
    token: str | None = None
    token_obtained_at: str | None = None
    token_expires_at: str | None = None
    settings: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class HostReport:
    """What one host reported: its runner system id and its entries."""

    host: str
    system_id: str | None
    system_id_source: str | None
    entries: tuple

    def entry(self, name):
        return next((entry for entry in self.entries if entry.name == name), None)


def host_report(host, gathered):
    """A ``HostReport`` from one host's ``runner_config_info`` result (an unreadable host reports nothing)."""
    gathered = gathered if isinstance(gathered, dict) else {}
    system_id = gathered.get("system_id") or None
    entries = []
    for raw in gathered.get("runners") or ():
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        runner_id = raw.get("id")
        entries.append(HeldEntry(
            host=host, system_id=system_id, name=str(raw["name"]),
            runner_id=runner_id if isinstance(runner_id, int) and runner_id > 0 else None,
            url=raw.get("url") or None, token=raw.get("token") or None,
            token_obtained_at=known_time(raw.get("token_obtained_at")),
            token_expires_at=known_time(raw.get("token_expires_at")),
            settings=raw.get("settings") or {}))
    return HostReport(host=host, system_id=system_id, system_id_source=gathered.get("system_id_source"),
                      entries=tuple(entries))


def host_reports(gathered_by_host):
    """``HostReport`` per host, in the order given, from ``{host: runner_config_info result}``."""
    return [host_report(host, gathered) for host, gathered in gathered_by_host.items()]


def system_id_conflicts(reports):
    """``{system_id: [hosts]}`` for every system id more than one host reports."""
    hosts_of = {}
    for report in reports:
        if report.system_id:
            hosts_of.setdefault(report.system_id, []).append(report.host)
    return {system_id: sorted(hosts) for system_id, hosts in sorted(hosts_of.items()) if len(hosts) > 1}


def check_system_ids(reports):
    """Fail when two hosts report one runner system id: GitLab sees them as one runner manager."""
    conflicts = system_id_conflicts(reports)
    if not conflicts:
        return
    shared = "; ".join(f"{', '.join(hosts)} report {system_id}" for system_id, hosts in conflicts.items())
    raise RunnerOpsError(
        "Checking the hosts' runner system ids",
        f"hosts share a runner system id ({shared}), so GitLab sees each group of them as one runner manager; "
        "verifying, unregistering or protecting one would act for the others.",
        fix="give each host its own machine id (empty /etc/machine-id, then systemd-machine-id-setup) or its own "
            ".runner_system_id beside config.toml. Hosts cloned from one image usually share it.")


def verify_check(entry, runner_id, token, url):
    """What a host sends to check a token as gitlab-runner does when it starts (``playbooks/tasks/verify.yml``):
    the entry's name and runner id, the token (keep it under ``no_log``), the ``POST /runners/verify`` URL of the
    entry's GitLab as gitlab-runner builds it (a legacy ``/ci`` suffix dropped) and the entry's CA file."""
    return {"name": entry.name, "id": runner_id, "token": token,
            "verify_url": f"{api_base(entry.url or url)}/api/v4/runners/verify",
            "ca_file": entry.settings.get("tls-ca-file")}


def verify_refusals(results):
    """What GitLab refused among ``uri`` results of ``POST /runners/verify``, one line per entry, no token.

    Each result carries its loop item ``{name, id}``; a token is accepted only when GitLab answers 200 with the
    entry's runner id.
    """
    lines = []
    for result in results or ():
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        item = result.get("item") or {}
        name, runner_id = item.get("name"), item.get("id")
        answer = result.get("json") if isinstance(result.get("json"), dict) else {}
        if result.get("status") != 200:
            lines.append(f"entry '{name}' (runner {runner_id}): {result.get('msg') or 'no answer'}")
        elif answer.get("id") != runner_id:
            lines.append(f"entry '{name}': the token belongs to runner {answer.get('id', 'unknown')}, not {runner_id}")
    return lines


# ---------------------------------------------------------------------------------------------------
# The role's runner definitions

OWNER_KEY = {runner_type: kind for runner_type, kind in OWNER_KINDS.items() if kind != "instance"}
# The keys of a definition, checked here (not by the role's argument specs) so that a mistyped key gets a
# suggestion before any GitLab call; documented with gitlab_runner_runners in the role's argument specs.
# runner_type, state and settings get their own messages in _check_definition.
DEFINITION_SPEC = {
    "name": {"type": "str", "required": True},
    "runner_type": {"type": "str", "default": "instance_type"},
    "group": {"type": "str"},
    "project": {"type": "str"},
    "tags": {"type": "list", "elements": "str"},
    "run_untagged": {"type": "bool"},
    "locked": {"type": "bool"},
    "access_level": {"type": "str", "choices": ["not_protected", "ref_protected"]},
    "maximum_timeout": {"type": "int"},
    "paused": {"type": "bool"},
    "maintenance_note": {"type": "str"},
    "executor": {"type": "str", "default": "shell"},
    "settings": {"type": "raw", "default": {}},
    "per_host": {"type": "bool", "default": False},
    "state": {"type": "str", "default": "present"},
    "token_expires_at": {"type": "str"},
    "token_rotation_deadline": {"type": "str"},
    # Another GitLab instance than the role's connection: its API, a token for it, and the URL gitlab-runner uses.
    "api_url": {"type": "str"},
    "api_token": {"type": "str", "no_log": True},
    "url": {"type": "str"},
}
DEFINITION_DEFAULTS = {key: spec["default"] for key, spec in DEFINITION_SPEC.items() if "default" in spec}
# What gitlab_runner_create takes from a definition, besides its name and owner.
GITLAB_ATTRIBUTES = ("tags", "run_untagged", "locked", "access_level", "maximum_timeout", "paused",
                     "maintenance_note", "token_expires_at", "token_rotation_deadline")
# The instance of a definition that names its own; its token stays out of the requests (see instances()).
INSTANCE_KEYS = ("api_url",)
# The keys of a [[runners]] entry in lower case, as gitlab-runner matches them.
ENTRY_KEYS = {key.lower(): key for key in reference.TABLES["runners"]}
CENTRAL_SETTINGS = {"feature_flags": {"FF_DISABLE_AUTOMATIC_TOKEN_ROTATION": True}}


def _definition_error(label, reason, fix):
    return RunnerOpsError("Checking gitlab_runner_runners", f"{label}: {reason}", fix=fix)


def _problem(label, reason, fix):
    return f"{label}: {reason} Fix: {fix}"


def definitions(declared, folder=None):
    """The definitions a host runs: the folder's, then the declared ones (which win on equal names), defaults filled.

    Fails naming every definition that is wrong (never its settings, which may hold secrets), each with its fix.
    """
    checked, problems, _warnings = checked_definitions(declared, folder)
    if problems:
        raise RunnerOpsError("Checking gitlab_runner_runners", " ".join(problems))
    return checked


def checked_definitions(declared, folder=None):
    """``(definitions, problems, warnings)``: every definition checked with every rule the role and
    gitlab_runner_create apply, so that nothing is created or written before all of them are right. Each problem
    names its definition, what is wrong and the fix."""
    declared = list(declared or ())
    folder = list(folder or ())
    problems = []
    for index, definition in enumerate(declared):
        label = f"gitlab_runner_runners[{index}]"
        if not isinstance(definition, dict):
            problems.append(_problem(label, "is not a dictionary.", "give each runner as a dictionary with a name."))
        elif not str(definition.get("name") or "").strip():
            problems.append(_problem(label, "has no name.",
                                     "give each runner a name; it is written as the runner's description."))
    if problems:
        return [], problems, []
    names = [str(definition["name"]) for definition in declared]
    repeated = sorted(set(name for name in names if names.count(name) > 1))
    if repeated:
        return [], [_problem("gitlab_runner_runners", f"{', '.join(repeated)} declared more than once.",
                             "give each definition its own name.")], []
    merged = [definition for definition in folder if str(definition.get("name")) not in names] + declared
    result, warnings = [], []
    for definition in merged:
        label = f"gitlab_runner_runners[{definition['name']}]"
        try:
            full = _checked_keys(definition)
            _check_definition(full)
        except RunnerOpsError as error:
            problems.append(_problem(label, error.reason.removeprefix(f"{label}: "), error.fix))
            continue
        warnings.extend(f"{label}: {warning}" for warning in definition_warnings(full))
        result.append(full)
    return result, problems, warnings


def definition_warnings(definition):
    """What is allowed but most likely not meant: a tag with white space in it is one tag, which jobs asking for
    its words one by one never match."""
    return [f"tag {tag!r} holds white space, so GitLab keeps it as one tag that a job asking for "
            f"{' and '.join(repr(word) for word in str(tag).split())} never matches; give tags as a list "
            f"({str(tag).split()!r}) or separated by commas." for tag in definition.get("tags") or ()
            if len(str(tag).split()) > 1]


def _checked_keys(definition):
    """The definition with its defaults and Ansible's type conversions; every mistyped or misplaced key, every
    wrong type and every unknown ``settings`` key fails here, at once, with a suggestion."""
    label = f"gitlab_runner_runners[{definition['name']}]"
    problems = [_unknown_key(str(key)) for key in definition if key not in DEFINITION_SPEC]
    known = {key: value for key, value in definition.items() if key in DEFINITION_SPEC}
    checked = ArgumentSpecValidator(DEFINITION_SPEC).validate(known)
    problems.extend(sentence(message) for message in checked.error_messages)
    full = {key: value for key, value in checked.validated_parameters.items()
            if key in known or key in DEFINITION_DEFAULTS}
    full["name"] = str(definition["name"])
    settings = full.get("settings")
    if isinstance(settings, dict):
        # The keys runner_config_sync takes as options of an entry: the role writes them itself.
        problems.extend(f"settings holds {key!r}, which the role writes itself from GitLab's answer."
                        for key in settings if str(key).lower() in CREDENTIAL_KEYS)
        problems.extend(f"settings holds {key!r}; give it as the definition's executor." for key in settings
                        if str(key).lower() == "executor")
        check = KeyCheck("error")
        full["settings"] = check.table({key: value for key, value in settings.items()
                                        if str(key).lower() not in ENTRY_OPTION_KEYS}, "runners", "settings")
        problems.extend(check.errors)
    if problems:
        raise _definition_error(label, " ".join(problems),
                                "correct the keys named; the keys of a definition and of settings are listed in the "
                                "role's documentation of gitlab_runner_runners.")
    return full


def _unknown_key(key):
    """Why ``key`` is no key of a definition, with the one it probably is."""
    message = f"{key!r} is not a key of a runner definition"
    close = difflib.get_close_matches(key.lower(), list(DEFINITION_SPEC), n=1, cutoff=0.7)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    entry_key = key_code("runners", key)[1] is not None
    if entry_key:
        return f"{message}; {key!r} is a config.toml setting of the entry: put it under settings."
    setting = difflib.get_close_matches(key.lower(), list(ENTRY_KEYS), n=1, cutoff=0.7)
    if setting:
        return f"{message}; did you mean {ENTRY_KEYS[setting[0]]!r} under settings?"
    return f"{message}."


def _check_definition(definition):
    """The rules of a definition: gitlab_runner_create's own (``DesiredRunner.check``: types, owners, GitLab's
    limits, token expiry against now), runner_config_sync's executor names, and what only the role has."""
    label = f"gitlab_runner_runners[{definition['name']}]"
    if definition["state"] not in ("present", "absent"):
        raise _definition_error(label, f"state {definition['state']!r} is not present or absent.",
                                "set state to present or absent.")
    if bool(definition.get("api_url")) != bool(definition.get("api_token")):
        raise _definition_error(label, "api_url and api_token go together: one is set without the other.",
                                "set both to use another GitLab instance for this runner, or neither to use the "
                                "role's connection.")
    for key in ("api_url", "url"):
        if definition.get(key) and not re.match(r"^https?://[^/]+", str(definition[key])):
            raise _definition_error(label, f"{key} {definition[key]!r} is not a URL with its scheme.",
                                    f"give {key} as GitLab's base URL, for example https://gitlab.example.com.")
    if not isinstance(definition.get("settings"), dict):
        raise _definition_error(label, "settings is not a dictionary.",
                                "give settings as the keys and tables of the [[runners]] entry.")
    unknown_executor = executor_problem(definition.get("executor"))
    if unknown_executor:
        raise _definition_error(label, unknown_executor, "set executor to one gitlab-runner ships.")
    params = {key: definition.get(key) for key in ("name", "runner_type", "group", "project", "state",
                                                   *ATTRIBUTE_OPTIONS, "token_expires_at",
                                                   "token_rotation_deadline")}
    if params["run_untagged"] is False and params["tags"] is None and definition["state"] == "present":
        # The role creates the runner with the tags it declares: none.
        params["tags"] = []
    try:
        DesiredRunner.from_params(params)
    except RunnerOpsError as error:
        raise _definition_error(label, error.reason, error.fix) from None


def runner_name(definition, host):
    """The runner's name in GitLab and in config.toml: a per-host runner carries its host's name."""
    return f"{definition['name']}-{host}" if definition.get("per_host") else definition["name"]


# ---------------------------------------------------------------------------------------------------
# Which token each runner gets: the requests for gitlab_runner_create


def _holders(name, reports, only_host=None):
    return [entry for report in reports if only_host is None or report.host == only_host
            for entry in report.entries if entry.name == name]


def expiring_before(expiries, limit):
    """The expiry times (text) up to ``limit``, earliest first. A zero, missing or unreadable one never expires."""
    moments = ((read_time(text), text) for text in expiries if text)
    return [text for moment, text in sorted((pair for pair in moments if pair[0] is not None), key=lambda pair: pair[0])
            if moment <= limit]


def expires_within(holders, now, seconds):
    """Whether a holder's token expires within ``seconds`` of ``now`` (a zero or missing expiry never does)."""
    return bool(expiring_before((entry.token_expires_at for entry in holders),
                                now + datetime.timedelta(seconds=seconds)))


def deadline_due(definition, holders, now, seconds):
    """Whether central rotation must reset the first token now: its rotation deadline (after which GitLab refuses
    a reset) is within ``seconds``, and a host holds that first token. GitLab gives the first token exactly the
    expiry asked for and a reset one the expiry its settings compute, so a token expiring at the declared
    ``token_expires_at`` is the first one, and after one reset no deadline binds the token any more."""
    deadline = read_time(definition.get("token_rotation_deadline"))
    if deadline is None or not now < deadline <= now + datetime.timedelta(seconds=seconds):
        return False
    asked = read_time(definition.get("token_expires_at"))
    return any(entry.token and same_time(entry.token_expires_at, asked) for entry in holders)


def _request(definition, name, holders, run_system_ids, central_due):
    request = {"name": name, "definition": definition["name"], "runner_type": definition["runner_type"]}
    owner_key = OWNER_KEY.get(definition["runner_type"])
    request.update(owner_arguments(definition["runner_type"], str(definition[owner_key]) if owner_key else None))
    for attribute in GITLAB_ATTRIBUTES + INSTANCE_KEYS:
        if definition.get(attribute) is not None:
            request[attribute] = definition[attribute]
    request["known_tokens"] = [
        {"token": entry.token, "system_id": entry.system_id, "host": entry.host,
         **({"obtained_at": entry.token_obtained_at} if entry.token_obtained_at else {})}
        for entry in holders if entry.token and entry.system_id]
    ids = set(entry.runner_id for entry in holders if entry.runner_id)
    request["known_id"] = ids.pop() if len(ids) == 1 else None
    # Central rotation resets a token before it expires; it stays guarded, because the role decided it,
    # not the user.
    request["token_reset"] = "always" if central_due else "if_no_valid_token"
    request["protect_live_managers"] = True
    request["run_system_ids"] = sorted(set(system_id for system_id in run_system_ids if system_id))
    return request


def token_plan(declared_by_host, reports, outside_reports=(), now=None, rotation="runner", rotate_before=604800):
    """What ``gitlab_runner_create`` is asked per runner, from the definitions and what the hosts hold.

    ``declared_by_host``: ``{host: definitions}`` for the hosts of this run, in play order. ``reports``: their
    ``HostReport``; ``outside_reports``: hosts outside the run that carry the same runners (a hint: their tokens
    count, but only GitLab's managers protect them). Returns ``{"shared": [request], "per_host": {host:
    [request]}, "shared_absent": [request], "per_host_absent": {host: [request]}}``; each request holds the
    holders' tokens, so it stays under ``no_log``.
    """
    now = now or datetime.datetime.now(UTC)
    in_run = {report.host: report for report in reports}
    every_holder = list(reports) + list(outside_reports)
    plan = {"shared": [], "per_host": {}, "shared_absent": [], "per_host_absent": {}}
    shared_seen = {}
    for host, host_definitions in declared_by_host.items():
        report = in_run.get(host)
        for definition in host_definitions:
            if definition.get("per_host"):
                name = runner_name(definition, host)
                if definition["state"] == "absent":
                    # A deletion needs no token: its request, shown as the task's loop item, carries none.
                    plan["per_host_absent"].setdefault(host, []).append(_request(definition, name, [], [], False))
                    continue
                holders = _holders(name, [report] if report else [], only_host=host)
                due = rotation == "central" and (expires_within(holders, now, rotate_before)
                                                 or deadline_due(definition, holders, now, rotate_before))
                system_ids = [report.system_id] if report else []
                plan["per_host"].setdefault(host, []).append(_request(definition, name, holders, system_ids, due))
            else:
                shared_seen.setdefault(definition["name"], (definition, []))[1].append(host)
    for name, (definition, hosts) in shared_seen.items():
        if definition["state"] == "absent":
            plan["shared_absent"].append(_request(definition, name, [], [], False))
            continue
        holders = _holders(name, every_holder)
        due = rotation == "central" and (expires_within(holders, now, rotate_before)
                                         or deadline_due(definition, holders, now, rotate_before))
        system_ids = [in_run[host].system_id for host in hosts if host in in_run]
        plan["shared"].append(_request(definition, name, holders, system_ids, due))
    return plan


def hosts_outside(all_hosts, play_hosts, declared_by_host, shared_names):
    """Hosts outside this run whose own variables declare one of ``shared_names`` as a shared runner.

    Only a hint: variables set in a play are invisible here, which is why the reset guard reads GitLab.
    """
    in_play = set(play_hosts)
    wanted = set(shared_names)
    found = []
    for host in all_hosts:
        if host in in_play or host in found:
            continue
        for definition in declared_by_host.get(host) or ():
            if isinstance(definition, dict) and definition.get("name") in wanted and not definition.get("per_host"):
                found.append(host)
                break
    return found


# ---------------------------------------------------------------------------------------------------
# What each host writes


def _settled(result):
    return isinstance(result, dict) and not result.get("skipped") and not module_failed(result) \
        and isinstance(result.get("runner"), dict) and isinstance(result.get("item"), dict)


def host_entries(host, report, host_definitions, results, url, rotation="runner", now=None, ca_file=None):
    """The ``runner_config_sync`` entries of one host, from the settled runners it declares.

    ``ca_file``: the CA bundle the role put on the host for its GitLab, written as ``tls-ca-file`` of each runner
    of that GitLab whose settings name none (another instance's runners name their own).

    ``results``: the ``gitlab_runner_create`` results (shared ones and this host's per-host ones), each with its
    request as ``item``. Returns ``{"runners": [...], "pending": [...]}``: pending are entries check mode cannot
    write yet, because GitLab has not issued their token (``name``, ``runner_id``, and ``token_source``: what a
    real run would do, ``would_create`` or ``would_reset``).
    """
    now = now or datetime.datetime.now(UTC)
    declared = {runner_name(definition, host): definition for definition in host_definitions
                if definition["state"] == "present"}
    runners, pending = [], []
    for result in results:
        if not _settled(result):
            continue
        name = result["runner"].get("description") or result["item"].get("name")
        definition = declared.get(name)
        if definition is None:
            continue  # a shared runner this host does not declare
        held = report.entry(name) if report else None
        token = result.get("token")
        if not token and held is None:
            pending.append({"name": name, "runner_id": result["runner"].get("id"),
                            "token_source": result.get("token_source")})
            continue
        settings = definition.get("settings") or {}
        if rotation == "central":
            settings = merge(settings, CENTRAL_SETTINGS)
        if ca_file and not definition.get("api_url") and "tls-ca-file" not in settings:
            settings = dict(settings, **{"tls-ca-file": ca_file})
        entry = {"name": name, "url": entry_url(definition, url), "executor": definition.get("executor") or "shell",
                 "settings": settings}
        if result["runner"].get("id"):
            entry["id"] = result["runner"]["id"]
        if token:
            entry["token"] = token
            entry["token_obtained_at"] = obtained_at(result, held, now=now)
            if result.get("token_expires_at"):
                entry["token_expires_at"] = result["token_expires_at"]
        runners.append(entry)
    return {"runners": runners, "pending": pending}


def entry_url(definition, default):
    """The URL gitlab-runner uses for a definition's runner: its own ``url``, else its instance's, else the role's."""
    return definition.get("url") or definition.get("api_url") or default


def instances(definitions_by_host):
    """``{api_url: api_token}`` of the other GitLab instances the definitions name (holds tokens).

    Requests carry only the ``api_url``; a task finds the token here, so no loop item ever holds one.
    """
    found = {}
    for host, definitions in definitions_by_host.items():
        for definition in definitions or ():
            if not definition.get("api_url"):
                continue
            url = definition["api_url"]
            if found.setdefault(url, definition["api_token"]) != definition["api_token"]:
                raise _definition_error(f"gitlab_runner_runners[{definition['name']}] of {host}",
                                        f"api_url {url} is given with two different api_tokens.",
                                        "give every definition of one instance the same api_token (a group_vars "
                                        "variable, say).")
    return found


def pending_notes(entries_by_host):
    """What check mode cannot show, said as what a real run would do: create the runner, or reset its token."""
    created, reset = {}, {}
    for entries in entries_by_host.values():
        for item in entries.get("pending") or ():
            (reset if item.get("token_source") == "would_reset" else created)[item["name"]] = item.get("runner_id")
    notes = []
    if created:
        notes.append(f"{', '.join(sorted(created))}: GitLab would create the runner, then its entry would be added "
                     "to config.toml; check mode cannot show the token GitLab has not issued yet.")
    if reset:
        named = ", ".join(f"{name} (runner {runner_id})" for name, runner_id in sorted(reset.items()))
        notes.append(f"{named}: the runner exists in GitLab and no host of the run holds a token GitLab accepts, so "
                     "its token would be reset and written to config.toml; check mode cannot show the new token.")
    return notes


def obtained_at(result, held=None, lenders=(), now=None):
    """When the token a result settles was obtained: a token keeps its age on every host it reaches.

    This host's own time when it already carries the token (``held``); else the time ``gitlab_runner_create``
    returns (the earliest its holders knew for a token handed on, the time of issue for a new one); else the time
    a host that lent the token wrote (``lenders``, entries). Only a token nobody knew the age of gets ``now``,
    the moment GitLab confirmed it.
    """
    token = result.get("token")
    if held is not None and held.token == token and held.token_obtained_at:
        return held.token_obtained_at
    known = known_time(result.get("token_obtained_at"))
    if known:
        return known
    for lent in lenders:
        if lent.token == token and lent.token_obtained_at:
            return lent.token_obtained_at
    return known_time(now or datetime.datetime.now(UTC))


def merge(base, extra):
    """``base`` with ``extra`` merged in, tables recursively."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def settled_report(results):
    """One line per settled runner: its name, id and where its token came from. Never a token."""
    lines = []
    for result in results:
        if not _settled(result):
            continue
        runner = result["runner"]
        line = f"{runner.get('description')}: runner {runner.get('id') or '(new)'}, token " \
               f"{result.get('token_source') or 'unchanged'}"
        changes = attribute_changes(result)
        if changes:
            line += f"; {', '.join(changes)}"
        ignored = [item.get("host") or item.get("system_id") for item in result.get("ignored_known_tokens") or ()]
        if ignored:
            line += f"; set aside what {', '.join(ignored)} held (not a runner token)"
        lines.append(line)
    return lines


# What the runner's diff shows besides its identity.
IDENTITY = ("id", "owner", "description", "runner_type")


def attribute_changes(result):
    """``["tags ['docker'] -> ['docker', 'linux']", ...]``: what gitlab_runner_create changed (or, in check mode,
    would change) in an existing runner, from its diff; a created runner has no before."""
    diff = result.get("diff") if isinstance(result.get("diff"), dict) else {}
    before, after = diff.get("before") or {}, diff.get("after") or {}
    if not before or not after:
        return []
    return [f"{key} {before.get(key)!r} -> {after.get(key)!r}" for key in after
            if key not in IDENTITY and before.get(key) != after.get(key)]


def module_failed(result):
    """Whether a registered module result is a failure: ``failed``, or registered with ``failed_when: false`` (so that
    a ``no_log`` task's message reaches the step that reports it) and holding the module's ``msg``, which the
    collection's modules return only when they fail."""
    if not isinstance(result, dict) or result.get("skipped") or result.get("unreachable"):
        return False
    return bool(result.get("failed")) or ("failed_when_result" in result and "msg" in result)


def failures(results):
    """One line per runner ``gitlab_runner_create`` could not settle: its name and the module's message, which
    names what was done, GitLab's answer and the fix, never a token."""
    lines = []
    for result in results or ():
        if module_failed(result):
            item = result.get("item") if isinstance(result.get("item"), dict) else {}
            label = item.get("name") or item.get("api_url") or item.get("key")
            message = result.get("msg") or "failed without a message"
            lines.append(f"{label}: {message}" if label else message)
    return lines


def config_change_line(result):
    """What ``runner_config_sync`` changed in one config.toml, as one line."""
    def names(key):
        return ", ".join(str(name) for name in result.get(key) or ()) or "none"

    globals_changed = result.get("global_settings_changed") or ()
    head = f"global settings changed: {', '.join(globals_changed)}" if globals_changed else "global settings unchanged"
    return (f"{head}; added {names('added')}; updated {names('updated')}; removed {names('removed')}; "
            f"unregistered {names('unregistered')}")


def config_changes(results_by_host):
    """One line per host whose config.toml changed (or would, in check mode), then how many hosts stayed as they
    were; hosts without a result (failed, unreachable) are left out."""
    lines, unchanged = [], 0
    for host, result in results_by_host.items():
        if result.get("changed"):
            lines.append(f"{host}: {config_change_line(result)}")
        else:
            unchanged += 1
    lines.append(f"config.toml unchanged on {unchanged} of {len(results_by_host)} hosts")
    return lines
