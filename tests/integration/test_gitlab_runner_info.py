# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""gitlab_runner_info in real ansible-playbook runs against the GitLab simulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

ADMIN = "glpat-root-admin-0000000000"
OWNER = "glpat-olivia-owner-00000000"
LEAST = "glpat-olivia-least-00000000"

RECENTLY = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()

SEED = {
    "users": [
        {"username": "root", "admin": True, "tokens": [{"token": ADMIN, "scopes": ["api"], "name": "admin"}]},
        {"username": "olivia", "tokens": [
            {"token": OWNER, "scopes": ["api"], "name": "owner"},
            {"token": LEAST, "scopes": ["read_api", "create_runner"], "name": "least"},
        ]},
    ],
    "groups": [{"path": "platform", "members": {"olivia": "owner"}}, {"path": "platform/ci"}],
    "projects": [{"path": "platform/ci/app"}],
    "runners": [
        {"id": 1, "description": "shared", "runner_type": "instance_type", "tag_list": ["docker"]},
        {"id": 2, "description": "parent", "group": "platform", "tag_list": ["linux"]},
        {"id": 3, "description": "docker", "group": "platform/ci", "tag_list": ["docker", "linux"],
         "token": "glrt-t2_secretofrunner00003",
         "managers": [{"system_id": "s_host00000001", "version": "18.2.0", "platform": "linux",
                       "contacted_at": RECENTLY},
                      {"system_id": "s_host00000002", "version": "18.1.0"}]},
        {"id": 4, "description": "paused", "group": "platform/ci", "paused": True},
        {"id": 5, "description": "app", "project": "platform/ci/app", "tag_list": ["app"]},
    ],
}


@pytest.fixture
def sim(make_sim):
    return make_sim(SEED)


def play(sim, tasks, token=OWNER):
    return {
        "name": "Read runners",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/runnerops.gitlab.gitlab": {"api_url": sim.url, "api_token": token}},
        "tasks": tasks,
    }


def info(task="Read runners", **params):
    return {"name": task, "runnerops.gitlab.gitlab_runner_info": params, "register": "found"}


def ids(result):
    return [runner["id"] for runner in result["runners"]]


def test_group_runners_with_their_managers_and_owner(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [info(group="platform/ci", runner_type="group_type")]), verbosity=3)
    assert run.rc == 0, run.output
    result = run.result("Read runners")
    assert result["changed"] is False
    # GitLab lists the parent group's runner for the subgroup too; owner tells them apart.
    assert ids(result) == [2, 3, 4]
    by_id = {runner["id"]: runner for runner in result["runners"]}
    assert by_id[2]["owner"] == {"type": "group", "id": 1, "path": "platform"}
    assert by_id[3]["owner"] == {"type": "group", "id": 2, "path": "platform/ci"}
    assert [(m["system_id"], m["version"]) for m in by_id[3]["managers"]] == [
        ("s_host00000001", "18.2.0"), ("s_host00000002", "18.1.0")]
    assert (by_id[3]["status"], by_id[3]["online"]) == ("online", True)
    assert by_id[2]["status"] == "never_contacted"
    assert by_id[4]["paused"] is True
    assert "glrt-" not in run.output
    # Group, one list, then per runner its details and its managers.
    assert len(sim.requests()) == 2 + 2 * 3
    assert sim.requests("POST") == []


@pytest.mark.parametrize("params, expected", [
    ({"group": "platform/ci", "name": "docker"}, [3]),
    ({"group": "platform/ci", "tags": ["linux", "docker"]}, [3]),
    ({"group": "platform/ci", "paused": True}, [4]),
    ({"group": "platform/ci", "status": "online"}, [3]),
    ({"group": "platform/ci", "status": "never_contacted", "runner_type": "group_type"}, [2, 4]),
    ({"project": "platform/ci/app", "runner_type": "project_type"}, [5]),
    ({"id": 3}, [3]),
    ({"id": 999}, []),
])
def test_filters(sim, ansible_playbook, params, expected):
    run = ansible_playbook(play(sim, [info(managers=False, **params)]))
    assert run.rc == 0, run.output
    result = run.result("Read runners")
    assert ids(result) == expected
    assert all(runner["managers"] is None for runner in result["runners"])
    assert sim.requests("GET", r"/api/v4/runners/\d+/managers") == []


