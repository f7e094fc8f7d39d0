"""Start a real `datashark serve` as a subprocess on a free loopback port, for tests.

The server gets the real model file from the cache (`resolve_model("smollm2", pull=False)`),
a private cache path, and whatever gateway settings the test passes in `env` (for example
`DATASHARK_PROVIDERS=templates`). `start()` waits until GET /health answers 200 and fails with
the server's own output when it does not come up. Used by tests/plugin and tests/deploy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "serve") -> None:
        from datashark.registry import resolve_model

        try:
            self.model = resolve_model("smollm2", pull=False)
        except Exception as exc:  # missing model: say how to get it
            raise RuntimeError(f"{exc} (make test pulls it first)") from None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.env = {
            **os.environ,
            "DATASHARK_CACHE_PATH": str(Path(tempfile.mkdtemp(dir=log_dir)) / "cache.sqlite3"),
            "DATASHARK_THREADS": "1",
            **env,
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180.0, healthy_status: int = 200) -> ServeProcess:
        """Start and wait until GET /health answers `healthy_status` (503: model not loaded)."""
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "datashark.cli",
                "serve",
                "--model",
                str(self.model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"datashark serve exited early:\n{self.output()}")
            try:
                health = httpx.get(f"{self.url}/health", timeout=2.0, trust_env=False)
                if health.status_code == healthy_status and (
                    healthy_status == 200 or health.json().get("status") == "failed"
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"datashark serve not healthy after {timeout_s}s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
