# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Plan, then act: the mistakes users make on a first fleet fail before anything changes.

Each mistake runs through playbooks/site.yml against the simulator, on a fresh fleet and on a converged one. What a
user must see: the run fails, every host it stopped is failed in the recap, the message names the field and the
fix, no token shows even at -vvv, GitLab got no changing request (``POST /runners/verify`` included, since it
records a manager) and every config.toml is byte for byte what it was. Fixing the mistake converges with no reset.
"""

from __future__ import annotations

import copy
import shutil
import tomllib

import pytest

from tests.conftest import REPO_ROOT

SITE = REPO_ROOT / "playbooks" / "site.yml"
PAT = "glpat-plan-first-000000000000"
HOSTS = ("h1", "h2")
SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "acme", "members": {"alice": "owner"}}, {"path": "acme/platform"}],
    "projects": [{"path": "acme/platform/app"}],
}
SHARED = {"name": "shared", "runner_type": "group_type", "group": "acme/platform", "tags": ["docker"],
          "executor": "shell"}
PER_HOST = {"name": "build", "runner_type": "project_type", "project": "acme/platform/app", "tags": ["build"],
            "per_host": True, "executor": "shell"}
DEFINITIONS = [SHARED, PER_HOST]


def inventory(tmp_path, definitions=None, **group_vars):
    hosts = {}
    for index, host in enumerate(HOSTS):
        directory = tmp_path / host
        directory.mkdir(exist_ok=True)
        system_id = directory / ".runner_system_id"
        if not system_id.exists() and not system_id.is_symlink():
            system_id.write_text(f"s_0000000000a{index}", encoding="ascii")
        hosts[host] = {"ansible_connection": "local", "gitlab_runner_config_path": str(directory / "config.toml")}
    variables = {"gitlab_runner_install_method": "none", "gitlab_runner_manage_service": False,
                 "gitlab_runner_become": False,
                 "gitlab_runner_runners": copy.deepcopy(DEFINITIONS if definitions is None else definitions)}
    variables.update(group_vars)
    return {"all": {"children": {"gitlab_runners": {"hosts": hosts, "vars": variables}}}}


def snapshot(tmp_path):
    """Each host's config.toml and system id as bytes (None where missing), links as their targets."""
    found = {}
    for host in HOSTS:
        for name in ("config.toml", ".runner_system_id"):
            path = tmp_path / host / name
            if path.is_symlink():
                found[(host, name)] = ("link", str(path.readlink()))
            elif path.is_dir():
                found[(host, name)] = ("directory", sorted(item.name for item in path.iterdir()))
            else:
                found[(host, name)] = path.read_bytes() if path.exists() else None
    return found


def changing_requests(sim):
    return [f"{entry['method']} {entry['path']}" for entry in sim.requests() if entry["method"] != "GET"]


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}
    inventory(tmp_path)  # the hosts' directories and system ids, as a real host has them before any run

    def run(definitions=None, group_vars=None, **kwargs):
        return ansible_playbook(SITE, inventory=inventory(tmp_path, definitions, **(group_vars or {})), env=env,
                                **kwargs)

    return sim, run


def tokens_of(sim):
    return [runner["token"] for runner in sim.state()["runners"]]


def assert_stopped_before_any_change(sim, tmp_path, before, result, words):
    assert result.rc != 0, result.output
    assert changing_requests(sim) == [], result.output
    assert snapshot(tmp_path) == before
    for word in words:
        assert word in result.output, result.output
    # Every host stops once, on a step that says why: nothing hidden by no_log, nothing ignored.
    failures = [record for record in result.records if record["type"] == "task" and record["status"] != "ok"
                and record["status"] != "skipped"]
    assert sorted(record["host"] for record in failures) == list(HOSTS), failures
    assert not [record for record in failures if "censored" in record["result"]], failures
    assert PAT not in result.output
    assert not [token for token in tokens_of(sim) if token in result.output]
    assert "glrt-" not in result.output
    # The message says it once: one problem, one line of the output per place it is printed.
    message = next(line for line in result.output.splitlines() if words[0] in line)
    assert len(message) < 1000 + len("fatal: [h1]: FAILED! => ") + 100


