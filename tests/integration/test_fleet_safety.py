# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""No run cuts off a live host, whatever part of the fleet it sees.

The definitions live in the play's ``vars:`` (invisible to other hosts' inventory), and runs are narrowed with
``--limit``, split into job slices run at once through ansible-runner (what AWX runs, each slice with its own
inventory and its own home, as AWX containers have), or started at once from two working directories. Hosts
that run gitlab-runner contact GitLab with their token and system id, as the service does, so GitLab lists them
as runner managers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import playbook_env

PAT = "glpat-fleet-safety-00000000000"
SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
}
SHARED = {"name": "shared", "runner_type": "group_type", "group": "platform", "tags": ["docker"],
          "run_untagged": False, "executor": "shell", "settings": {"limit": 2}}
PLAY = [{
    "name": "GitLab Runner fleet",
    "hosts": "{{ target | default('gitlab_runners') }}",
    "gather_facts": False,
    # Where many users put them: the play, not the inventory.
    "vars": {"gitlab_runner_runners": [SHARED], "gitlab_runner_install_method": "none",
             "gitlab_runner_manage_service": False, "gitlab_runner_become": False},
    "roles": [{"role": "runnerops.gitlab.gitlab_runner"}],
}]


def system_id(host):
    return "s_" + host.encode().hex().rjust(12, "0")[-12:]


def lay_out(tmp_path, hosts):
    for host in hosts:
        directory = tmp_path / "hosts" / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ".runner_system_id").write_text(system_id(host), encoding="ascii")


def inventory(tmp_path, hosts):
    return {"all": {"children": {"gitlab_runners": {"hosts": {
        host: {"ansible_connection": "local",
               "gitlab_runner_config_path": str(tmp_path / "hosts" / host / "config.toml")} for host in hosts}}}}}


def entry(tmp_path, host):
    path = tmp_path / "hosts" / host / "config.toml"
    if not path.exists():
        return None
    runners = tomllib.loads(path.read_text(encoding="utf-8")).get("runners", [])
    return next((item for item in runners if item["name"] == "shared"), None)


def heartbeat(sim, tmp_path, host):
    """What the running gitlab-runner does: contact GitLab with the host's token and system id. The status."""
    held = entry(tmp_path, host)
    if held is None:
        return None
    answer = requests.post(f"{sim.url}/api/v4/runners/verify", timeout=30,
                           json={"token": held["token"], "system_id": system_id(host)})
    return answer.status_code


def shared_runners(sim):
    return [runner for runner in sim.state()["runners"] if runner["description"] == "shared"]


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path):
    sim = make_sim(SEED)
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT}

    def run(hosts, **kwargs):
        lay_out(tmp_path, hosts)
        return ansible_playbook(PLAY, inventory=inventory(tmp_path, hosts), env=env, **kwargs)

    return sim, run


def test_a_limited_run_never_cuts_off_the_hosts_outside_it(fleet, tmp_path):
    sim, run = fleet
    hosts = ("h1", "h2", "h3")
    first = run(hosts)
    assert first.rc == 0, first.output
    assert all(heartbeat(sim, tmp_path, host) == 200 for host in hosts)
    token = entry(tmp_path, "h1")["token"]

    # h3 loses its config.toml; the user converges h3 alone, as a play of its own (target=h3): nothing of this
    # run tells where the token is, and GitLab's managers stop the reset.
    (tmp_path / "hosts" / "h3" / "config.toml").unlink()
    alone = run(hosts, extra_vars={"target": "h3"})
    assert alone.rc != 0, alone.output
    assert "Resetting the token of runner 'shared'" in alone.output
    for host in ("h1", "h2"):
        assert system_id(host) in alone.output, alone.output
    assert "last contact" in alone.output and "cut them off" in alone.output
    assert shared_runners(sim)[0]["token"] == token
    assert [heartbeat(sim, tmp_path, host) for host in ("h1", "h2")] == [200, 200]
    assert entry(tmp_path, "h3") is None
    assert token not in alone.output and PAT not in alone.output

    # With --limit, h1 and h2 are still hosts of the play's pattern, so the play's vars reach them: their
    # config.toml is read, and h3 gets the token they hold, and its age, with no reset.
    limited = run(hosts, limit="h3")
    assert limited.rc == 0, limited.output
    assert entry(tmp_path, "h3")["token"] == token
    assert entry(tmp_path, "h3")["token_obtained_at"] == entry(tmp_path, "h1")["token_obtained_at"]
    assert not sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")
    assert [heartbeat(sim, tmp_path, host) for host in hosts] == [200, 200, 200]
    after = run(hosts)
    assert after.rc == 0 and all(after.recap[host]["changed"] == 0 for host in hosts), after.output

    # With a host of the run holding the token, h3 gets that very token, and its age.
    (tmp_path / "hosts" / "h3" / "config.toml").unlink()
    paired = run(hosts, limit="h2,h3")
    assert paired.rc == 0, paired.output
    assert entry(tmp_path, "h3")["token"] == token
    assert entry(tmp_path, "h3")["token_obtained_at"] == entry(tmp_path, "h2")["token_obtained_at"]
    assert [heartbeat(sim, tmp_path, host) for host in hosts] == [200, 200, 200]
    assert len(shared_runners(sim)) == 1
    assert not sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")

    again = run(hosts)
    assert again.rc == 0 and again.recap["h3"]["changed"] == 0, again.output


