# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""gitlab_runner_create in real ansible-playbook runs against the GitLab simulator.

Each test asserts what a user sees (task results, messages, the recap) and what GitLab saw (the
simulator's request log and state), including how many API calls a scenario costs.
"""

from __future__ import annotations

import hashlib
import time

import pytest

OWNER = "glpat-olivia-owner-00000000"
LEAST = "glpat-olivia-least-00000000"
LEAST_MANAGE = "glpat-olivia-manage-0000000"
CREATE_ONLY = "glpat-olivia-create-0000000"
EXPIRED = "glpat-olivia-expired-000000"
MAINTAINER = "glpat-mark-maintainer-00000"

HELD = "glrt-t2_heldbyhosts00000001"
OTHER = "glrt-t2_otherrunner00000001"

NOISE = 25


def seed(runners=(), **extra):
    data = {
        "users": [
            {"username": "olivia", "tokens": [
                {"token": OWNER, "scopes": ["api"], "name": "owner"},
                {"token": LEAST, "scopes": ["read_api", "create_runner"], "name": "least"},
                {"token": LEAST_MANAGE, "scopes": ["read_api", "create_runner", "manage_runner"], "name": "manage"},
                {"token": CREATE_ONLY, "scopes": ["create_runner"], "name": "create-only"},
                {"token": EXPIRED, "scopes": ["api"], "name": "old", "expires_at": "2020-01-01"},
            ]},
            {"username": "mark", "tokens": [{"token": MAINTAINER, "scopes": ["api"], "name": "mark"}]},
        ],
        "groups": [
            {"path": "platform", "members": {"olivia": "owner"}},
            {"path": "platform/ci", "members": {"mark": "maintainer"}},
        ],
        # Runners with other names in the group and its parent: finding must not read each of them.
        "runners": [{"description": f"noise-{i}", "group": "platform/ci" if i % 2 else "platform"}
                    for i in range(NOISE)] + list(runners),
    }
    data.update(extra)
    return data


def play(sim, tasks, token=OWNER):
    return {
        "name": "Runners",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/runnerops.gitlab.gitlab": {"api_url": sim.url, "api_token": token,
                                                              "timeout": 10}},
        "tasks": tasks,
    }


def ensure(register="ensured", no_log=True, name="Ensure the runner", **params):
    args = {"name": "docker", "runner_type": "group_type", "group": "platform/ci"}
    args.update(params)
    task = {"name": name, "runnerops.gitlab.gitlab_runner_create": args, "register": register}
    if no_log:
        task["no_log"] = True
    return task


def show(register="ensured", name="Show the result"):
    """What a user may print of a result: everything but the token, plus the token's digest."""
    return {"name": name, "ansible.builtin.debug": {"msg": {
        "changed": "{{ %s.changed }}" % register,
        "runner": "{{ %s.runner }}" % register,
        "token_source": "{{ %s.token_source }}" % register,
        "token_expires_at": "{{ %s.token_expires_at }}" % register,
        "token_sha256": "{{ (%s.token | hash('sha256')) if %s.token else None }}" % (register, register),
        "token_is_glrt": "{{ (%s.token or '').startswith('glrt-') }}" % register,
    }}}


def shown(run, name="Show the result"):
    return run.result(name)["msg"]


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def known(*pairs):
    return [{"token": token, "system_id": system_id} for token, system_id in pairs]


def api_calls(sim):
    return [(entry["method"], entry["path"]) for entry in sim.requests()]


def writes(sim):
    return [(entry["method"], entry["path"]) for entry in sim.requests() if entry["method"] in ("POST", "PUT", "DELETE")]


def runners_named(sim, name="docker"):
    return [r for r in sim.state()["runners"] if r["description"] == name]


@pytest.fixture
def sim(make_sim):
    return make_sim(seed())


# ---------------------------------------------------------------------- the lifecycle


def test_check_mode_with_diff_makes_no_write_and_shows_the_runner(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [ensure(no_log=False, tags=["docker", "linux"])]), check=True, diff=True)
    assert run.rc == 0, run.output
    result = run.result("Ensure the runner")
    assert result["changed"] is True
    assert result["token"] is None
    assert result["token_source"] == "would_create"
    assert '+    "description": "docker",' in run.output
    assert writes(sim) == []
    assert runners_named(sim) == []


