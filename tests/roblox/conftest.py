"""Fixtures for the Roblox backend tests: the real app (`datashark.server.app.create_app`) served
by uvicorn on a free loopback port, with the /api flow built from real settings (environment and
TOML file) pointing at loopback OpenAI-protocol stand-ins.

No network beyond loopback; no API keys; the SQLite cache lives in the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from datashark.gateway.loopback import LoopbackUpstream
from datashark.gateway.settings import GatewaySettings
from datashark.roblox.api import build_flow
from datashark.roblox.flow import GenerateFlow
from datashark.server.app import create_app
from datashark.server.settings import ServerSettings

KILL_BRICK_REPLY = """```lua
-- KillBrick (Script) in Workspace.KillBrick
local part = script.Parent
part.Touched:Connect(function(hit)
\tlocal character = hit.Parent
\tlocal humanoid = character and character:FindFirstChildOfClass("Humanoid")
\tif humanoid then
\t\thumanoid.Health = 0
\tend
end)
```
Any character that touches the part dies."""

PROVIDER_ENV_PREFIXES = ("DATASHARK_", "DEEPSEEK_", "OPENAI_", "OLLAMA_", "BETA_MODEL_")


@pytest.fixture(autouse=True)
def gateway_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No API keys, no inherited provider settings, a private cache file."""
    for name in list(os.environ):
        if name.startswith(PROVIDER_ENV_PREFIXES) or name == "REDIS_URL":
            if name != "DATASHARK_HOME":  # where the model cache lives
                monkeypatch.delenv(name)
    monkeypatch.setenv("DATASHARK_CACHE_PATH", str(tmp_path / "cache.sqlite3"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveApp:
    """`create_app` served by uvicorn in a thread; `flow` is installed on app.state."""

    def __init__(self, flow: GenerateFlow | None, api_key: str | None = None) -> None:
        self.app = create_app(ServerSettings(model="smollm2", api_key=api_key))
        if flow is not None:
            self.app.state.roblox_flow = flow
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # lifespan off: these tests exercise /api only, so the OpenAI side's model never loads
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveApp:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        flow = getattr(self.app.state, "roblox_flow", None)
        if flow is not None and self.server.servers:
            # close the providers' HTTP clients on the loop that opened them
            loop = self.server.servers[0].get_loop()
            asyncio.run_coroutine_threadsafe(flow.gateway.aclose(), loop).result(timeout=10)
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def post(self, body: Any, timeout: float = 180.0) -> httpx.Response:
        return httpx.post(f"{self.base_url}/api/generate", json=body, timeout=timeout)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", timeout=30)


def write_providers(
    tmp_path: Path, order: list[str], upstreams: dict[str, LoopbackUpstream]
) -> Path:
    """A DATASHARK_PROVIDERS_FILE naming each stand-in as an openai_compatible provider."""
    lines = [f"order = {order!r}".replace("'", '"')]
    for name, up in upstreams.items():
        lines += [
            f"[providers.{name}]",
            'kind = "openai_compatible"',
            f'base_url = "{up.base_url}"',
            f'model = "{name}-model"',
            "read_timeout_s = 1.0",
            "backoff_base_s = 0.005",
            "retry_after_max_s = 3",
        ]
    path = tmp_path / "providers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def standins() -> Iterator[dict[str, LoopbackUpstream]]:
    ups = {
        "primary": LoopbackUpstream(reply=KILL_BRICK_REPLY, model="primary-model").start(),
        "backup": LoopbackUpstream(reply=KILL_BRICK_REPLY, model="backup-model").start(),
    }
    try:
        yield ups
    finally:
        for up in ups.values():
            up.stop()


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., LiveApp]]:
    """live(order, upstreams, **env) -> a running LiveApp whose flow reads that configuration."""
    apps: list[LiveApp] = []

    def start(
        order: list[str] | None = None,
        upstreams: dict[str, LoopbackUpstream] | None = None,
        api_key: str | None = None,
        **env: str,
    ) -> LiveApp:
        if order is not None:
            monkeypatch.setenv(
                "DATASHARK_PROVIDERS_FILE", str(write_providers(tmp_path, order, upstreams or {}))
            )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        app = LiveApp(build_flow(GatewaySettings(_env_file=None)), api_key)
        apps.append(app.__enter__())
        return app

    yield start
    for app in apps:
        app.__exit__()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server (Debian package, installed by scripts/setup.sh) on a free port."""
    import shutil
    import subprocess

    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: scripts/setup.sh test installs it (apt)"
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def live_env_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LiveApp]]:
    """live_env_app(**env) -> a running app with no flow installed: the router builds it from
    the environment on the first request, as `datashark serve` does."""
    apps: list[LiveApp] = []

    def start(**env: str) -> LiveApp:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        app = LiveApp(None)
        apps.append(app.__enter__())
        return app

    yield start
    for app in apps:
        app.__exit__()
