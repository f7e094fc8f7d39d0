"""A response cache for identical normalised requests: SQLite by default, Redis when configured.

The key is the SHA-256 of a canonical JSON of the request (the caller normalises it first:
whitespace-collapsed lower-case prompt, sorted answers, ...). Values are JSON objects with a TTL.
SQLite is one file (WAL mode, safe for several processes on one machine); Redis is the choice for
several replicas. Cache failures never fail a request: a broken cache reads as a miss and a write
error is dropped (and counted by the caller as a miss).

Not handled: invalidation other than by TTL; the cache size is bounded only by TTL expiry
(SQLite rows are purged on write once expired).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol


def cache_key(normalised: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of `normalised`."""
    canonical = json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Cache(Protocol):
    kind: str

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any], ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


class SqliteCache:
    """One table `entries(key, value, expires)` in a file; calls run on the event loop thread
    (each is a single indexed statement, well under a millisecond)."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=2000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS entries "
            "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL)"
        )
        self._writes = 0

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT value FROM entries WHERE key = ? AND expires > ?", (key, time.time())
                ).fetchone()
        except sqlite3.Error:
            return None
        return json.loads(row[0]) if row else None

    async def set(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        now = time.time()
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO entries (key, value, expires) VALUES (?, ?, ?)",
                    (key, json.dumps(value), now + ttl_s),
                )
                self._writes += 1
                if self._writes % 256 == 0:
                    self._db.execute("DELETE FROM entries WHERE expires <= ?", (now,))
        except sqlite3.Error:
            return

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


class RedisCache:
    """`SET key value PX ttl` / `GET key` under a `datashark:gen:` prefix (redis.asyncio)."""

    kind = "redis"
    prefix = "datashark:gen:"

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.url = url
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._errors = (redis.RedisError, OSError, asyncio.TimeoutError)

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self._client.get(self.prefix + key)
        except self._errors:
            return None
        return json.loads(raw) if raw else None

    async def set(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        try:
            await self._client.set(
                self.prefix + key, json.dumps(value), px=max(1, int(ttl_s * 1000))
            )
        except self._errors:
            return

    async def aclose(self) -> None:
        await self._client.aclose()


def open_cache(redis_url: str | None, sqlite_path: Path) -> Cache:
    """Redis when a URL is given, else the SQLite file."""
    if redis_url:
        return RedisCache(redis_url)
    return SqliteCache(sqlite_path)
