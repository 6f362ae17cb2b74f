"""Fixtures for the simulator's own tests.

One simulator subprocess serves the whole session; every test starts from a
fresh copy of ``BASE_SEED`` (``POST /__sim__/reset``), which costs milliseconds.
Tests that need another instance call ``sim.reset(other_seed)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import gitlab
import pytest
import requests

from tests.gitlab_sim import SimProcess
from tests.simulator.sim_seed import BASE_SEED


@pytest.fixture(scope="session")
def sim_process() -> Iterator[SimProcess]:
    with SimProcess(BASE_SEED) as process:
        yield process
        # A 500 from a bug prints a traceback; no test expects one.
        assert "Traceback" not in process.stderr_text(), process.stderr_text()


@pytest.fixture
def sim(sim_process: SimProcess) -> SimProcess:
    """The session's simulator, reset to BASE_SEED."""
    sim_process.reset()
    return sim_process


@pytest.fixture
def gl_for(sim: SimProcess):
    """A python-gitlab client factory: ``gl_for(TOKEN)``."""

    def make(token: str, **kwargs: Any) -> gitlab.Gitlab:
        kwargs.setdefault("retry_transient_errors", True)
        kwargs.setdefault("timeout", 10)
        return gitlab.Gitlab(sim.url, private_token=token, **kwargs)

    return make


@pytest.fixture
def api(sim: SimProcess):
    """Raw HTTP: ``api("GET", "/runners/1", token=ADMIN, params=..., json=...)`` -> requests.Response."""

    def call(method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["PRIVATE-TOKEN"] = token
        return requests.request(method, f"{sim.url}/api/v4{path}", headers=headers, timeout=10, **kwargs)

    return call


@pytest.fixture(autouse=True)
def _no_user_warnings() -> Iterator[None]:
    """python-gitlab's warnings (base URL mismatch, partial list) must not appear."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        yield