def test_create_then_same_again_then_change_tags(sim, ansible_playbook):
    tasks = [ensure(tags=["docker", "linux"], run_untagged=False, maximum_timeout=3600), show()]

    created = ansible_playbook(play(sim, tasks), verbosity=3)
    assert created.rc == 0, created.output
    assert created.changed() == 1
    result = shown(created)
    assert result["token_source"] == "created"
    assert result["token_is_glrt"] is True
    assert result["runner"]["tags"] == ["docker", "linux"]
    assert result["runner"]["owner"]["path"] == "platform/ci"
    [runner] = runners_named(sim)
    assert result["token_sha256"] == sha(runner["token"])
    assert (runner["tag_list"], runner["run_untagged"], runner["maximum_timeout"]) == (["docker", "linux"], False, 3600)
    assert "glrt-" not in created.output
    # Preflight (token, version), group, one list of its group runners, the create, and one more list that
    # would find a twin another run created at the same time.
    assert api_calls(sim) == [
        ("GET", "/api/v4/personal_access_tokens/self"), ("GET", "/api/v4/version"),
        ("GET", "/api/v4/groups/platform%2Fci"), ("GET", "/api/v4/groups/2/runners"),
        ("POST", "/api/v4/user/runners"), ("GET", "/api/v4/groups/2/runners")]

    sim.clear_requests()
    again = ansible_playbook(play(sim, [ensure(tags=["linux", "docker"], run_untagged=False, maximum_timeout=3600,
                                               preflight=False), show()]))
    assert again.rc == 0, again.output
    assert again.changed() == 0
    assert shown(again)["token_source"] is None
    # One lookup (group, list, the one match) and no write.
    assert api_calls(sim) == [("GET", "/api/v4/groups/platform%2Fci"), ("GET", "/api/v4/groups/2/runners"),
                              ("GET", f"/api/v4/runners/{runner['id']}")]

    sim.clear_requests()
    changed = ansible_playbook(play(sim, [ensure(no_log=False, tags=["docker", "gpu"], preflight=False)]), diff=True)
    assert changed.rc == 0, changed.output
    assert changed.changed() == 1
    puts = sim.requests("PUT")
    assert [(p["path"], p["body"]) for p in puts] == [(f"/api/v4/runners/{runner['id']}",
                                                       {"tag_list": ["docker", "gpu"]})]
    assert len(sim.requests()) == 4
    assert '-        "linux"' in changed.output and '+        "gpu"' in changed.output
    assert sim.runner(runner["id"])["tag_list"] == ["docker", "gpu"]
    assert sim.runner(runner["id"])["token"] == runner["token"]


def test_absent_twice(make_sim, ansible_playbook):
    sim = make_sim(seed(runners=[{"id": 90, "description": "docker", "group": "platform/ci"}]))
    tasks = [ensure(no_log=False, state="absent", preflight=False)]
    first = ansible_playbook(play(sim, tasks), diff=True)
    assert first.rc == 0, first.output
    assert first.changed() == 1
    assert first.result("Ensure the runner")["runner"] is None
    assert writes(sim) == [("DELETE", "/api/v4/runners/90")]
    assert runners_named(sim) == []

    sim.clear_requests()
    second = ansible_playbook(play(sim, tasks))
    assert second.rc == 0, second.output
    assert second.changed() == 0
    assert writes(sim) == []
    assert len(sim.requests()) == 2


def test_same_name_in_the_parent_group_is_not_taken_for_ours(make_sim, ansible_playbook):
    sim = make_sim(seed(runners=[{"id": 80, "description": "docker", "group": "platform", "tag_list": ["x"]}]))
    run = ansible_playbook(play(sim, [ensure(preflight=False), show()]))
    assert run.rc == 0, run.output
    assert shown(run)["token_source"] == "created"
    assert shown(run)["runner"]["id"] != 80
    # The parent's runner with the name is read once to see whose it is; none of the others are.
    assert len(sim.requests("GET", r"/api/v4/runners/\d+")) == 1
    assert sim.runner(80)["tag_list"] == ["x"]


def test_two_runners_with_the_name_fail_naming_both(make_sim, ansible_playbook):
    sim = make_sim(seed(runners=[{"id": 70, "description": "docker", "group": "platform/ci"},
                                 {"id": 71, "description": "docker", "group": "platform/ci"}]))
    run = ansible_playbook(play(sim, [ensure(no_log=False, preflight=False)]))
    assert run.rc != 0
    assert "2 runners there have the description 'docker': ids 70, 71" in run.result("Ensure the runner")["msg"]
    assert writes(sim) == []


