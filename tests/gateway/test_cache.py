"""The response cache: SQLite file by default; a real redis-server (started here) when configured."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datashark.gateway.cache import RedisCache, SqliteCache, cache_key, open_cache


def test_key_is_canonical() -> None:
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_sqlite_round_trip_ttl_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"

    async def go() -> None:
        cache = SqliteCache(path)
        await cache.set("k", {"status": "ok", "n": 1}, ttl_s=60)
        await cache.set("short", {"x": 1}, ttl_s=0.05)
        assert await cache.get("k") == {"status": "ok", "n": 1}
        assert await cache.get("missing") is None
        await asyncio.sleep(0.1)
        assert await cache.get("short") is None
        await cache.aclose()
        reopened = open_cache(None, path)
        assert reopened.kind == "sqlite"
        assert await reopened.get("k") == {"status": "ok", "n": 1}
        await reopened.aclose()

    asyncio.run(go())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, stopped after the test."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: scripts/setup.sh test installs it (apt)"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
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


def test_redis_backs_the_cache(redis_url: str) -> None:
    async def go() -> None:
        cache = open_cache(redis_url, Path("/nonexistent/never-used.sqlite3"))
        assert isinstance(cache, RedisCache)
        await cache.set("k", {"status": "ok"}, ttl_s=60)
        assert await cache.get("k") == {"status": "ok"}
        await cache.set("brief", {"x": 1}, ttl_s=0.05)
        await asyncio.sleep(0.15)
        assert await cache.get("brief") is None
        await cache.aclose()
        # a second client (another replica) sees the same entry
        other = RedisCache(redis_url)
        assert await other.get("k") == {"status": "ok"}
        await other.aclose()

    asyncio.run(go())


def test_unreachable_redis_reads_as_a_miss() -> None:
    async def go() -> None:
        cache = RedisCache(f"redis://127.0.0.1:{_free_port()}/0")
        assert await cache.get("k") is None
        await cache.set("k", {"a": 1}, ttl_s=1)  # dropped, no exception
        await cache.aclose()

    asyncio.run(go())