def with_second(**changes):
    return [SHARED, dict(PER_HOST, **changes)]


# Mistakes in what is declared: (definitions, role variables, words the message must hold).
DECLARED = {
    "maximum_timeout": (with_second(maximum_timeout=-5), {},
                        ["gitlab_runner_runners[build]: maximum_timeout is -5 seconds", "Fix: set maximum_timeout"]),
    "run_untagged without tags": ([SHARED, dict({key: value for key, value in PER_HOST.items() if key != "tags"},
                                                run_untagged=False)], {},
                                  ["gitlab_runner_runners[build]: run_untagged is false and tags is empty",
                                   "Fix: declare at least one tag"]),
    "executor": (with_second(executor="dockr"), {},
                 ["gitlab_runner_runners[build]: executor 'dockr' is not an executor", "did you mean 'docker'?"]),
    "expiry in the past": (with_second(token_expires_at="2020-01-01T00:00:00Z"), {},
                           ["gitlab_runner_runners[build]: token_expires_at 2020-01-01T00:00:00Z is less than 5 "
                            "minutes ahead", "Fix: set token_expires_at further ahead"]),
    "concurrent": (None, {"gitlab_runner_concurrent": 0},
                   ["gitlab_runner_concurrent: concurrent is 0; gitlab-runner needs at least 1.", "Fix:"]),
    "log_level": (None, {"gitlab_runner_log_level": "verbose"},
                  ["gitlab_runner_log_level: value of log_level must be one of", "got: verbose"]),
    "global settings key": (None, {"gitlab_runner_global_settings": {"concurent": 2}},
                            ["gitlab_runner_global_settings:", "'concurent'", "did you mean 'concurrent'?"]),
    "prune threshold": (None, {"gitlab_runner_prune_stale_after": 3600},
                        ["gitlab_runner_prune_stale_after: gitlab_runner_prune_stale_after is 3600 seconds",
                         "Fix: set gitlab_runner_prune_stale_after to 7200 or more"]),
}


@pytest.mark.parametrize("converged", [False, True], ids=["fresh", "converged"])
@pytest.mark.parametrize("mistake", list(DECLARED))
def test_a_declared_mistake_changes_nothing(fleet, tmp_path, mistake, converged):
    sim, run = fleet
    if converged:
        assert run().rc == 0
    before, runners_before = snapshot(tmp_path), sim.state()["runners"]
    sim.clear_requests()
    definitions, group_vars, words = DECLARED[mistake]
    result = run(definitions, group_vars, verbosity=3)
    assert_stopped_before_any_change(sim, tmp_path, before, result, words)
    assert sim.state()["runners"] == runners_before


def test_every_mistake_is_named_at_once(fleet, tmp_path):
    sim, run = fleet
    definitions = [dict(SHARED, maximum_timeout=-5), dict(PER_HOST, executor="dockr")]
    result = run(definitions, {"gitlab_runner_concurrent": 0})
    assert result.rc != 0
    for words in ("gitlab_runner_runners[shared]: maximum_timeout is -5", "gitlab_runner_runners[build]: executor",
                  "gitlab_runner_concurrent: concurrent is 0"):
        assert words in result.output
    assert sim.requests() == []


def test_an_owner_path_with_a_typo_stops_before_the_first_runner_is_created(fleet, tmp_path):
    sim, run = fleet
    before = snapshot(tmp_path)
    result = run(with_second(project="acme/platfrom/app"))
    assert_stopped_before_any_change(sim, tmp_path, before, result,
                                     ["GitLab shows the token's user no project 'acme/platfrom/app' (404)",
                                      "Fix: correct each path"])
    assert sim.state()["runners"] == []
    fixed = run()
    assert fixed.rc == 0, fixed.output
    assert sorted(runner["description"] for runner in sim.state()["runners"]) == ["build-h1", "build-h2", "shared"]
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []


