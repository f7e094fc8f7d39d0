"""Fixtures for the server tests: the real SmolLM2 model from the cache, and real uvicorn
servers on free loopback ports (in a thread of the test process, so the scheduler's gauges and
the access log are observable here).

Only one server runs at a time: servers built on the shared model are started per test module or
per test, and each stops its scheduler thread before the next starts.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from datashark.registry import ModelNotFoundError, resolve_model
from datashark.server.app import create_app
from datashark.server.settings import ServerSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.v1 = self.base_url + "/v1"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if httpx.get(self.base_url + "/health").status_code == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("server never became ready")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def metric(self, name: str) -> float:
        """A sample's value from /metrics (a name with its labels, e.g. `x{a="b"}`)."""
        text = httpx.get(self.base_url + "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0


def settings(**overrides: Any) -> ServerSettings:
    """ServerSettings that ignore the developer's environment and .env file."""
    base: dict[str, Any] = {"model": "smollm2", "pull": False, "api_key": None}
    base.update(overrides)
    return ServerSettings(_env_file=None, **base)


@contextmanager
def serve(model: Any, **overrides: Any) -> Iterator[LiveServer]:
    """A live server over an already loaded model."""
    server = LiveServer(create_app(settings(**overrides), model=model)).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    try:
        return resolve_model("smollm2", pull=False)
    except ModelNotFoundError as exc:
        pytest.fail(
            f"SmolLM2 is not in the model cache ({exc}); run `datashark models pull smollm2`"
        )


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path) -> Any:
    from datashark.engine import Model

    return Model.load(smollm2_path, threads=2)


@pytest.fixture(scope="module")
def server(smollm2: Any) -> Iterator[LiveServer]:
    """The default server for a test module: SmolLM2, no auth, 8 running sequences."""
    with serve(smollm2, max_running=8) as live:
        yield live


@pytest.fixture()
def client(server: LiveServer) -> Any:
    import openai

    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def make_server(smollm2: Any) -> Any:
    """`with make_server(**settings) as live:` a server of its own over the shared model."""

    def factory(**overrides: Any) -> Any:
        return serve(smollm2, **overrides)

    return factory


@pytest.fixture(scope="session")
def make_settings() -> Any:
    return settings


@pytest.fixture(scope="session")
def live_server() -> type[LiveServer]:
    return LiveServer


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` object of an OpenAI-shaped error response, after checking its shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture(scope="session")
def check_error() -> Any:
    return openai_error