def test_a_dead_holder_does_not_block_a_reset(fleet, tmp_path):
    sim, run = fleet
    hosts = ("h1", "h2")
    assert run(hosts).rc == 0
    # Both hosts lose their config.toml and have been silent for longer than the window.
    for host in hosts:
        (tmp_path / "hosts" / host / "config.toml").unlink()
    sim.advance_clock(7300)
    healed = run(hosts, limit="h1")
    assert healed.rc == 0, healed.output
    assert entry(tmp_path, "h1")["token"] == shared_runners(sim)[0]["token"]


def test_one_bad_holder_does_not_stop_the_fleet(fleet, tmp_path):
    sim, run = fleet
    hosts = ("h1", "h2", "h3")
    assert run(hosts).rc == 0
    token = entry(tmp_path, "h1")["token"]
    # An API token pasted into h2's entry by mistake.
    pasted = "glpat-pasted-by-mistake-0000"
    path = tmp_path / "hosts" / "h2" / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(token, pasted), encoding="utf-8")

    healed = run(hosts, verbosity=2)
    assert healed.rc == 0, healed.output
    assert "set aside what h2 held (not a runner token)" in healed.output
    assert "held by host h2 (system id" in healed.output
    assert pasted not in healed.output and token not in healed.output
    assert [entry(tmp_path, host)["token"] for host in hosts] == [token] * 3
    assert not sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")


# ---------------------------------------------------------------------- several runs at once


SLICES = (("s1a", "s1b"), ("s2a", "s2b"), ("s3a", "s3b"))


def runner_slice(tmp_path, index, hosts, sim, verbosity):
    """One job slice through ansible-runner, in its own private data dir and home, as an AWX job runs."""
    private = tmp_path / f"slice-{index}"
    if private.exists():
        shutil.rmtree(private / "artifacts", ignore_errors=True)
        shutil.rmtree(private / "inventory")
        shutil.rmtree(private / "env")
        shutil.rmtree(private / "project")
    (private / "inventory").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "project").mkdir()
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory(tmp_path, hosts)), encoding="utf-8")
    (private / "project" / "site.yml").write_text(yaml.safe_dump(PLAY, sort_keys=False), encoding="utf-8")
    env = playbook_env(private, {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT, "HOME": str(private / "home"),
                                 "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    (private / "env" / "envvars").write_text(yaml.safe_dump(env), encoding="utf-8")
    script = (
        "import json, sys, ansible_runner\n"
        f"r = ansible_runner.run(private_data_dir={str(private)!r}, playbook='site.yml', verbosity={verbosity},\n"
        "                        quiet=True)\n"
        "print(json.dumps({'rc': r.rc, 'status': r.status, 'stats': r.stats}))\n"
        "sys.exit(r.rc)\n")
    return private, subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=dict(os.environ, HOME=str(private / "home")))


def playbook_dir(tmp_path, index, hosts, sim, verbosity):
    """A play started from its own working directory and home, as a second controller would."""
    private = tmp_path / f"controller-{index}"
    private.mkdir(parents=True, exist_ok=True)
    (private / "hosts.yml").write_text(yaml.safe_dump(inventory(tmp_path, hosts)), encoding="utf-8")
    (private / "site.yml").write_text(yaml.safe_dump(PLAY, sort_keys=False), encoding="utf-8")
    env = playbook_env(private, {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT, "HOME": str(private / "home")})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "hosts.yml", "site.yml"]
    if verbosity:
        command.append("-" + "v" * verbosity)
    return private, subprocess.Popen(command, cwd=private, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)