def test_the_corrected_rerun_converges_with_no_reset_and_no_second_runner(fleet, tmp_path):
    sim, run = fleet
    assert run(with_second(maximum_timeout=-5)).rc != 0
    assert run().rc == 0
    assert sorted(runner["description"] for runner in sim.state()["runners"]) == ["build-h1", "build-h2", "shared"]
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []
    again = run()
    assert again.rc == 0 and all(again.changed(host) == 0 for host in HOSTS), again.output


def break_config(tmp_path, kind):
    path = tmp_path / "h1" / "config.toml"
    if kind == "invalid TOML":
        path.write_text(path.read_text(encoding="utf-8") + "\n[[runners]\nname = 'x'\n", encoding="utf-8")
    elif kind == "directory":
        path.unlink()
        path.mkdir()
    elif kind == "runners table":
        data = path.read_text(encoding="utf-8").replace("[[runners]]", "[runners]", 1)
        path.write_text(data.split("[[runners]]")[0], encoding="utf-8")
    elif kind == "system id":
        (tmp_path / "h1" / ".runner_system_id").write_text("not-a-system-id", encoding="ascii")


HOST_STATE = {
    "invalid TOML": ["h1:", "it is not valid TOML: line", "column", "Fix:"],
    "directory": ["h1:", "it is a directory", "Fix: set path to the config.toml file"],
    "runners table": ["h1:", "'runners' is not an array of tables", "Fix:"],
    "system id": ["h1:", "are not a runner system id (s_ or r_ and 12 letters or digits)", "Fix:"],
}


@pytest.mark.parametrize("kind", list(HOST_STATE))
def test_a_host_that_cannot_be_read_is_named_and_stops_those_sharing_its_runner(fleet, tmp_path, kind):
    sim, run = fleet
    assert run().rc == 0
    break_config(tmp_path, kind)
    before = snapshot(tmp_path)
    sim.clear_requests()
    result = run(verbosity=3)
    assert_stopped_before_any_change(sim, tmp_path, before, result, HOST_STATE[kind])
    # h2 is readable; it stops because it shares 'shared' with h1, and says so.
    assert "h2: stopped with h1, which could not be read: both carry shared" in result.output


def test_a_dangling_link_keeps_its_token_until_the_volume_is_back(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    volume = tmp_path / "volume"
    volume.mkdir()
    config = tmp_path / "h1" / "config.toml"
    shutil.move(config, volume / "config.toml")
    held = tomllib.loads((volume / "config.toml").read_text(encoding="utf-8"))
    unmounted = tmp_path / "unmounted"
    config.symlink_to(unmounted / "config.toml")
    before = snapshot(tmp_path)
    sim.clear_requests()

    result = run(check=True, diff=True)
    assert result.rc != 0
    result = run()
    assert_stopped_before_any_change(sim, tmp_path, before, result,
                                     [f"h1: Reading {config} failed: {config} is a symbolic link to",
                                      "does not exist", "Fix: mount or restore"])

    # The volume is back: h1 still holds the tokens it held, and GitLab still takes them.
    volume.rename(unmounted)
    sim.clear_requests()
    back = run()
    assert back.rc == 0, back.output
    assert sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token") == []
    assert tomllib.loads(config.read_text(encoding="utf-8"))["runners"] == held["runners"]
    assert all(back.changed(host) == 0 for host in HOSTS), back.output


@pytest.mark.parametrize("where", ["group_vars", "play vars"])
def test_a_misspelled_variable_removes_nothing_and_is_named(fleet, ansible_playbook, tmp_path, where):
    sim, run = fleet
    assert run().rc == 0
    before = snapshot(tmp_path)
    sim.clear_requests()
    if where == "group_vars":
        hosts = inventory(tmp_path, [])
        variables = hosts["all"]["children"]["gitlab_runners"]["vars"]
        del variables["gitlab_runner_runners"]
        variables["gitlab_runners_runners"] = copy.deepcopy(DEFINITIONS)
        result = ansible_playbook(SITE, inventory=hosts, env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT})
    else:
        hosts = inventory(tmp_path, [])
        del hosts["all"]["children"]["gitlab_runners"]["vars"]["gitlab_runner_runners"]
        play = [{"name": "Fleet", "hosts": "gitlab_runners", "gather_facts": False,
                 "vars": {"gitlab_runner_runner": copy.deepcopy(DEFINITIONS)},
                 "roles": [{"role": "runnerops.gitlab.gitlab_runner"}]}]
        result = ansible_playbook(play, inventory=hosts, env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT})
    wrong = "gitlab_runners_runners" if where == "group_vars" else "gitlab_runner_runner"
    assert_stopped_before_any_change(sim, tmp_path, before, result,
                                     ["h1: declares no runner, so this run would remove every entry of its "
                                      "config.toml (build-h1, shared)", "gitlab_runner_allow_empty_config"])
    assert f"{wrong} is not a variable of the role; did you mean gitlab_runner_runners?" in result.output