def test_pinned_runner_of_another_group_cannot_be_moved(make_sim, ansible_playbook):
    sim = make_sim(seed(runners=[{"id": 60, "description": "docker", "group": "platform"}]))
    run = ansible_playbook(play(sim, [ensure(no_log=False, id=60, preflight=False)]))
    assert run.rc != 0
    msg = run.result("Ensure the runner")["msg"]
    assert "runner 60 belongs to group 'platform', not group 'platform/ci'" in msg
    assert "cannot move a runner to another owner in place" in msg
    assert api_calls(sim) == [("GET", "/api/v4/groups/platform%2Fci"), ("GET", "/api/v4/runners/60")]


# ---------------------------------------------------------------------- tokens


@pytest.fixture
def held(make_sim):
    """A runner whose token hosts hold, and another runner with its own token."""
    return make_sim(seed(
        runners=[{"id": 50, "description": "docker", "group": "platform/ci", "token": HELD,
                  "managers": ["s_host00000001"]},
                 {"id": 51, "description": "other", "group": "platform/ci", "token": OTHER}],
        groups=[{"path": "platform", "members": {"olivia": "owner"}},
                {"path": "platform/ci", "members": {"mark": "maintainer"}, "runner_token_expiration_interval": 7200}],
    ))


def settle(sim, ansible_playbook, tokens, **params):
    tasks = [ensure(preflight=False, known_tokens="{{ held_tokens }}", **params), show()]
    return ansible_playbook(play(sim, tasks), extra_vars={"held_tokens": tokens}, verbosity=3)


def test_valid_known_token_is_kept_with_one_check_per_distinct_token(held, ansible_playbook):
    run = settle(held, ansible_playbook, known(("glrt-t2_bogus0000000000001", "s_host00000002"),
                                               (HELD, "s_host00000001"), (HELD, "s_host00000003")))
    assert run.rc == 0, run.output
    assert run.changed() == 0
    result = shown(run)
    assert result["token_source"] == "existing"
    assert result["token_sha256"] == sha(HELD)
    assert result["token_expires_at"]
    verifies = held.requests("POST", "/api/v4/runners/verify")
    assert [v["body"]["system_id"] for v in verifies] == ["s_host00000002", "s_host00000001"]
    assert all(v["body"]["token"] == "<redacted>" for v in verifies)
    assert writes(held) == [("POST", "/api/v4/runners/verify")] * 2
    assert len(held.requests()) == 5
    assert held.runner(50)["token"] == HELD
    assert "glrt-" not in run.output


@pytest.mark.parametrize("case", ["invalid", "another runner's", "expired"])
def test_no_valid_known_token_resets_and_hands_over_the_new_one(held, ansible_playbook, case):
    tokens = {"invalid": known(("glrt-t2_bogus0000000000001", "s_host00000001")),
              "another runner's": known((OTHER, "s_host00000001")),
              "expired": known((HELD, "s_host00000001"))}[case]
    if case == "expired":
        held.advance_clock(3 * 3600)
    run = settle(held, ansible_playbook, tokens)
    assert run.rc == 0, run.output
    assert run.changed() == 1
    result = shown(run)
    assert result["token_source"] == "reset"
    new_token = held.runner(50)["token"]
    assert new_token != HELD
    assert result["token_sha256"] == sha(new_token)
    assert result["token_expires_at"] == held.runner(50)["token_expires_at"]
    assert writes(held) == [("POST", "/api/v4/runners/verify"),
                            ("POST", "/api/v4/runners/50/reset_authentication_token")]
    assert held.runner(51)["token"] == OTHER
    assert "glrt-" not in run.output


def test_reset_forbidden_fails_and_explains(held, ansible_playbook):
    tasks = [ensure(no_log=False, preflight=False, token_reset="never", known_tokens="{{ held_tokens }}")]
    run = ansible_playbook(play(held, tasks), extra_vars={"held_tokens": known((OTHER, "s_host00000001"))})
    assert run.rc != 0
    msg = run.result("Ensure the runner")["msg"]
    assert "Settling the token of runner 'docker' failed" in msg
    assert "none of the 1 distinct known token(s) is valid for runner 50" in msg
    assert "token_reset is never, which forbids a reset" in msg
    assert held.runner(50)["token"] == HELD
    assert OTHER not in run.output


