# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""No secret where AWX keeps a job: every playbook through ansible-runner at verbosity 4 with --diff.

Canary secrets stand in the API token, the runner tokens (new, rotated and legacy), an S3 ``SecretKey`` and an
``environment`` password. Each run's job events (``event_data`` and ``stdout``), its whole artifacts folder and
the per-task results of a JSON callback are searched for every one of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT, playbook_env
from tests.reliability.figures import FIGURES_PROPERTY

PAT = "glpat-canary-api-token-000000"
SECRET_KEY = "canary-s3-secret-key-0000"
DB_PASSWORD = "canary-db-password"
LEGACY = "LEGACYcanaryToken0000001"
HOSTS = ("h1", "h2")
SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "alice", "tokens": [{"token": PAT, "scopes": ["api"], "name": "fleet"}]}],
    "groups": [{"path": "platform", "members": {"alice": "owner"}}],
    # Registered on h2 with a registration token, long ago.
    "runners": [{"id": 90, "description": "legacy-shell", "group": "platform", "tag_list": ["shell"],
                 "token": LEGACY, "created_at": "2025-01-01T00:00:00Z", "managers": ["s_0000000000b2"]}],
}
RUNNER = {"name": "shared", "runner_type": "group_type", "group": "platform", "tags": ["docker"],
          "run_untagged": False, "executor": "docker",
          "settings": {"docker": {"image": "alpine:3.20"}, "environment": [f"DB_PASSWORD={DB_PASSWORD}"],
                       "cache": {"Type": "s3", "s3": {"ServerAddress": "s3.example.com", "BucketName": "cache",
                                                      "AccessKey": "canary-s3-access-key", "SecretKey": SECRET_KEY}}}}


class AwxJobs:
    """Two local hosts, the API connection in group_vars (the documented layout), and a job per playbook."""

    def __init__(self, tmp_path, sim, other_instances=()):
        self.tmp_path = tmp_path
        self.sim = sim
        # (simulator, its API token): a runner declared on each, through a definition's api_url and api_token.
        self.other_instances = list(other_instances)
        # The definitions, when not the canary runner and its twins on the other instances.
        self.runners = None
        self.jobs = 0
        self.scanned_events = 0
        self.secrets = {PAT, SECRET_KEY, DB_PASSWORD, LEGACY, "canary-s3-access-key"}
        self.secrets |= {token for _other, token in self.other_instances}
        for index, host in enumerate(HOSTS, start=1):
            directory = tmp_path / "hosts" / host
            directory.mkdir(parents=True)
            (directory / ".runner_system_id").write_text(f"s_0000000000b{index}", encoding="ascii")

    def inventory(self, image="alpine:3.20"):
        runner = json.loads(json.dumps(RUNNER))
        runner["settings"]["docker"]["image"] = image
        elsewhere = [dict(runner, name=f"shared-on-{index}", api_url=other.url, api_token=token)
                     for index, (other, token) in enumerate(self.other_instances, start=1)]
        return {"all": {"children": {"gitlab_runners": {
            "hosts": {host: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                             "gitlab_runner_config_path": str(self.tmp_path / "hosts" / host / "config.toml")}
                      for host in HOSTS},
            "vars": {"gitlab_runner_api_url": self.sim.url, "gitlab_runner_api_token": PAT,
                     "gitlab_runner_install_method": "none", "gitlab_runner_manage_service": False,
                     "gitlab_runner_become": False,
                     "gitlab_runner_runners": self.runners if self.runners is not None else [runner] + elsewhere}}}}}

    def job(self, playbook, extravars=None, check=False, image="alpine:3.20"):
        """One job as AWX runs it; returns (rc, stdout). Every secret is searched for in what it kept."""
        self.jobs += 1
        private = self.tmp_path / f"job-{self.jobs}"
        (private / "inventory").mkdir(parents=True)
        (private / "env").mkdir()
        (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(self.inventory(image)), encoding="utf-8")
        results = private / "results.jsonl"
        env = playbook_env(private, {"RUNNEROPS_RESULTS_FILE": str(results),
                                     "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
        (private / "env" / "envvars").write_text(yaml.safe_dump(env), encoding="utf-8")
        cmdline = "--diff" + (" --check" if check else "")
        script = (
            "import sys, ansible_runner\n"
            f"r = ansible_runner.run(private_data_dir={str(private)!r}, playbook={str(playbook)!r}, verbosity=4,\n"
            f"                       extravars={extravars or {}!r}, cmdline={cmdline!r}, quiet=True)\n"
            "sys.exit(r.rc)\n")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900,
                              check=False, env=dict(os.environ, HOME=str(private / "home")))
        artifacts = private / "artifacts"
        events = sorted(artifacts.rglob("job_events/*.json"))
        self.scanned_events += len(events)
        stdout = "".join(path.read_text(encoding="utf-8") for path in artifacts.rglob("stdout"))
        for sim in [self.sim] + [other for other, _token in self.other_instances]:
            self.secrets |= {runner["token"] for runner in sim.state()["runners"]}
        kept = [path for path in artifacts.rglob("*") if path.is_file()] + ([results] if results.exists() else [])
        for path in kept:
            text = path.read_text(encoding="utf-8", errors="replace")
            for secret in self.secrets:
                assert secret not in text, f"{secret[:6]}... in {path.relative_to(private)} of {playbook.name}"
            assert "glrt-" not in text, f"a runner token in {path.relative_to(private)} of {playbook.name}"
        for path in events:
            event = json.loads(path.read_text(encoding="utf-8"))
            assert set(event) >= {"event", "stdout"}
        return proc.returncode, stdout + proc.stderr

    def entry(self, host, name):
        data = tomllib.loads((self.tmp_path / "hosts" / host / "config.toml").read_text(encoding="utf-8"))
        return next((item for item in data.get("runners", []) if item["name"] == name), None)


def test_no_secret_in_any_job_event_or_artifact(make_sim, tmp_path, request):
    fleet = AwxJobs(tmp_path, make_sim(SEED))
    site = REPO_ROOT / "playbooks" / "site.yml"

    rc, output = fleet.job(site)
    assert rc == 0, output[-5000:]
    assert fleet.entry("h1", "shared")["cache"]["s3"]["SecretKey"] == SECRET_KEY
    rc, output = fleet.job(site)
    assert rc == 0, output[-5000:]

    # The preview shows each host's config.toml change, its secrets redacted.
    rc, output = fleet.job(site, check=True, image="alpine:3.21")
    assert rc == 0, output[-5000:]
    for host in HOSTS:
        assert f"hosts/{host}/config.toml (after)" in output
    # The whole file travels in the result too (-vvvv), as JSON.
    assert 'SecretKey = \\"<redacted>\\"' in output and "DB_PASSWORD=<redacted>" in output
    assert '+    image = "alpine:3.21"' in output
    assert fleet.entry("h1", "shared")["docker"]["image"] == "alpine:3.20"

    rotate = REPO_ROOT / "playbooks" / "rotate_tokens.yml"
    rc, output = fleet.job(rotate)
    assert rc == 0, output[-5000:]
    before = fleet.entry("h1", "shared")["token"]
    rc, output = fleet.job(rotate, extravars={"rotate_all": True})
    assert rc == 0, output[-5000:]
    assert fleet.entry("h1", "shared")["token"] != before

    # h2 still runs a runner registered with a registration token.
    config = tmp_path / "hosts" / "h2" / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + (
        f'\n[[runners]]\n  name = "legacy-shell"\n  url = "{fleet.sim.url}"\n  id = 90\n  token = "{LEGACY}"\n'
        '  token_obtained_at = 2025-01-01T00:00:00Z\n  token_expires_at = 0001-01-01T00:00:00Z\n'
        '  executor = "shell"\n'), encoding="utf-8")
    rc, output = fleet.job(REPO_ROOT / "playbooks" / "migrate_registration_tokens.yml")
    assert rc == 0, output[-5000:]
    assert fleet.entry("h2", "legacy-shell")["id"] != 90

    rc, output = fleet.job(REPO_ROOT / "playbooks" / "decommission.yml", extravars={"target": "h2"})
    assert rc == 0, output[-5000:]
    assert fleet.entry("h2", "shared") is None

    rc, output = fleet.job(REPO_ROOT / "playbooks" / "prune.yml", extravars={"prune_stale_after": 7200})
    assert rc == 0, output[-5000:]
    assert "nothing stale to prune" in output

    assert fleet.scanned_events > 500
    request.node.user_properties.append((FIGURES_PROPERTY, {"runs scanned for secrets": fleet.jobs,
                                                            "job events scanned for secrets": fleet.scanned_events}))


