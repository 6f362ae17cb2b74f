"""Run the simulator as a subprocess and drive its control API from Python.

    with SimProcess({"users": [...], "runners": [...]}) as sim:
        gl = gitlab.Gitlab(sim.url, private_token="glpat-...")
        sim.fault("/api/v4/user/runners", method="POST", action="drop", when="after")
        ...
        assert len(sim.requests("POST", "/api/v4/user/runners")) == 1
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]


class SimError(RuntimeError):
    """The simulator did not start, or a control call failed."""


class SimProcess:
    """One simulator subprocess (``python -m tests.gitlab_sim``).

    ``seed`` is a seed mapping (written to a temporary JSON file), a path to a
    YAML/JSON seed file, or None for an empty instance.
    """

    def __init__(
        self,
        seed: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 20.0,
        log_requests: bool = False,
    ) -> None:
        self._seed = seed
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._log_requests = log_requests
        self._proc: subprocess.Popen[str] | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._stderr: IO[str] | None = None
        self._url: str | None = None
        # Control calls go straight to the simulator, never through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SimProcess:
        if self._proc is not None:
            raise SimError("the simulator is already running")
        self._tmpdir = tempfile.TemporaryDirectory(prefix="gitlab_sim-")
        command = [sys.executable, "-m", "tests.gitlab_sim", "--host", self._host, "--port", str(self._port)]
        if self._seed is not None:
            command += ["--seed", str(self._seed_file(Path(self._tmpdir.name)))]
        if self._log_requests:
            command.append("--log-requests")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._stderr = open(Path(self._tmpdir.name) / "stderr.log", "w+", encoding="utf-8")
        self._proc = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        try:
            self._url = self._read_url()
        except BaseException:
            self.stop()
            raise
        return self

    def _seed_file(self, tmpdir: Path) -> Path:
        if isinstance(self._seed, Mapping):
            path = tmpdir / "seed.json"
            path.write_text(json.dumps(self._seed, default=str), encoding="utf-8")
            return path
        return Path(self._seed)  # type: ignore[arg-type]

    def _read_url(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.1):
                    line = self._proc.stdout.readline().strip()
                    if line.startswith("http"):
                        return line
                    break
                if self._proc.poll() is not None:
                    break
        raise SimError(f"the simulator did not start (exit code {self._proc.poll()}):\n{self.stderr_text()}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s) and remove its temporary files."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        self._url = None

    def __enter__(self) -> SimProcess:
        return self if self._proc is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:40123`` (give it to ``gitlab.Gitlab``)."""
        if self._url is None:
            raise SimError("the simulator is not running")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stderr_text(self) -> str:
        """What the simulator wrote to stderr so far (tracebacks of 500s land here)."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read()
        self._stderr.seek(0, os.SEEK_END)
        return text

    # ------------------------------------------------------------------ control API

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload, default=str).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(req, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise SimError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from exc
        return json.loads(raw) if raw else None

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Logged ``/api/v4`` calls, oldest first; ``path`` is a regex matched against the whole path.

        Each entry: method, path (as sent, without query), query (token values
        redacted), body (parsed, token values redacted), status (0 for a dropped
        connection), time (epoch seconds) and fault (e.g. ``"drop:after"`` or None).
        """
        entries = self._call("GET", "/__sim__/requests")
        return [
            e
            for e in entries
            if (method is None or e["method"] == method.upper())
            and (path is None or re.fullmatch(path, e["path"]) is not None)
        ]

    def clear_requests(self) -> None:
        self._call("DELETE", "/__sim__/requests")

    def fault(
        self,
        path: str,
        *,
        method: str | None = None,
        action: str = "status",
        times: int | None = 1,
        status: int = 503,
        retry_after: int | None = None,
        body: Any = None,
        delay: float = 0.0,
        when: str = "before",
    ) -> dict[str, Any]:
        """Inject a fault for the next ``times`` calls (None: all) whose path fully matches ``path``."""
        spec = {
            "path": path, "method": method, "action": action, "times": times, "status": status,
            "retry_after": retry_after, "body": body, "delay": delay, "when": when,
        }
        return self._call("POST", "/__sim__/faults", spec)

    def faults(self) -> list[dict[str, Any]]:
        """Faults not used up yet."""
        return self._call("GET", "/__sim__/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/__sim__/faults")

    def state(self) -> dict[str, Any]:
        """Settings, users, groups, projects and runners (with tokens and managers)."""
        return self._call("GET", "/__sim__/state")

    def runner(self, runner_id: int) -> dict[str, Any]:
        """One runner from :meth:`state`, tokens included."""
        for runner in self.state()["runners"]:
            if runner["id"] == runner_id:
                return runner
        raise KeyError(runner_id)

    def queue_job(self, runner_id: int, script: list[str], name: str = "job", timeout: int = 3600) -> dict[str, Any]:
        """Queue a job only runner ``runner_id`` may take; returns the job (``state()["jobs"]`` follows it)."""
        return self._call("POST", "/__sim__/jobs", {"runner_id": runner_id, "script": script, "name": name,
                                                    "timeout": timeout})

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the simulator clock forward (token expiry, online/stale status)."""
        return self._call("POST", "/__sim__/clock", {"advance": seconds})

    def settings(self, **values: Any) -> dict[str, Any]:
        """Change settings (e.g. ``allow_runner_registration_token=True``); returns all settings."""
        return self._call("POST", "/__sim__/settings", values)

    def reset(self, seed: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Replace the state with ``seed`` (default: the start seed); clears log and faults."""
        return self._call("POST", "/__sim__/reset", seed)