def test_always_rotates(held, ansible_playbook):
    run = settle(held, ansible_playbook, known((HELD, "s_host00000001")), token_reset="always")
    assert run.rc == 0, run.output
    assert shown(run)["token_source"] == "reset"
    assert held.runner(50)["token"] != HELD
    assert shown(run)["token_sha256"] == sha(held.runner(50)["token"])
    assert writes(held) == [("POST", "/api/v4/runners/50/reset_authentication_token")]


def test_token_handed_from_create_to_the_next_task(sim, ansible_playbook):
    tasks = [
        ensure(register="first", preflight=False),
        ensure(name="Ensure again with the token hosts now hold", register="ensured", preflight=False,
               known_tokens=[{"token": "{{ first.token }}", "system_id": "s_host00000009"}]),
        show(),
    ]
    run = ansible_playbook(play(sim, tasks), verbosity=3)
    assert run.rc == 0, run.output
    assert shown(run)["token_source"] == "existing"
    [runner] = runners_named(sim)
    assert shown(run)["token_sha256"] == sha(runner["token"])
    assert "glrt-" not in run.output


# ---------------------------------------------------------------------- least privilege and errors


def test_least_privilege_token_creates(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [ensure(), show()], token=LEAST))
    assert run.rc == 0, run.output
    assert shown(run)["token_source"] == "created"
    assert len(runners_named(sim)) == 1


def test_create_runner_scope_alone_fails_at_preflight_naming_read_api(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [ensure(no_log=False)], token=CREATE_ONLY))
    assert run.rc != 0
    msg = run.result("Ensure the runner")["msg"]
    assert "Checking the GitLab token's scopes (preflight) for runner 'docker' failed" in msg
    assert "has the scopes create_runner" in msg
    assert "it needs one of the scopes api, read_api" in msg
    assert api_calls(sim) == [("GET", "/api/v4/personal_access_tokens/self")]


def test_create_runner_scope_alone_without_preflight_explains_the_scope(sim, ansible_playbook):
    run = ansible_playbook(play(sim, [ensure(no_log=False, preflight=False)], token=CREATE_ONLY))
    assert run.rc != 0
    result = run.result("Ensure the runner")
    assert result["status"] == 403
    assert "insufficient_scope" in result["msg"]
    assert "A token with only create_runner may create runners and nothing else" in result["msg"]


def test_update_without_manage_scope_fails_before_the_write(make_sim, ansible_playbook):
    sim = make_sim(seed(runners=[{"id": 40, "description": "docker", "group": "platform/ci", "tag_list": ["a"]}]))
    run = ansible_playbook(play(sim, [ensure(no_log=False, tags=["b"])], token=LEAST))
    assert run.rc != 0
    msg = run.result("Ensure the runner")["msg"]
    assert "Updating runner 'docker' (id 40) in group 'platform/ci': tags failed" in msg
    assert "manage_runner" in msg
    assert writes(sim) == []

    manage = ansible_playbook(play(sim, [ensure(tags=["b"])], token=LEAST_MANAGE))
    assert manage.rc == 0, manage.output
    assert sim.runner(40)["tag_list"] == ["b"]


@pytest.mark.parametrize("token, params, status, words", [
    (MAINTAINER, {}, 403, ["Creating runner 'docker' in group 'platform/ci' failed",
                           "403 Forbidden - Insufficient permissions", "need the Owner role on group 'platform/ci'"]),
    (OWNER, {"group": "platform/nope"}, 404, ["Looking up group 'platform/nope' for runner 'docker' failed",
                                              "404 Group Not Found", "member"]),
    (EXPIRED, {}, 401, ["Token is expired", "create a new token"]),
    (OWNER, {"tags": [], "run_untagged": False}, None,
     ["run_untagged is false and tags is empty", "declare at least one tag"]),
    (OWNER, {"maximum_timeout": 300}, None, ["maximum_timeout is 300 seconds", "at least 600"]),
])
def test_errors_say_what_failed_and_how_to_fix_it(sim, ansible_playbook, token, params, status, words):
    run = ansible_playbook(play(sim, [ensure(no_log=False, preflight=False, **params)], token=token))
    assert run.rc != 0
    result = run.result("Ensure the runner")
    assert result.get("status") == status
    for word in words:
        assert word in result["msg"]
    assert writes(sim) in ([], [("POST", "/api/v4/user/runners")])
    assert runners_named(sim) == []
    if status is None:
        assert sim.requests() == []


