"""Test controls: the request log, fault injection and the ``/__sim__/`` API.

:class:`FaultMiddleware` sits outside the Flask application.  It logs every
``/api/v4`` call, and applies faults there because a dropped connection has to
happen below Flask: the middleware shuts the client socket and raises a
ConnectionError, which werkzeug's server treats as a connection the client
dropped, so no response bytes are ever written.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from io import BytesIO
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, request

from .app import API_PREFIX, ApiError, create_app, json_response, raw_path
from .state import SeedError, SimState, state_from_seed

REDACTED = "<redacted>"
SECRET_PARAMS = ("token", "private_token")
ACTIONS = ("status", "delay", "drop")


def reason_phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:  # e.g. Cloudflare's 520-530, which python-gitlab retries
        return "Unknown Error"


class Simulator:
    """The state plus its test controls; ``lock`` serialises every request's handling."""

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.seed = dict(seed or {})
        self.state: SimState = state_from_seed(self.seed)
        self.faults = FaultList()
        self.log = RequestLog()

    def reset(self, seed: Mapping[str, Any] | None = None) -> None:
        """Fresh state from ``seed`` (default: the original one); log and faults cleared."""
        self.state = state_from_seed(seed if seed is not None else self.seed)
        self.faults.clear()
        self.log.clear()


@dataclass
class Fault:
    id: int
    action: str
    path: str
    method: str | None = None
    times: int | None = 1  # None: every matching call
    status: int = 503
    retry_after: int | None = None
    body: Any = None
    delay: float = 0.0
    when: str = "before"

    @classmethod
    def from_json(cls, fault_id: int, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        known = {"method", "path", "times", "action", "status", "retry_after", "body", "delay", "when"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault key(s): {', '.join(sorted(unknown))}")
        action = data.get("action", "status")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        path = data.get("path")
        if not isinstance(path, str):
            raise ValueError("path (a regular expression matched against the whole request path) is required")
        try:
            re.compile(path)
        except re.error as exc:
            raise ValueError(f"path is not a valid regular expression: {exc}") from exc
        times = data.get("times", 1)
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer, or null for every call")
        status = data.get("status", 503)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        retry_after = data.get("retry_after")
        if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
            raise ValueError("retry_after must be whole seconds (python-gitlab reads it with int())")
        delay = data.get("delay", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            raise ValueError("delay must be a number of seconds")
        when = data.get("when", "before")
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        method = data.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string such as 'POST'")
        return cls(
            id=fault_id,
            action=action,
            path=path,
            method=method.upper() if method else None,
            times=times,
            status=status,
            retry_after=retry_after,
            body=data.get("body"),
            delay=float(delay),
            when=when,
        )

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and re.fullmatch(self.path, path) is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "action": self.action, "method": self.method, "path": self.path,
            "times": self.times, "status": self.status, "retry_after": self.retry_after,
            "body": self.body, "delay": self.delay, "when": self.when,
        }

    def response(self) -> tuple[str, list[tuple[str, str]], bytes]:
        """The status answer, with GitLab-like bodies unless one was given."""
        headers: list[tuple[str, str]] = []
        if self.retry_after is not None:
            headers.append(("Retry-After", str(self.retry_after)))
        body = self.body
        if body is None and self.status == 429:
            body = "Retry later\n"  # Rack::Attack's default throttle answer
        elif body is None:
            body = {"message": f"{self.status} {reason_phrase(self.status)}"}
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/plain"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        headers += [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        return f"{self.status} {reason_phrase(self.status)}", headers, payload


class FaultList:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, data: Any) -> Fault:
        with self._lock:
            fault = Fault.from_json(self._next_id, data)
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this call, counting the call against its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_json() for f in self._faults]


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _redact(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if k in SECRET_PARAMS else v for k, v in params.items()}


