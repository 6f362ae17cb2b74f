# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The troubleshooting page quotes the messages the collection really prints.

One playbook provokes each failure the page explains, against the GitLab API simulator and local files, and
every message it prints must appear word for word on the page (docs/docsite/rst/troubleshooting.rst), so
the page cannot drift from the code. The health check's and the rollout's messages, which need live services,
come from the functions that word them, given the page's names.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet, _health
from ansible_collections.runnerops.gitlab.plugins.plugin_utils import _plan
from tests.conftest import REPO_ROOT, PlaybookRun, playbook_env
from tests.gitlab_sim.process import SimProcess

PAGE = REPO_ROOT / "docs" / "docsite" / "rst" / "troubleshooting.rst"
CONFIG = "/etc/gitlab-runner/config.toml"

SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [
        {"username": "fleet", "tokens": [
            {"token": "glpat-fleet-full", "scopes": ["read_api", "create_runner", "manage_runner"], "name": "runner-fleet"},
            {"token": "glpat-fleet-no-manage", "scopes": ["read_api", "create_runner"], "name": "runner-fleet"},
            {"token": "glpat-fleet-create-only", "scopes": ["create_runner"], "name": "runner-fleet"},
            {"token": "glpat-fleet-expired", "scopes": ["api"], "name": "runner-fleet", "expires_at": "2025-01-01"},
            {"token": "glpat-fleet-revoked", "scopes": ["api"], "name": "runner-fleet", "revoked": True},
        ]},
        {"username": "maria", "tokens": [{"token": "glpat-maria", "scopes": ["api"], "name": "maria-laptop"}]},
        {"username": "dev", "tokens": [{"token": "glpat-dev", "scopes": ["api"], "name": "dev-laptop"}]},
    ],
    "groups": [{"path": "platform/ci", "members": {"fleet": "owner", "maria": "maintainer"}}],
    "projects": [{"path": "platform/ci/app", "members": {"dev": "developer"}}],
    "runners": [
        {"id": 41, "description": "docker-linux", "group": "platform/ci", "tag_list": ["docker"]},
        {"id": 57, "description": "docker-linux", "group": "platform/ci", "tag_list": ["docker"]},
        {"id": 60, "description": "shell-linux", "group": "platform/ci", "tag_list": ["shell"]},
        # Used by a live host that is not part of the run: a reset would cut it off.
        {"id": 61, "description": "cache-linux", "group": "platform/ci", "tag_list": ["cache"],
         "created_at": "2026-01-01T00:00:00Z",
         "managers": [{"system_id": "s_4d3c2b1a0f9e", "ip_address": "10.0.0.5", "version": "17.11.0",
                       "contacted_at": (datetime.datetime.now(datetime.timezone.utc)
                                        - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")}]},
        # Created moments ago by another run, which is still handing its token out.
        {"id": 62, "description": "gpu-linux", "group": "platform/ci", "tag_list": ["gpu"]},
    ],
}
# The page shows one moment for the times these messages name.
PAGE_TIME = "2026-11-30T09:41:12.000Z"
TIMED = ("live-manager", "young-runner")

CREATE = {"name": "docker-macos", "runner_type": "group_type", "group": "platform/ci", "tags": ["macos"]}

# (id, module, arguments): each task must fail; its message must be on the page.
API_FAILURES = [
    ("410", "gitlab_runner_create", dict(CREATE, api_token="glpat-fleet-full")),
    ("scope-role-preflight", "gitlab_runner_info",
     {"api_token": "glpat-fleet-no-manage", "check_scopes": ["read", "create", "manage"], "gather_runners": False}),
    ("scope-module-preflight", "gitlab_runner_create", dict(CREATE, api_token="glpat-fleet-create-only")),
    ("scope-gitlab", "gitlab_runner_create", dict(CREATE, api_token="glpat-fleet-create-only", preflight=False)),
    ("role-group", "gitlab_runner_create", dict(CREATE, api_token="glpat-maria")),
    ("role-project", "gitlab_runner_create",
     {"api_token": "glpat-dev", "name": "app-build", "runner_type": "project_type", "project": "platform/ci/app",
      "tags": ["build"]}),
    ("role-instance", "gitlab_runner_create",
     {"api_token": "glpat-fleet-full", "name": "shared-small", "runner_type": "instance_type", "tags": ["small"]}),
    ("401-expired", "gitlab_runner_info",
     {"api_token": "glpat-fleet-expired", "check_scopes": ["read", "create", "manage"], "gather_runners": False}),
    ("401-revoked", "gitlab_runner_info",
     {"api_token": "glpat-fleet-revoked", "check_scopes": ["read", "create", "manage"], "gather_runners": False}),
    ("401-unknown", "gitlab_runner_info",
     {"api_token": "glpat-typo", "check_scopes": ["read", "create", "manage"], "gather_runners": False}),
    ("ambiguous", "gitlab_runner_create",
     {"api_token": "glpat-fleet-full", "name": "docker-linux", "runner_type": "group_type", "group": "platform/ci"}),
    ("token-reset-never", "gitlab_runner_create",
     {"api_token": "glpat-fleet-full", "name": "shell-linux", "runner_type": "group_type", "group": "platform/ci",
      "known_tokens": [{"token": "glrt-t2_rotatedAwayLongAgo0", "system_id": "s_0123456789ab"}],
      "token_reset": "never"}),
    ("live-manager", "gitlab_runner_create",
     {"api_token": "glpat-fleet-full", "name": "cache-linux", "runner_type": "group_type", "group": "platform/ci",
      "known_tokens": [{"token": "glrt-t2_rotatedAwayLongAgo1", "system_id": "s_0123456789ab", "host": "runner-03"}]}),
    ("young-runner", "gitlab_runner_create",
     {"api_token": "glpat-fleet-full", "name": "gpu-linux", "runner_type": "group_type", "group": "platform/ci",
      "known_tokens": [], "run_system_ids": ["s_0123456789ab"]}),
]

CONFIG_FILES = {
    "toml-syntax": 'concurrent = 4\n\n[[runners]]\n  name = "docker-linux"\n  executor = docker\n',
    "toml-runners-table": 'concurrent = 4\n\n[runners]\n  name = "docker-linux"\n  executor = "docker"\n',
    "toml-table-twice": ('concurrent = 4\n\n[[runners]]\n  name = "docker-linux"\n  executor = "docker"\n'
                         '  [runners.docker]\n    image = "alpine:3.20"\n  [runners.docker]\n    privileged = false\n'),
    "toml-duplicate": ('concurrent = 4\n\n'
                       '[[runners]]\n  name = "docker-linux"\n  url = "https://gitlab.example.com"\n  id = 41\n'
                       '  token = "glrt-t2_firstRegistration00"\n  executor = "docker"\n\n'
                       '[[runners]]\n  name = "docker-linux"\n  url = "https://gitlab.example.com"\n  id = 57\n'
                       '  token = "glrt-t2_secondRegistration0"\n  executor = "docker"\n'),
}


# Two hosts cloned from one image: the role refuses them before it changes anything.
CLONED_HOSTS = ("runner-01", "runner-02")
CLONED_SYSTEM_ID = "s_5a1d2b3c4e5f"


def page_text():
    """The page as a reader sees it: literal blocks and paragraphs joined, white space made single."""
    return re.sub(r"\s+", " ", PAGE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """``{id: message}`` of every failure: one playbook of failing module tasks, one run of the role."""
    work = tmp_path_factory.mktemp("troubleshooting")
    (work / "seed.yml").write_text(yaml.safe_dump(SEED), encoding="utf-8")
    with SimProcess(work / "seed.yml") as sim:
        # GitLab's answer when registration tokens are disabled, on the first call of the first task.
        sim.fault("/api/v4/personal_access_tokens/self", method="GET", status=410,
                  body={"message": "410 Gone - runner registration disallowed"})
        tasks = []
        for name, module, arguments in API_FAILURES:
            tasks.append({"name": name, f"runnerops.gitlab.{module}": dict(arguments, api_url=sim.url),
                          "ignore_errors": True})
        for name, text in CONFIG_FILES.items():
            path = work / name / "config.toml"
            path.parent.mkdir()
            path.write_text(text, encoding="utf-8")
            module = "runner_config_sync" if name == "toml-duplicate" else "runner_config_info"
            arguments = {"path": str(path)}
            if module == "runner_config_sync":
                arguments["runners"] = [{"name": "docker-linux", "executor": "docker"}]
            tasks.append({"name": name, f"runnerops.gitlab.{module}": arguments, "ignore_errors": True})
        playbook = work / "playbook.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                                           sort_keys=False), encoding="utf-8")
        modules = run_playbook(work, "modules", ["-i", "localhost,", "-c", "local", str(playbook)])
        role = run_playbook(work, "role", ["-i", str(cloned_inventory(work, sim.url)), "runnerops.gitlab.site"])
    messages = {}
    for name in [entry[0] for entry in API_FAILURES] + list(CONFIG_FILES):
        records = modules.tasks(name)
        assert [record["status"] for record in records] == ["ignored"], f"{name} did not fail: {records}"
        message = records[0]["result"]["msg"]
        for config_name in CONFIG_FILES:
            message = message.replace(str(work / config_name / "config.toml"), CONFIG)
        if name in TIMED:
            message = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", PAGE_TIME, message)
        if name == "410":
            # The fault stands in for GitLab on the first call; the page quotes what follows the step's name.
            message = message[message.index("GitLab answered 410"):]
        messages[name] = message
    failed = [record for record in role.records if record["type"] == "task" and record["status"] == "failed"]
    # Both hosts stop on the step that reads them, the first one saying why.
    assert [record["task"] for record in failed] == \
        ["runnerops.gitlab.gitlab_runner : Stop on problems of what the hosts hold"] * 2, role.output
    messages["shared-system-id"] = failed[0]["result"]["msg"]
    return messages


def run_playbook(work, name, arguments):
    results = work / f"{name}.jsonl"
    command = [str(Path(sys.executable).parent / "ansible-playbook"), *arguments]
    proc = subprocess.run(command, cwd=work, env=playbook_env(work, {"RUNNEROPS_RESULTS_FILE": str(results)}),
                          capture_output=True, text=True, timeout=600, check=False)
    records = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines() if line]
    return PlaybookRun(command=command, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr, records=records)


def cloned_inventory(work, url):
    hosts = {}
    for host in CLONED_HOSTS:
        config_dir = work / host
        config_dir.mkdir()
        (config_dir / ".runner_system_id").write_text(CLONED_SYSTEM_ID, encoding="ascii")
        hosts[host] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "gitlab_runner_config_path": str(config_dir / "config.toml")}
    group_vars = {"gitlab_runner_api_url": url, "gitlab_runner_api_token": "glpat-fleet-full",
                  "gitlab_runner_install_method": "none", "gitlab_runner_manage_service": False,
                  "gitlab_runner_become": False,
                  "gitlab_runner_runners": [{"name": "platform-shell", "runner_type": "group_type",
                                             "group": "platform/ci", "tags": ["shell"], "executor": "shell"}]}
    fleet = {"gitlab_runners": {"hosts": hosts, "vars": group_vars}}
    inventory = work / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": fleet}}), encoding="utf-8")
    return inventory


@pytest.mark.parametrize("name", [entry[0] for entry in API_FAILURES] + list(CONFIG_FILES) + ["shared-system-id"])
def test_the_page_quotes_the_message_word_for_word(printed, name):
    assert re.sub(r"\s+", " ", printed[name]) in page_text(), printed[name]


def health_messages():
    """The health check's and the rollout's refusals, from the code that words them, with the page's names."""
    runners = [{"id": 41, "name": "docker-linux", "hosts": {"runner-03": "s_0123456789ab"}}]

    def read(contacted_at):
        return [{"item": {"id": 41}, "runners": [{"id": 41, "managers": [
            {"system_id": "s_0123456789ab", "contacted_at": contacted_at, "version": "17.10.1"}]}]}]

    before = read(PAGE_TIME)
    silent = _health.problems(runners, before, before, "17.11.0", host="runner-03")
    other_version = _health.problems(runners, before, read("2026-11-30T09:45:12.000Z"), "17.11.0", host="runner-03")
    elsewhere = _fleet.host_report("runner-04", {"system_id": "s_0123456789ac", "runners": [
        {"name": "docker-linux", "id": 41, "url": "https://gitlab.internal.example.com"}]})
    return {"health-silent": " ".join(silent), "health-version": " ".join(other_version),
            "upgrade-unconfirmable": _health.unconfirmable([elsewhere], "https://gitlab.example.com")["runner-04"]}


def stop_messages():
    """Why the role stopped before any change, from the code that words it, with the page's names."""
    carried = _fleet.HostReport("runner-02", "s_0123456789ab", "file", tuple(
        _fleet.HeldEntry("runner-02", "s_0123456789ab", name) for name in ("docker-linux", "shell-linux")))
    return {
        "stop-pointer": _plan.stops(["runner-01", "runner-02"], {}, ["a problem of the run."])["runner-02"],
        "stop-blocked": _plan.blocked_by({"runner-01": "runner-01: unreadable"},
                                         {"runner-01": [{"name": "docker-linux"}],
                                          "runner-02": [{"name": "docker-linux"}]})["runner-02"],
        "stop-empty": _plan.empty_config_problem("runner-02", carried, [], False),
        "look-alike": "gitlab_runners_runners is not a variable of the role; did you mean {}?".format(
            _plan.look_alikes(["gitlab_runners_runners"], ["gitlab_runner_runners"])["gitlab_runners_runners"]),
    }


@pytest.mark.parametrize("name", sorted(stop_messages()))
def test_the_page_quotes_the_stop_messages_word_for_word(name):
    message = stop_messages()[name]
    assert re.sub(r"\s+", " ", message) in page_text(), message


@pytest.mark.parametrize("name", sorted(health_messages()))
def test_the_page_quotes_the_health_messages_word_for_word(name):
    message = health_messages()[name]
    assert re.sub(r"\s+", " ", message) in page_text(), message