def test_gitlab_validation_error_names_the_option(make_sim, ansible_playbook):
    sim = make_sim(seed(runners=[{"id": 30, "description": "docker", "group": "platform/ci", "tag_list": []}]))
    run = ansible_playbook(play(sim, [ensure(no_log=False, preflight=False, run_untagged=False)]))
    assert run.rc != 0
    result = run.result("Ensure the runner")
    assert result["status"] == 400
    assert "tags_list can not be empty when runner is not allowed to pick untagged jobs" in result["msg"]
    assert "declare at least one tag with tags" in result["msg"]


def test_rate_limited_create_is_retried_then_succeeds(sim, ansible_playbook):
    sim.fault("/api/v4/user/runners", method="POST", status=429, retry_after=1)
    run = ansible_playbook(play(sim, [ensure(preflight=False), show()]))
    assert run.rc == 0, run.output
    assert shown(run)["token_source"] == "created"
    assert [e["status"] for e in sim.requests("POST", "/api/v4/user/runners")] == [429, 201]
    assert len(runners_named(sim)) == 1


@pytest.mark.parametrize("status, words", [(429, "kept rate limiting after the retries"),
                                           (502, "kept failing after the retries")])
def test_lasting_rate_limit_or_server_error_fails_after_retries(sim, ansible_playbook, status, words):
    sim.fault("/api/v4/groups/platform%2Fci", method="GET", status=status, retry_after=0, times=None)
    run = ansible_playbook(play(sim, [ensure(no_log=False, preflight=False)]))
    assert run.rc != 0
    result = run.result("Ensure the runner")
    assert result["status"] == status
    assert words in result["msg"]
    assert len(sim.requests("GET", "/api/v4/groups/platform%2Fci")) == 11


def test_server_error_on_create_is_not_resent_and_nothing_was_made(sim, ansible_playbook):
    sim.fault("/api/v4/user/runners", method="POST", status=503, times=None)
    run = ansible_playbook(play(sim, [ensure(no_log=False, preflight=False)]))
    assert run.rc != 0
    msg = run.result("Ensure the runner")["msg"]
    assert "GitLab answered 503" in msg
    assert "none was created; running again is safe" in msg
    assert len(sim.requests("POST", "/api/v4/user/runners")) == 1
    assert len(sim.requests("GET", "/api/v4/groups/2/runners")) == 2


def test_lost_create_answer_recovers_and_the_rerun_finds_the_runner(sim, ansible_playbook):
    sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after")
    first = ansible_playbook(play(sim, [ensure(preflight=False), show()]), verbosity=3)
    assert first.rc == 0, first.output
    assert "was lost" in first.output
    [runner] = runners_named(sim)
    assert shown(first)["token_source"] == "reset"
    assert shown(first)["token_sha256"] == sha(runner["token"])
    assert "glrt-" not in first.output

    sim.clear_requests()
    rerun = settle(sim, ansible_playbook, known((runner["token"], "s_host00000001")))
    assert rerun.rc == 0, rerun.output
    assert shown(rerun)["token_source"] == "existing"
    assert rerun.changed() == 0
    assert len(runners_named(sim)) == 1
    assert sim.requests("POST", "/api/v4/user/runners") == []


def test_lost_create_answer_without_reset_scope_fails_and_the_rerun_resets(sim, ansible_playbook):
    sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after")
    first = ansible_playbook(play(sim, [ensure(no_log=False)], token=LEAST))
    assert first.rc != 0
    assert "Resetting the token of runner 'docker'" in first.result("Ensure the runner")["msg"]
    assert first.result("Ensure the runner")["changed"] is True
    assert len(runners_named(sim)) == 1

    # Moments after the create no host has used the runner: another run could be handing its token out, so a
    # rerun does not reset it while it is that young.
    young = settle(sim, ansible_playbook, [])
    assert young.rc != 0
    assert "no host has used its token yet" in young.output
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []

    time.sleep(2)
    rerun = settle(sim, ansible_playbook, [], live_manager_window=1)
    assert rerun.rc == 0, rerun.output
    assert shown(rerun)["token_source"] == "reset"
    [runner] = runners_named(sim)
    assert shown(rerun)["token_sha256"] == sha(runner["token"])
    assert len(sim.requests("POST", "/api/v4/user/runners")) == 1