def _query_dict(query_string: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def _body_for_log(environ: Mapping[str, Any], body: bytes) -> Any:
    if not body:
        return None
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip()
    try:
        if content_type == "application/json":
            parsed = json.loads(body)
            return _redact(parsed) if isinstance(parsed, dict) else parsed
        if content_type == "application/x-www-form-urlencoded":
            return _redact(_query_dict(body.decode("latin-1")))
    except ValueError:
        pass
    return f"<{len(body)} bytes of {content_type or 'unknown type'}>"


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body once and hand Flask a replayable copy."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


class FaultMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]], sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = raw_path(environ)
        if not path.startswith(API_PREFIX + "/"):
            status, headers, body = self._serve(environ)
            start_response(status, headers)
            return [body]

        method = environ["REQUEST_METHOD"].upper()
        request_body = _read_body(environ)
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": _redact(_query_dict(environ.get("QUERY_STRING", ""))),
            "body": _body_for_log(environ, request_body),
            "status": 0,
            "time": time.time(),
            "fault": None,
        }
        fault = self.sim.faults.take(method, path)
        if fault:
            entry["fault"] = f"{fault.action}:{fault.when}"
        # Each exit logs the call before the client can see the outcome, so a
        # test reading the log right after its call finds it there.
        if fault and fault.when == "before" and (answer := self._apply(fault, environ, entry, start_response)):
            return answer
        status, headers, body = self._serve(environ)
        if fault and fault.when == "after" and (answer := self._apply(fault, environ, entry, start_response)):
            return answer
        return self._respond(start_response, entry, int(status.split()[0]), status, headers, body)

    def _apply(
        self, fault: Fault, environ: dict[str, Any], entry: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes] | None:
        """Carry out a fault; None means: go on serving the call normally."""
        if fault.action == "drop":
            self._drop(environ, entry)
        if fault.action == "delay":
            time.sleep(fault.delay)
            return None
        return self._respond(start_response, entry, fault.status, *fault.response())

    def _respond(
        self,
        start_response: Callable[..., Any],
        entry: dict[str, Any],
        code: int,
        status: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> list[bytes]:
        entry["status"] = code
        self.sim.log.append(entry)
        start_response(status, headers)
        return [body]

    def _serve(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the Flask app to completion under the simulator lock."""
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [status, headers]
            return lambda data: None

        with self.sim.lock:
            result = self.app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        return captured[0], captured[1], body

    def _drop(self, environ: dict[str, Any], entry: dict[str, Any]) -> None:
        self.sim.log.append(entry)  # status stays 0: the client never gets one
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionAbortedError("gitlab_sim: connection dropped by an injected fault")


def control_blueprint(sim: Simulator) -> Blueprint:
    ctl = Blueprint("sim", __name__, url_prefix="/__sim__")

    def bad(message: str) -> Response:
        return json_response({"error": message}, 400)

    def body() -> Any:
        raw = request.get_data()
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise ApiError(400, {"error": f"the body is not JSON: {exc}"}) from exc

    @ctl.get("/requests")
    def list_requests() -> Response:
        return json_response(sim.log.entries())

    @ctl.delete("/requests")
    def clear_requests() -> Response:
        sim.log.clear()
        return Response(status=204)

    @ctl.get("/faults")
    def list_faults() -> Response:
        return json_response(sim.faults.as_json())

    @ctl.post("/faults")
    def add_fault() -> Response:
        try:
            fault = sim.faults.add(body())
        except ValueError as exc:
            return bad(str(exc))
        return json_response(fault.as_json(), 201)

    @ctl.delete("/faults")
    def clear_faults() -> Response:
        sim.faults.clear()
        return Response(status=204)

    @ctl.get("/state")
    def state() -> Response:
        return json_response(sim.state.snapshot())

    @ctl.post("/jobs")
    def queue_job() -> Response:
        data = body()
        if not isinstance(data, dict) or set(data) - {"runner_id", "script", "name", "timeout"}:
            return bad('expected {"runner_id": <id>, "script": [<line>, ...], "name": <text>, "timeout": <seconds>}')
        runner = sim.state.runners.get(data.get("runner_id"))
        if runner is None:
            return bad(f"no runner with id {data.get('runner_id')!r}")
        script = data.get("script")
        if not isinstance(script, list) or not script or not all(isinstance(line, str) for line in script):
            return bad("script must be a non-empty list of strings")
        job = sim.state.queue_job(runner, script, str(data.get("name") or "job"), int(data.get("timeout") or 3600))
        return json_response(sim.state.job_snapshot(job), 201)

    @ctl.post("/clock")
    def clock() -> Response:
        data = body()
        seconds = data.get("advance") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            return bad('expected {"advance": <seconds>}')
        sim.state.clock.advance(seconds)
        snapshot = sim.state.snapshot()
        return json_response({"now": snapshot["now"], "clock_offset": snapshot["clock_offset"]})

    @ctl.post("/settings")
    def settings() -> Response:
        data = body()
        if not isinstance(data, dict):
            return bad("expected a JSON object of settings")
        try:
            sim.state.settings.update(data)
        except SeedError as exc:
            return bad(str(exc))
        return json_response(sim.state.settings.as_dict())

    @ctl.post("/reset")
    def reset() -> Response:
        try:
            sim.reset(body())
        except SeedError as exc:
            return bad(str(exc))
        return json_response(sim.state.snapshot())

    return ctl


def create_wsgi_app(sim: Simulator) -> Callable[..., Iterable[bytes]]:
    """The whole simulator as one WSGI application."""
    app: Flask = create_app(sim)
    app.register_blueprint(control_blueprint(sim))
    return FaultMiddleware(app, sim)
