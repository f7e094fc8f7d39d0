"""Load benchmark of `POST /api/generate` (part of `datashark bench gateway`).

Serves the given ASGI app (the real `create_app` with the Roblox router) with uvicorn on a free
loopback port, warms it with one request per prompt (the first answer from each template runs
its sandbox check; `warmup_ms` reports those), then sends `total` requests at once from one
httpx client (a connection each),
clarify off, providers limited to `templates`, the cache off so every request goes through the
flow (retrieval, provider chain, extraction, validation). Reports errors (any non-200 or a
status other than ok), latency p50/p95 and throughput.

Not handled: several client machines; the prompts are a fixed set the templates cover.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from datashark.gateway.metrics import percentile

PROMPTS = (
    "make a part that kills players when they touch it",
    "a leaderboard with coins for each player",
    "a coin that gives the player a point when touched and disappears",
    "a checkpoint that sets where the player respawns",
    "a teleporter pad that moves players to another pad",
    "a day and night cycle",
    "let players sprint when holding shift",
    "a moving platform that goes back and forth with TweenService",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _fire(base_url: str, total: int) -> tuple[list[float], list[str], float, list[float]]:
    limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
    latencies: list[float] = []
    errors: list[str] = []

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=300.0) as client:

        async def one(i: int) -> None:
            body = {
                "prompt": PROMPTS[i % len(PROMPTS)],
                "clarify": False,
                "providers": ["templates"],
            }
            start = time.perf_counter()
            try:
                response = await client.post("/api/generate", json=body)
                ok = response.status_code == 200 and response.json().get("status") == "ok"
                if not ok:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append((time.perf_counter() - start) * 1000.0)

        # Warm-up, one request per prompt: the first answer from each template runs the sandbox
        # (a child process); later identical answers reuse that verdict.
        for i in range(len(PROMPTS)):
            await one(i)
        warm = list(latencies)
        if errors:
            return warm, errors, 0.0, warm
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        wall = time.perf_counter() - start
    return latencies, errors, wall, warm


def run_load_bench(app: Any, total: int) -> dict[str, object]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            backlog=max(2048, total * 2),
        )  # fmt: skip
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        latencies, errors, wall, warm = asyncio.run(_fire(f"http://127.0.0.1:{port}", total))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return {
        "requests": total,
        "errors": len(errors),
        "error_samples": errors[:5],
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "wall_s": round(wall, 3),
        "requests_per_s": round(total / wall, 1) if wall > 0 else 0.0,
        "warmup_ms": [round(x, 1) for x in warm],
    }