def run_at_once(starter, tmp_path, sim, groups, verbosity=0):
    """Start one run per group of hosts at the same moment; ``[(rc, output, private dir)]``."""
    started = [starter(tmp_path, index, hosts, sim, verbosity) for index, hosts in enumerate(groups)]
    outcomes = []
    for private, proc in started:
        stdout, stderr = proc.communicate(timeout=900)
        output = stdout + stderr
        if (private / "artifacts").exists():
            output += "".join(path.read_text(encoding="utf-8", errors="replace")
                              for path in sorted((private / "artifacts").rglob("stdout")))
        outcomes.append((proc.returncode, output, private))
    return outcomes


def job_events(private):
    """Every job event ansible-runner kept, as AWX stores them."""
    return [path.read_text(encoding="utf-8") for path in sorted((private / "artifacts").rglob("job_events/*.json"))]


TWO_CONTROLLERS = (SLICES[0] + SLICES[1], SLICES[2])


@pytest.mark.parametrize("starter, groups", [(runner_slice, SLICES), (playbook_dir, TWO_CONTROLLERS)],
                         ids=["ansible-runner-slices", "two-working-directories"])
def test_runs_at_once_leave_one_runner_and_cut_no_host_off(make_sim, tmp_path, starter, groups):
    sim = make_sim(SEED)
    hosts = [host for group in groups for host in group]
    lay_out(tmp_path, hosts)
    # Every run finds no runner and creates one: GitLab takes 3 s to answer each create.
    sim.fault(r"/api/v4/user/runners", method="POST", action="delay", delay=3, times=len(groups))

    outcomes = run_at_once(starter, tmp_path, sim, groups, verbosity=4 if starter is runner_slice else 0)
    # Each run created its own runner (the race is real); all but the oldest were deleted by their own run.
    assert len(sim.requests("POST", r"/api/v4/user/runners")) == len(groups)
    assert len(sim.requests("DELETE", r"/api/v4/runners/\d+")) == len(groups) - 1
    assert len(shared_runners(sim)) == 1, [runner["id"] for runner in shared_runners(sim)]
    winner = shared_runners(sim)[0]
    succeeded = [outcome[1] for outcome in outcomes if outcome[0] == 0]
    failed = [outcome[1] for outcome in outcomes if outcome[0] != 0]
    assert len(succeeded) >= 1, [outcome[1][-3000:] for outcome in outcomes]
    for output in failed:
        # A run that cannot settle the token without cutting others off names the runner and what to do.
        assert "runner 'shared'" in output, output[-5000:]
        assert ("another run created the same runner at the same time" in output
                or "a reset would cut them off" in output.lower()
                or "no host has used its token yet" in output), output[-5000:]
    # Every host holding a token holds the one runner's token, and GitLab accepts it.
    holders = [host for host in hosts if entry(tmp_path, host) is not None]
    assert holders
    for host in holders:
        assert entry(tmp_path, host)["id"] == winner["id"]
        assert heartbeat(sim, tmp_path, host) == 200
    for _rc, output, private in outcomes:
        texts = [output] + (job_events(private) if (private / "artifacts").exists() else [])
        for text in texts:
            assert "glrt-" not in text and PAT not in text

    # One unsliced run converges every host without a reset.
    whole = playbook_env(tmp_path, {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": PAT})
    (tmp_path / "all.yml").write_text(yaml.safe_dump(inventory(tmp_path, hosts)), encoding="utf-8")
    (tmp_path / "site.yml").write_text(yaml.safe_dump(PLAY, sort_keys=False), encoding="utf-8")
    whole.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    converged = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "all.yml", "site.yml"],
                               cwd=tmp_path, env=whole, capture_output=True, text=True, timeout=900, check=False)
    assert converged.returncode == 0, converged.stdout[-5000:] + converged.stderr
    assert [heartbeat(sim, tmp_path, host) for host in hosts] == [200] * len(hosts)
    assert len({entry(tmp_path, host)["token"] for host in hosts}) == 1
    assert not sim.requests("POST", r"/api/v4/runners/\d+/reset_authentication_token")

    # Once every host holds its token, the runs at once change nothing.
    again = run_at_once(starter, tmp_path, sim, groups)
    for rc, output, _private in again:
        assert rc == 0, output[-5000:]
        assert "PLAY RECAP" in output, output[-3000:]
        recap = output[output.rfind("PLAY RECAP"):]
        assert "changed=0" in recap and not re.search(r"changed=[1-9]", recap), recap
    assert len(shared_runners(sim)) == 1