def test_name_filter_reads_only_the_match(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [info(group="platform/ci", name="docker")]))
    assert run.rc == 0, run.output
    assert [(e["method"], e["path"]) for e in sim.requests()] == [
        ("GET", "/api/v4/groups/platform%2Fci"), ("GET", "/api/v4/groups/2/runners"),
        ("GET", "/api/v4/runners/3"), ("GET", "/api/v4/runners/3/managers")]


def test_project_runner_owner_is_the_project(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [info(project="platform/ci/app", runner_type="project_type")]))
    assert run.rc == 0, run.output
    [runner] = run.result("Read runners")["runners"]
    assert runner["owner"] == {"type": "project", "id": 1, "path": "platform/ci/app"}


def test_all_runners_as_administrator_and_refused_otherwise(sim, ansible_playbook):
    admin = ansible_playbook(play(sim, [info(all_runners=True, managers=False)], token=ADMIN))
    assert admin.rc == 0, admin.output
    assert ids(admin.result("Read runners")) == [1, 2, 3, 4, 5]

    user = ansible_playbook(play(sim, [info(all_runners=True)]))
    assert user.rc != 0
    result = user.result("Read runners")
    assert result["status"] == 403
    assert "Listing the runners of the instance failed: GitLab answered 403" in result["msg"]
    assert "administrator" in result["msg"]


def test_check_once_then_create_without_preflight(sim, ansible_playbook):
    tasks = [
        info(task="Check the token once", check_scopes=["read", "create"], gather_runners=False),
        {"name": "Ensure the runner", "no_log": True, "register": "ensured",
         "runnerops.gitlab.gitlab_runner_create": {"name": "new", "runner_type": "group_type",
                                                   "group": "platform/ci", "preflight": False}},
    ]
    run = ansible_playbook(play(sim, tasks, token=LEAST))
    assert run.rc == 0, run.output
    assert run.result("Check the token once")["gitlab"] == {"version": "17.11.1-ee",
                                                            "scopes": ["read_api", "create_runner"]}
    assert [(e["method"], e["path"]) for e in sim.requests()] == [
        ("GET", "/api/v4/personal_access_tokens/self"), ("GET", "/api/v4/version"),
        ("GET", "/api/v4/groups/platform%2Fci"), ("GET", "/api/v4/groups/2/runners"),
        ("POST", "/api/v4/user/runners"), ("GET", "/api/v4/groups/2/runners")]


def test_check_scopes_fails_naming_the_missing_scope(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [info(check_scopes=["manage"])], token=LEAST))
    assert run.rc != 0
    msg = run.result("Read runners")["msg"]
    assert "has the scopes read_api, create_runner" in msg
    assert "it needs one of the scopes api, manage_runner" in msg
    assert len(sim.requests()) == 2


def test_gitlab_without_managers_endpoint_says_so(make_sim, ansible_playbook):
    sim = make_sim(dict(SEED, settings={"version": "16.11.0-ee"}))
    # GitLab 16 has no REST route for managers; its catch-all answers 404 like this.
    sim.fault(r"/api/v4/runners/\d+/managers", method="GET", status=404, body={"error": "404 Not Found"},
              times=None)
    run = ansible_playbook(play(sim, [info(group="platform/ci", runner_type="group_type")]))
    assert run.rc == 0, run.output
    result = run.result("Read runners")
    assert [runner["managers"] for runner in result["runners"]] == [None, None, None]
    assert "GitLab 16.11.0-ee has no REST endpoint for runner managers" in run.output
    assert len(sim.requests("GET", r"/api/v4/runners/\d+/managers")) == 1


def test_check_mode_reads_and_changes_nothing(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [info(group="platform/ci", name="docker")]), check=True)
    assert run.rc == 0, run.output
    assert ids(run.result("Read runners")) == [3]
    assert run.changed() == 0
    assert [e for e in sim.requests() if e["method"] != "GET"] == []