def test_no_token_in_the_job_events_of_a_stopped_run_or_a_per_host_deletion(make_sim, tmp_path):
    fleet = AwxJobs(tmp_path, make_sim(SEED))
    site = REPO_ROOT / "playbooks" / "site.yml"
    build = {"name": "build", "runner_type": "group_type", "group": "platform", "tags": ["build"], "per_host": True}
    fleet.runners = [RUNNER, build]
    rc, output = fleet.job(site)
    assert rc == 0, output[-5000:]

    # Stopped before any change: by a definition, then by a host whose config.toml is not TOML.
    fleet.runners = [RUNNER, dict(build, maximum_timeout=-5)]
    rc, output = fleet.job(site)
    assert rc != 0 and "gitlab_runner_runners[build]: maximum_timeout is -5 seconds" in output
    config = tmp_path / "hosts" / "h1" / "config.toml"
    kept = config.read_bytes()
    config.write_bytes(kept + b"\n[[runners]\n")
    fleet.runners = [RUNNER, build]
    rc, output = fleet.job(site)
    assert rc != 0 and "it is not valid TOML: line" in output
    config.write_bytes(kept)

    # Each host's per-host runner, declared absent, leaves the host and GitLab; its token shows nowhere.
    fleet.runners = [RUNNER, dict(build, state="absent")]
    rc, output = fleet.job(site)
    assert rc == 0, output[-5000:]
    assert sorted(runner["description"] for runner in fleet.sim.state()["runners"]) == ["legacy-shell", "shared"]
    assert fleet.entry("h1", "build-h1") is None


def test_no_secret_of_a_second_gitlab_instance_in_any_job_event(make_sim, tmp_path):
    other_pat = "glpat-canary-second-instance-0"
    other = make_sim(dict(SEED, users=[{"username": "alice", "tokens": [
        {"token": other_pat, "scopes": ["api"], "name": "fleet"}]}], runners=[]))
    fleet = AwxJobs(tmp_path, make_sim(SEED), other_instances=[(other, other_pat)])
    site = REPO_ROOT / "playbooks" / "site.yml"
    for check in (False, False, True):
        rc, output = fleet.job(site, check=check)
        assert rc == 0, output[-5000:]
    assert [runner["description"] for runner in other.state()["runners"]] == ["shared-on-1"]
    assert fleet.entry("h1", "shared-on-1")["url"] == other.url
    assert fleet.scanned_events > 100
