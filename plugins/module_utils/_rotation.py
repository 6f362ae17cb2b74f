# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Central token rotation: which runners are due, which may be reset, what each host writes.

Plain data in, plain data out (``playbooks/rotate_tokens.yml`` wires it through the ``rotation_*`` filters).
Only the writes of a host carry tokens; everything else is safe to show.
"""

from __future__ import annotations

import datetime

from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import expiring_before, verify_check
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import (
    LIVE_WINDOW, describe_manager, live_managers, seconds as window_seconds)
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import owner_arguments
from ansible_collections.runnerops.gitlab.plugins.module_utils._times import known_time, read_time
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import is_runner_token

ROTATE = "rotate"
NOT_DUE = "not_due"
GONE = "gone"
UNNAMED = "unnamed"
BLOCKED = "blocked"
# States whose runner keeps its token and whose entries this run leaves untouched.
LEFT = (GONE, UNNAMED, BLOCKED)

REASON_ALL = "rotate_all is set"
REASON_DIFFERENT = "the hosts hold different tokens (one rotated on its own)"


def moment(now):
    """``now`` (text or datetime) as an aware datetime; fails when it cannot be read."""
    if isinstance(now, datetime.datetime):
        return now if now.tzinfo else now.replace(tzinfo=datetime.timezone.utc)
    parsed = read_time(now)
    if parsed is None:
        raise RunnerOpsError("Planning the token rotation", f"the current time {now!r} is not an ISO 8601 time.",
                             fix="pass now(utc=true).isoformat().")
    return parsed


def seconds(value, what):
    return window_seconds(value, what, "Planning the token rotation")


def _rotated_token(entry):
    """Entries this playbook rotates: ``glrt-`` tokens with the runner id gitlab-runner wrote beside them."""
    return entry.runner_id is not None and is_runner_token(entry.token)


def due_runners(reports, now, within, rotate_all=False):
    """Every runner the hosts carry, grouped by runner id, with why it is due (``reason``, empty when not).

    ``reports`` are ``HostReport`` objects. A token whose expiry is gitlab-runner's zero time never expires.
    Each item is ``{id, name, holders: [{host, system_id, name, expires}], reason}``; tokens stay out.
    """
    now = moment(now)
    limit = now + datetime.timedelta(seconds=seconds(within, "rotate_expiring_within"))
    holders_of, tokens_of = {}, {}
    for report in reports:
        for entry in report.entries:
            if not _rotated_token(entry):
                continue
            holders_of.setdefault(entry.runner_id, []).append(
                {"host": report.host, "system_id": report.system_id, "name": entry.name,
                 "expires": known_time(entry.token_expires_at)})
            tokens_of.setdefault(entry.runner_id, set()).add(entry.token)
    runners = []
    for runner_id in sorted(holders_of):
        holders = sorted(holders_of[runner_id], key=lambda holder: (holder["host"], holder["name"]))
        expiring = expiring_before((holder["expires"] for holder in holders), limit)
        if rotate_all:
            reason = REASON_ALL
        elif len(tokens_of[runner_id]) > 1:
            reason = REASON_DIFFERENT
        elif expiring:
            reason = f"the token expires {expiring[0]}"
        else:
            reason = ""
        runners.append({"id": runner_id, "name": holders[0]["name"], "holders": holders, "reason": reason})
    return runners


def details_by_id(read_results):
    """``{runner id: runner}`` from ``gitlab_runner_info`` results looped over due runners (``item.id``)."""
    found = {}
    for result in read_results or ():
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        runner_id = (result.get("item") or {}).get("id")
        runners = result.get("runners") or []
        if runner_id is not None:
            found[runner_id] = runners[0] if runners and isinstance(runners[0], dict) else None
    return found


def plan(runners, details, run_system_ids, now, window=LIVE_WINDOW):
    """The decision per runner: ``state`` (rotate, not_due, gone, unnamed, blocked) and a ``message``.

    ``details`` maps runner id to what GitLab holds (``None`` when gone). A due runner is blocked when one of
    its managers made contact within ``window`` seconds from a host whose system id no host of the run has:
    resetting would cut that host off. ``rotate_all`` does not lift the block; only the hosts can.
    """
    now = moment(now)
    window = seconds(window, "rotate_live_manager_window")
    items = []
    for runner in runners:
        runner_id, reason = runner["id"], runner["reason"]
        found = details.get(runner_id)
        outside = live_managers(found.get("managers"), run_system_ids, now, window) if found and reason else []
        if not reason:
            state = NOT_DUE
        elif not found:
            state = GONE
        elif not found.get("description"):
            state = UNNAMED
        elif outside:
            state = BLOCKED
        else:
            state = ROTATE
        label = (found or {}).get("description") or runner["name"]
        item = dict(runner, state=state, label=label, runner=found,
                    outside=[manager.get("system_id") for manager in outside])
        if found:
            item.update(owner_arguments(found.get("runner_type"), (found.get("owner") or {}).get("id")))
        item["message"] = _message(item, outside, window)
        items.append(item)
    return items


def _message(item, outside, window):
    hosts = ", ".join(sorted({holder["host"] for holder in item["holders"]}))
    head = f"{item['label']} (runner {item['id']}) on {hosts}: "
    state = item["state"]
    if state == ROTATE:
        return head + f"rotate, because {item['reason']}"
    if state == NOT_DUE:
        known = sorted((holder["expires"] for holder in item["holders"] if holder["expires"]), key=read_time)
        return head + f"not due (expires {known[0] if known else 'never'})"
    if state == GONE:
        return head + "GitLab no longer has this runner; give the hosts a runner with playbooks/site.yml"
    if state == UNNAMED:
        return head + "not rotated: the runner has no description; give it one in GitLab"
    return head + (
        f"not rotated although {item['reason']}: managers {', '.join(describe_manager(m) for m in outside)} "
        f"contacted GitLab within the last {window} seconds from hosts outside this run, and a new token would "
        "cut them off. Add their hosts to target, or wait until they have been silent for "
        f"rotate_live_manager_window ({window} seconds), then run again. rotate_all does not override this")


def host_writes(report, items, reset_results, settings=None, url=None):
    """What one host writes (``entries`` for ``runner_config_sync``) and verifies (``verify``). Holds tokens.

    ``items`` is the plan, ``reset_results`` the ``gitlab_runner_create`` results looped over the runners to
    rotate. Each new token is written with the ``token_obtained_at`` its reset returned, so it keeps its age.
    Entries of runners left alone (gone, unnamed, blocked) are not touched; the others get ``settings``.
    """
    settings = dict(settings or {})
    left = {item["id"] for item in items if item["state"] in LEFT}
    resets = {}
    for result in reset_results or ():
        if isinstance(result, dict) and not result.get("skipped") and result.get("token"):
            resets[(result.get("item") or {}).get("id")] = result
    entries, verify = [], []
    for entry in report.entries:
        if not _rotated_token(entry) or entry.runner_id in left:
            continue
        written = {"name": entry.name, "settings": settings}
        reset = resets.get(entry.runner_id)
        if reset:
            written.update(id=entry.runner_id, token=reset["token"])
            for key in ("token_obtained_at", "token_expires_at"):
                if reset.get(key):
                    written[key] = reset[key]
            verify.append(verify_check(entry, entry.runner_id, reset["token"], url))
        if "token" in written or settings:
            entries.append(written)
    return {"entries": entries, "verify": verify}


def reset_reports(reset_results):
    """What each reset gave, without its token: ``{name, id, token_source, token_obtained_at, token_expires_at,
    message}``."""
    reports = []
    for result in reset_results or ():
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        runner = result.get("runner") or {}
        item = result.get("item") or {}
        name = runner.get("description") or item.get("label")
        runner_id = runner.get("id", item.get("id"))
        expires = known_time(result.get("token_expires_at"))
        reports.append({
            "name": name, "id": runner_id, "token_source": result.get("token_source"),
            "token_obtained_at": result.get("token_obtained_at"), "token_expires_at": expires,
            "message": (f"{name}: runner {runner_id} token {result.get('token_source')}, expires {expires or 'never'}"
                        + (f", obtained {result['token_obtained_at']}" if result.get("token_obtained_at") else ""))})
    return reports


def summary(items, check_mode=False):
    """``{left, done, failure}``: the labels not rotated although due, and the play's last word either way."""
    rotated = ", ".join(item["label"] for item in items if item["state"] == ROTATE)
    waiting = ", ".join(item["label"] for item in items if item["state"] == NOT_DUE)
    left = [item["label"] for item in items if item["state"] in LEFT]
    head = "Check mode: nothing changed; would rotate " if check_mode else "Rotated "
    return {"left": left, "done": f"{head}{rotated or 'nothing'}; not due: {waiting or 'none'}.",
            "failure": f"Not rotated: {', '.join(left)} (see the plan above)." if left else ""}
