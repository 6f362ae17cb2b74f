"""Starting the simulator: the command line and SimProcess."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest
import requests

from tests.gitlab_sim import SimError, SimProcess
from tests.gitlab_sim.__main__ import main as cli_main
from tests.gitlab_sim.process import REPO_ROOT

SEED_YAML = """
settings:
  version: "16.11.2-ee"
users:
  - username: root
    admin: true
    tokens:
      - {token: glpat-cli-admin, scopes: [api], expires_at: 2999-12-31}
groups:
  - path: platform/ci          # parent auto-created
runners:
  - description: ci-runner
    group: platform/ci
    managers:
      - {system_id: s_cli, contacted_at: 2025-01-01T00:00:00Z, version: "16.11.0"}
"""


def run_cli(*args: str) -> tuple[subprocess.Popen[str], IO[str]]:
    """The simulator's command line as a subprocess, and its stdout."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.gitlab_sim", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_prints_url_first_and_serves_at_once(tmp_path: Path):
    seed = tmp_path / "seed.yml"
    seed.write_text(SEED_YAML)
    port = free_port()
    proc, stdout = run_cli("--port", str(port), "--seed", str(seed), "--host", "127.0.0.1")
    try:
        line = stdout.readline()
        assert line == f"http://127.0.0.1:{port}\n"
        response = requests.get(f"{line.strip()}/api/v4/version", headers={"PRIVATE-TOKEN": "glpat-cli-admin"},
                                timeout=5)
        assert response.json()["version"] == "16.11.2-ee"
        runners = requests.get(f"{line.strip()}/api/v4/groups/platform%2Fci/runners",
                               headers={"PRIVATE-TOKEN": "glpat-cli-admin"}, timeout=5).json()
        assert [r["description"] for r in runners] == ["ci-runner"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0


def test_cli_port_zero_and_json_seed(tmp_path: Path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"users": [{"username": "u", "tokens": [{"token": "glpat-json"}]}]}))
    proc, stdout = run_cli("--port", "0", "--seed", str(seed))
    try:
        url = stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
        assert requests.get(f"{url}/api/v4/user", headers={"PRIVATE-TOKEN": "glpat-json"}, timeout=5).ok
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("runners:\n  - {group: nowhere}\n", "runners[0].group: unknown group 'nowhere'"),
        ("users: [{username: a, colour: red}]\n", "users[0]: unknown key(s) colour"),
        ("groups: [{path: g, members: {ghost: owner}}]\n", "unknown user 'ghost'"),
        ("settings: [1, 2]\n", "expected a mapping"),
        ("users: [\n", "not valid YAML"),
    ],
)
def test_cli_rejects_a_bad_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str):
    seed = tmp_path / "seed.yml"
    seed.write_text(content)
    assert cli_main(["--seed", str(seed)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err


def test_cli_missing_seed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert cli_main(["--seed", str(tmp_path / "absent.yml")]) == 2
    assert "absent.yml" in capsys.readouterr().err


def test_sim_process_with_seed_file_and_lifecycle(tmp_path: Path):
    seed = tmp_path / "seed.yml"
    seed.write_text(SEED_YAML)
    sim = SimProcess(seed)
    with pytest.raises(SimError):
        sim.url
    with sim:
        assert sim.pid is not None
        with pytest.raises(SimError, match="already running"):
            sim.start()
        state = sim.state()
        assert [g["path"] for g in state["groups"]] == ["platform", "platform/ci"]
        assert state["runners"][0]["managers"][0]["contacted_at"] == "2025-01-01T00:00:00.000Z"
        sim.reset({})
        assert sim.state()["runners"] == []
        sim.reset()
        assert len(sim.state()["runners"]) == 1
    sim.stop()  # stopping twice is harmless
    with pytest.raises(SimError):
        sim.url


def test_sim_process_reports_a_failed_start():
    with pytest.raises(SimError, match="unknown group"):
        SimProcess({"runners": [{"group": "nowhere"}]}).start()


def test_sim_process_without_seed_is_an_empty_instance():
    with SimProcess() as sim:
        state = sim.state()
        assert (state["users"], state["runners"]) == ([], [])
        assert state["settings"]["allow_runner_registration_token"] is False
        assert requests.get(f"{sim.url}/api/v4/user", timeout=5).status_code == 401
