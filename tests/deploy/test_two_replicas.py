"""Acceptance 4 (issue 7): two `datashark serve` replicas share one real Redis as their answer
cache; a request answered (and cached) by replica A is served from the cache by replica B.

Both replicas run the templates provider only (deterministic and fast) with REDIS_URL pointing
at a redis-server started by the test; each has its own SQLite path, so Redis is the only thing
they share.
"""

from __future__ import annotations

import httpx
import pytest
import redis

PROMPT = "make a kill brick that kills any player who touches it"


@pytest.fixture(scope="module")
def replicas(redis_url, serve_process, tmp_path_factory):
    logs = tmp_path_factory.mktemp("replicas")
    env = {"DATASHARK_PROVIDERS": "templates", "REDIS_URL": redis_url}
    started = []
    try:
        for name in ("replica-a", "replica-b"):
            started.append(serve_process(env, logs, name).start())
        yield started
    finally:
        for proc in started:
            proc.stop()


def generate(url: str, prompt: str) -> dict:
    response = httpx.post(
        f"{url}/api/generate",
        json={"prompt": prompt, "clarify": False},
        timeout=60,
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_answer_cached_by_one_replica_is_served_by_the_other(replicas, redis_url):
    a, b = replicas
    store = redis.Redis.from_url(redis_url)
    keys_before = set(store.keys("*"))

    first = generate(a.url, PROMPT)
    assert first["status"] == "ok" and first["cached"] is False
    new_keys = set(store.keys("*")) - keys_before
    assert new_keys, "replica A wrote nothing to Redis"

    second = generate(b.url, PROMPT)
    assert second["cached"] is True
    assert second["scripts"] == first["scripts"]
    assert second["provider"] == first["provider"]

    # Replica B's own metrics count the hit; a request nobody made before is still a miss on B.
    metrics = httpx.get(f"{b.url}/api/metrics", timeout=10, trust_env=False).json()
    assert metrics["cache"]["kind"] == "redis"
    assert metrics["cache"]["hits"] == 1 and metrics["cache"]["misses"] == 0
    other = generate(b.url, "make a part that spins forever")
    assert other["cached"] is False
    metrics_a = httpx.get(f"{a.url}/api/metrics", timeout=10, trust_env=False).json()
    assert metrics_a["cache"]["hits"] == 0 and metrics_a["cache"]["misses"] == 1
    store.close()
