# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""gitlab_runner_info's main() against the GitLab simulator: what Ansible receives."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runnerops.gitlab.plugins.modules import gitlab_runner_info

TOKEN = "glpat-owner-0001"


def seed(**extra):
    data = {
        "users": [{"username": "olivia", "tokens": [{"token": TOKEN, "scopes": ["read_api", "create_runner"]}]}],
        "groups": [{"path": "platform", "members": {"olivia": "owner"}}, {"path": "platform/ci"}],
        "runners": [
            {"id": 1, "description": "parent-runner", "group": "platform", "tag_list": ["linux"]},
            {"id": 2, "description": "docker", "group": "platform/ci", "tag_list": ["docker", "linux"],
             "managers": [{"system_id": "s_aaaaaaaaaaaa", "version": "18.2.0"}]},
            {"id": 3, "description": "paused-one", "group": "platform/ci", "paused": True},
        ],
    }
    data.update(extra)
    return data


@pytest.fixture
def sim(make_sim):
    return lambda data=None: make_sim(data or seed())


def args(sim, **params):
    base = {"api_url": sim.url, "api_token": TOKEN}
    base.update(params)
    return base


def test_group_runners_with_owner_and_managers_and_no_token(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_info, args(gitlab, group="platform/ci"))
    assert result["changed"] is False
    by_id = {runner["id"]: runner for runner in result["runners"]}
    # GitLab lists the parent group's runner too; its owner tells it apart.
    assert sorted(by_id) == [1, 2, 3]
    assert by_id[1]["owner"] == {"type": "group", "id": 1, "path": "platform"}
    assert by_id[2]["owner"] == {"type": "group", "id": 2, "path": "platform/ci"}
    assert by_id[2]["tags"] == ["docker", "linux"]
    assert [m["system_id"] for m in by_id[2]["managers"]] == ["s_aaaaaaaaaaaa"]
    assert by_id[3]["paused"] is True
    assert "glrt-" not in json.dumps(result)


def test_filters_name_tags_and_paused(sim, run_module):
    gitlab = sim()
    named = run_module(gitlab_runner_info, args(gitlab, group="platform/ci", name="docker", managers=False))
    assert [r["id"] for r in named["runners"]] == [2]
    assert named["runners"][0]["managers"] is None
    # Only the listed match is read: group lookup, list, one runner.
    assert len(gitlab.requests()) == 3

    tagged = run_module(gitlab_runner_info, args(gitlab, group="platform/ci", tags=["linux", "docker"]))
    assert [r["id"] for r in tagged["runners"]] == [2]
    paused = run_module(gitlab_runner_info, args(gitlab, group="platform/ci", paused=True))
    assert [r["id"] for r in paused["runners"]] == [3]


def test_check_scopes_alone_returns_version_and_scopes(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_info, args(gitlab, check_scopes=["create"], gather_runners=False))
    assert result["gitlab"] == {"version": "17.11.1-ee", "scopes": ["read_api", "create_runner"]}
    assert result["runners"] == []
    assert len(gitlab.requests()) == 2


def test_check_scopes_names_the_missing_scope(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_info, args(gitlab, check_scopes=["manage"]))
    assert result["failed"] is True
    assert "manage_runner" in result["msg"]
    assert "read_api, create_runner" in result["msg"]


def test_gitlab_without_managers_endpoint_warns_with_its_version(sim, run_module):
    gitlab = sim(seed(settings={"version": "16.11.0-ee"}))
    gitlab.fault(r"/api/v4/runners/\d+/managers", method="GET", status=404, body={"error": "404 Not Found"},
                 times=None)
    result = run_module(gitlab_runner_info, args(gitlab, group="platform/ci"))
    assert [r["managers"] for r in result["runners"]] == [None, None, None]
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
    assert any("GitLab 16.11.0-ee has no REST endpoint for runner managers" in w for w in warnings)
    assert len(gitlab.requests("GET", r"/api/v4/runners/\d+/managers")) == 1


def test_all_runners_excludes_group(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_info, args(gitlab, all_runners=True, group="platform"))
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]
    assert gitlab.requests() == []


def test_all_runners_needs_an_administrator(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_info, args(gitlab, all_runners=True))
    assert result["failed"] is True
    assert result["status"] == 403
    assert "administrator" in result["msg"]


def test_check_mode_reads_the_same(sim, run_module):
    gitlab = sim()
    result = run_module(gitlab_runner_info, args(gitlab, id=2), check_mode=True)
    assert result["changed"] is False
    assert [r["description"] for r in result["runners"]] == ["docker"]