def test_removing_every_entry_is_done_when_asked(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    result = run([], {"gitlab_runner_allow_empty_config": True})
    assert result.rc == 0, result.output
    for host in HOSTS:
        assert tomllib.loads((tmp_path / host / "config.toml").read_text(encoding="utf-8")).get("runners", []) == []


def test_a_tag_with_white_space_is_warned_of_before_anything_changes(fleet, tmp_path):
    sim, run = fleet
    result = run([dict(SHARED, tags="docker linux")], check=True)
    assert result.rc == 0, result.output
    assert "[WARNING]: gitlab_runner_runners[shared]: tag 'docker linux' holds white space" in result.output
    assert result.output.count("tag 'docker linux' holds white space") == 1


def test_check_mode_shows_gitlabs_side_of_the_plan(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    shared = next(runner for runner in sim.state()["runners"] if runner["description"] == "shared")
    sim.clear_requests()
    changed = [dict(SHARED, tags=["docker", "linux"], run_untagged=False, maximum_timeout=3600), PER_HOST]
    result = run(changed, check=True, diff=True)
    assert result.rc == 0, result.output
    assert changing_requests(sim) == []
    assert (f"shared: runner {shared['id']}, token would_verify; tags ['docker'] -> ['docker', 'linux'], "
            "run_untagged True -> False, maximum_timeout None -> 3600") in result.output
    assert "glrt-" not in result.output


def test_check_mode_shows_the_reset_a_lost_config_would_make(fleet, tmp_path):
    sim, run = fleet
    assert run().rc == 0
    (tmp_path / "h1" / "config.toml").unlink()
    sim.clear_requests()
    result = run(check=True, diff=True)
    assert result.rc == 0, result.output
    assert changing_requests(sim) == []
    build = next(runner for runner in sim.state()["runners"] if runner["description"] == "build-h1")
    assert f"build-h1 (runner {build['id']}): the runner exists in GitLab and no host of the run holds a token GitLab " \
           "accepts, so its token would be reset" in result.output


@pytest.mark.parametrize("strategy", ["free", "host_pinned", "ansible.builtin.free"])
def test_a_strategy_that_does_not_keep_hosts_in_step_is_refused(fleet, ansible_playbook, tmp_path, strategy):
    sim, _run = fleet
    play = [{"name": "Fleet", "hosts": "gitlab_runners", "gather_facts": False, "strategy": strategy,
             "roles": [{"role": "runnerops.gitlab.gitlab_runner"}]}]
    before = snapshot(tmp_path)
    result = ansible_playbook(play, inventory=inventory(tmp_path),
                              env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT})
    assert result.rc != 0
    assert f"The play runs with strategy {strategy}, which lets each host run ahead on its own" in result.output
    assert all(result.failed(host) == 1 for host in HOSTS), result.recap
    assert sim.requests() == [] and snapshot(tmp_path) == before


def test_a_play_of_the_users_own_with_the_linear_strategy_converges(fleet, ansible_playbook, tmp_path):
    sim, _run = fleet
    play = [{"name": "Fleet", "hosts": "gitlab_runners", "gather_facts": False, "strategy": "linear",
             "roles": [{"role": "runnerops.gitlab.gitlab_runner"}]}]
    result = ansible_playbook(play, inventory=inventory(tmp_path),
                              env={"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT})
    assert result.rc == 0, result.output
