# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Moving runners registered with legacy registration tokens to runners made through the creation workflow.

Plain data in, plain data out (``playbooks/migrate_registration_tokens.yml`` wires it through the
``migration_*`` filters): which legacy runners to migrate and how, which tokens a host writes and checks, and
which legacy runners every host has left. Only the known tokens and a host's changes carry tokens; the plan,
the report of what was created and the deletions are safe to show.
"""

from __future__ import annotations


from ansible_collections.runnerops.gitlab.plugins.module_utils._fleet import obtained_at, verify_check
from ansible_collections.runnerops.gitlab.plugins.module_utils._managers import (
    LIVE_WINDOW, describe_manager, live_managers)
from ansible_collections.runnerops.gitlab.plugins.module_utils._runner_desired import owner_arguments
from ansible_collections.runnerops.gitlab.plugins.module_utils._tokens import is_runner_token

# The legacy runner's mark while it is migrated: its name is free for the new runner, and a rerun finds it.
SUFFIX = " (legacy, being migrated)"
TAG = "runnerops-migrating"


def is_legacy_token(token):
    """A registration-era token: neither a ``glrt-`` token nor an environment reference (``$VAR``)."""
    return bool(token) and not is_runner_token(token) and not token.startswith("$")


def results_of(registered):
    """The results of a registered loop (or the list itself), without the skipped ones."""
    if isinstance(registered, dict):
        registered = registered.get("results")
    return [result for result in registered or () if isinstance(result, dict) and not result.get("skipped")]


def legacy_entries(reports):
    """``[{host, system_id, name, id}]`` for every entry of the hosts that holds a legacy token."""
    return [{"host": report.host, "system_id": report.system_id, "name": entry.name, "id": entry.runner_id}
            for report in reports for entry in report.entries if is_legacy_token(entry.token)]


def _marked_runners(marked):
    # The first listing that answered: every runner (an administrator's token), else the token user's own.
    for result in results_of(marked if isinstance(marked, list) else [marked]):
        if isinstance(result.get("runners"), list):
            return result["runners"]
    return []


def _name(description, holders):
    if description.endswith(SUFFIX):
        description = description[:-len(SUFFIX)]
    return description or (holders[0]["name"] if holders else "")


def _attributes(runner):
    attributes = {"tags": [tag for tag in runner.get("tags") or () if tag != TAG],
                  "run_untagged": runner.get("run_untagged"), "locked": runner.get("locked"),
                  "access_level": runner.get("access_level"), "paused": runner.get("paused")}
    for optional in ("maximum_timeout", "maintenance_note"):
        if runner.get(optional):
            attributes[optional] = runner[optional]
    return attributes


def sources(entries, legacy_runners, marked_runners):
    """The legacy runners to migrate: those the entries name, then those an earlier run marked, each once."""
    found, seen = [], set()
    for runner in list(legacy_runners) + list(marked_runners):
        if not isinstance(runner, dict) or runner.get("id") in seen:
            continue
        seen.add(runner["id"])
        holders = sorted((entry for entry in entries if entry["id"] == runner["id"]), key=lambda entry: entry["host"])
        description = runner.get("description") or ""
        tags = list(runner.get("tags") or ())
        found.append({
            "id": runner["id"], "description": description, "name": _name(description, holders),
            "runner_type": runner.get("runner_type"), "owner": runner.get("owner") or {}, "tags": tags,
            **owner_arguments(runner.get("runner_type"), (runner.get("owner") or {}).get("id")),
            "marked": description.endswith(SUFFIX) and TAG in tags, "attributes": _attributes(runner),
            "managers": runner.get("managers") or [], "holders": holders})
    return found


def _owner_id(runner):
    return (runner.get("owner") or {}).get("id")


def _new_holders(new, reports):
    """The hosts whose entries already carry a ``glrt-`` token of ``new``, and those GitLab has not seen on it."""
    managers = {manager.get("system_id") for manager in new.get("managers") or ()}
    holding, unverified = [], []
    for report in reports:
        for entry in report.entries:
            if entry.runner_id != new["id"] or not is_runner_token(entry.token):
                continue
            if report.host not in holding:
                holding.append(report.host)
            if report.system_id not in managers:
                unverified.append({"host": report.host, "name": entry.name})
    return holding, unverified


def _blocked(source, candidates, twins, new, holding, live, window):
    """Why the runner cannot be migrated in this run, or an empty text."""
    if not source["name"]:
        return "it has no description to name the new runner after"
    if len(candidates) > 1:
        ids = " and ".join(str(candidate["id"]) for candidate in candidates)
        return f"runners {ids} already carry the name {source['name']}; delete the extra one"
    if twins:
        ids = " and ".join(str(runner_id) for runner_id in sorted([source["id"]] + twins))
        return (f"legacy runners {ids} share the description {source['name']}; give them distinct descriptions "
                "in GitLab first")
    if source["holders"] and new and not holding and live:
        # Its token would be reset for the hosts to move, and these hosts carry the token it has now.
        managers = ", ".join(describe_manager(manager) for manager in live)
        return (f"runner {new['id']} ({source['name']}) already serves live managers {managers} outside this run "
                f"(in contact within the last {window} seconds); add the hosts that already moved to it to target, "
                "so its token is reused instead of reset")
    return ""


def owner_label(owner):
    if owner.get("type") == "instance":
        return "the instance"
    return f"{owner.get('type')} {owner.get('path') or owner.get('id')}"


def plan_line(item):
    """What the run does with one legacy runner, in one sentence."""
    head = f"legacy runner {item['id']} ({item['description']}"
    if item["blocked"]:
        return f"{head}) cannot be migrated: {item['blocked']}."
    steps = []
    if item["new"]:
        steps.append(f"reuse runner {item['new']['id']} {item['name']} from an earlier run")
    elif item["holders"]:
        steps.append(f"create runner {item['name']} with the same attributes")
    if item["holders"]:
        steps.append("replace the token of " + ", ".join(f"{holder['host']} entry {holder['name']}"
                                                         for holder in item["holders"]))
    if item["unverified"]:
        steps.append(f"verify {', '.join(pending['host'] for pending in item['unverified'])}, already moved")
    steps.append(f"then delete legacy runner {item['id']} once every host using it verified runner {item['name']}")
    tags = ", ".join(item["attributes"]["tags"]) or "none"
    return (f"{head}, {item['runner_type']} of {owner_label(item['owner'])}, tags {tags}): "
            f"{'; '.join(steps)}.")


def plan_runners(found, reports, existing, now=None, window=LIVE_WINDOW):
    """Each legacy runner with the runner that replaces it (``new``, from an earlier run), the hosts already on
    it (``new_holders``), those GitLab has not seen on it yet (``unverified``) and why it is left (``blocked``).

    ``existing`` maps a legacy runner's id to the runners GitLab lists under its name.
    """
    run_system_ids = [report.system_id for report in reports]
    items = []
    for source in found:
        candidates = [runner for runner in existing.get(source["id"]) or ()
                      if runner.get("id") != source["id"] and _owner_id(runner) == _owner_id(source)]
        new = candidates[0] if len(candidates) == 1 else None
        twins = [other["id"] for other in found
                 if other["id"] != source["id"] and other["name"] == source["name"]
                 and other["runner_type"] == source["runner_type"] and _owner_id(other) == _owner_id(source)]
        holding, unverified = _new_holders(new, reports) if new else ([], [])
        live = live_managers(new.get("managers"), run_system_ids, now, window) if new else []
        item = dict(source, new=new, new_holders=holding, unverified=unverified,
                    blocked=_blocked(source, candidates, twins, new, holding, live, window),
                    mark_as=source["name"] + SUFFIX)
        item["line"] = plan_line(item)
        items.append(item)
    return items


def unusable_lines(entries, items):
    """The legacy entries no legacy runner of the plan accounts for, with what to do about each."""
    known = {item["id"] for item in items}
    lines = []
    for entry in entries:
        if entry["id"] is None:
            lines.append(f"{entry['host']} entry '{entry['name']}' has no runner id; add id = <the runner's id in "
                         "GitLab> to it and run again")
        elif entry["id"] not in known:
            lines.append(f"{entry['host']} entry '{entry['name']}' holds a legacy token of runner {entry['id']}, "
                         "which GitLab no longer has; give the host a runner with playbooks/site.yml and remove "
                         "the entry")
    return lines


def plan(reports, legacy=None, marked=None, existing=None, now=None, window=LIVE_WINDOW):
    """The migration as far as GitLab has been read.

    Without GitLab's answers, ``read`` names the legacy runners to read. With ``legacy`` (those reads) and
    ``marked`` (the listings of runners an earlier run marked), ``look_for`` names the new runners to look for.
    With ``existing`` (those lookups, each result's ``item`` being one of ``look_for``), ``runners`` is the plan.
    """
    entries = legacy_entries(reports)
    found = []
    if legacy is not None or marked is not None:
        legacy_runners = [runner for result in results_of(legacy) for runner in result.get("runners") or ()]
        found = sources(entries, legacy_runners, _marked_runners(marked))
    items = []
    if existing is not None:
        by_id = {}
        for result in results_of(existing):
            by_id.setdefault((result.get("item") or {}).get("id"), []).extend(result.get("runners") or ())
        items = plan_runners(found, reports, by_id, now, window)
    ready = [item for item in items if not item["blocked"]]
    settled = {item["id"] for item in ready}
    return {
        "read": sorted({entry["id"] for entry in entries if entry["id"] is not None}),
        "look_for": [{"id": source["id"], "name": source["name"], "runner_type": source["runner_type"],
                      "owner": source["owner"], **owner_arguments(source["runner_type"], source["owner"].get("id"))}
                     for source in found if source["name"]],
        "runners": items,
        # Legacy runners with hosts on them: marked first (frees the name), then replaced.
        "mark": [item for item in ready if item["holders"] and not item["marked"]],
        "create": [item for item in ready if item["holders"]],
        "unusable": unusable_lines(entries, items) if existing is not None else [],
        "left": [f"{entry['host']} entry '{entry['name']}'" for entry in entries if entry["id"] not in settled],
    }


def known_tokens(item, reports, details=False):
    """The ``glrt-`` tokens hosts already carry for the runner that replaces ``item`` (holds tokens).

    With ``details`` each also names its holder (``host``) and, when known, when it was obtained (``obtained_at``).
    """
    new = item.get("new") or {}
    holders = set(item.get("new_holders") or ())
    tokens, seen = [], set()
    for report in reports:
        if report.host not in holders or not report.system_id:
            continue
        for entry in report.entries:
            if not new or entry.runner_id != new.get("id") or not is_runner_token(entry.token):
                continue
            if (entry.token, report.system_id) in seen:
                continue
            seen.add((entry.token, report.system_id))
            known = {"token": entry.token, "system_id": report.system_id}
            if details:
                known["host"] = report.host
                if entry.token_obtained_at:
                    known["obtained_at"] = entry.token_obtained_at
            tokens.append(known)
    return tokens


def created_reports(results):
    """What each create gave, without its token: legacy runner, the runner replacing it, and the token's source."""
    reports = []
    for result in results_of(results):
        item, runner = result.get("item") or {}, result.get("runner") or {}
        if not runner:
            continue
        hosts = []
        for holder in item.get("holders") or ():
            if holder["host"] not in hosts:
                hosts.append(holder["host"])
        report = {"id": item.get("id"), "name": item.get("name"), "description": item.get("description"),
                  "new_id": runner.get("id"), "new_description": runner.get("description"),
                  "token_source": result.get("token_source"), "hosts": hosts}
        report["line"] = (f"{report['new_description']}: runner {report['new_id']} (token {report['token_source']}) "
                          f"replaces legacy runner {report['id']} on {', '.join(hosts)}")
        reports.append(report)
    return reports


def host_changes(report, items, results, url=None, lenders_of=None, now=None):
    """This host's new entries for ``runner_config_sync`` and the tokens to verify from it (holds tokens).

    ``lenders_of(item)`` gives the reports of the hosts that lent a token to an item's runner, read only when a
    create result does not say when its token was obtained.
    """
    created = {(result.get("item") or {}).get("id"): result for result in results_of(results)}
    entries, verify = [], []
    for entry in report.entries:
        result = created.get(entry.runner_id) if entry.runner_id is not None else None
        if not result or not result.get("token") or entry.token == result["token"]:
            continue
        names = [holder["name"] for holder in result["item"].get("holders") or () if holder["host"] == report.host]
        if entry.name not in names:
            continue
        runner_id = result["runner"]["id"]
        lenders = lenders_of(result["item"]) if lenders_of and result.get("token_source") == "existing" else ()
        lent = [held for lender in lenders for held in lender.entries]
        written = {"name": entry.name, "id": runner_id, "token": result["token"],
                   "token_obtained_at": obtained_at(result, lenders=lent, now=now)}
        if result.get("token_expires_at"):
            written["token_expires_at"] = result["token_expires_at"]
        entries.append(written)
        verify.append(verify_check(entry, runner_id, result["token"], url))
    for item in items:
        if item["blocked"] or not item["new"]:
            continue
        for pending in item["unverified"]:
            entry = report.entry(pending["name"]) if pending["host"] == report.host else None
            if entry is not None:
                verify.append(verify_check(entry, item["new"]["id"], entry.token, url))
    return {"entries": entries, "verify": verify}


def deletions(items, created, run_system_ids):
    """Which legacy runners every host has left (``delete``), and who still uses the others (``kept``).

    ``created`` is what ``created_reports`` returned; ``run_system_ids`` maps each host still in the run (a host
    that failed has left it) to its runner system id. A legacy runner is kept while a host of the plan did not
    move over, or a manager GitLab lists for it (not stale) has not checked in with the runner replacing it.
    """
    new_ids = {report["id"]: report["new_id"] for report in created or ()}
    delete, kept = [], []
    for item in items:
        if item["blocked"]:
            continue
        new_id = new_ids.get(item["id"]) or (item["new"] or {}).get("id")
        moved = {manager.get("system_id") for manager in (item["new"] or {}).get("managers") or ()}
        moved.update(run_system_ids[host] for host in [holder["host"] for holder in item["holders"]]
                     + list(item["new_holders"]) if host in run_system_ids)
        users = [] if new_id else [f"no runner {item['name']} replaces it yet"]
        users += [f"host {holder['host']} (it did not move over)" for holder in item["holders"]
                  if holder["host"] not in run_system_ids]
        # A stale manager has not been in contact for days; any other may still be running on the legacy token.
        users += [f"manager {manager.get('system_id')} ({manager.get('status')})" for manager in item["managers"]
                  if manager.get("status") != "stale" and manager.get("system_id") not in moved]
        users = list(dict.fromkeys(users))
        if users:
            kept.append(f"legacy runner {item['id']} ({item['description']}) kept, still used by {', '.join(users)}")
        else:
            delete.append(dict(item, new_id=new_id))
    return {"delete": delete, "kept": kept}
