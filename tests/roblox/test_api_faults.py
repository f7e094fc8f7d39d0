"""Acceptance 1 through the real app: POST /api/generate over two loopback stand-ins (primary,
backup) speaking the OpenAI protocol. Each injected fault makes the backup answer, shows in the
response's attempts, in GET /api/metrics and in the Prometheus /metrics text; a reply whose Luau
does not compile is rejected by validation like a transport failure; the breaker opens and later
recovers.
"""

from __future__ import annotations

import time

import pytest

from datashark.gateway.loopback import refused_url

KILL = {"prompt": "make a part that kills players when they touch it", "clarify": False}


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        (["slow"], "timeout"),
        (["500", "500", "500"], "server_error"),
        (["malformed"], "malformed"),
        (["bad_luau"], "compile"),
        (["empty"], "empty"),
        (["cut"], "stream_cut"),
    ],
)
def test_fault_on_primary_backup_answers(live, standins, faults, reason) -> None:
    standins["primary"].inject(*faults)
    app = live(["primary", "backup"], standins)
    response = app.post(KILL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["status"] == "ok" and body["provider"] == "backup" and body["model"] == "backup-model"
    )
    assert [a["outcome"] for a in body["attempts"]] == [reason, "ok"]
    assert body["scripts"][0]["className"] == "Script"
    assert "humanoid.Health = 0" in body["scripts"][0]["source"]
    assert body["validation"]["compile"] == "passed"
    metrics = app.get("/api/metrics").json()["providers"]
    assert metrics["primary"]["failures_by_reason"] == {reason: len(faults)}
    assert metrics["primary"]["fallbacks"] == 1
    assert metrics["backup"]["successes"] == 1 and metrics["backup"]["calls"] == 1
    prom = app.get("/metrics").text
    assert f'datashark_gateway_failures_total{{provider="primary",reason="{reason}"}}' in prom


def test_refused_primary(live, standins, tmp_path) -> None:
    standins["primary"].stop()
    standins["primary"].port = int(refused_url().rsplit(":", 1)[1].split("/")[0])
    app = live(["primary", "backup"], standins)
    body = app.post(KILL).json()
    assert body["provider"] == "backup"
    assert body["attempts"][0]["outcome"] == "connect" and body["attempts"][0]["retries"] == 2


def test_429_retry_after_then_primary_answers(live, standins) -> None:
    standins["primary"].inject("429")
    app = live(["primary", "backup"], standins)
    body = app.post(KILL).json()
    assert body["provider"] == "primary" and body["attempts"][0]["retries"] == 1
    seen = standins["primary"].seen
    assert seen[1].at - seen[0].at >= 0.95
    assert app.get("/api/metrics").json()["providers"]["primary"]["failures_by_reason"] == {
        "rate_limited": 1
    }


def test_breaker_opens_and_recovers(live, standins) -> None:
    standins["primary"].inject("bad_luau", "bad_luau", "bad_luau")
    app = live(
        ["primary", "backup"],
        standins,
        DATASHARK_GATEWAY_BREAKER_THRESHOLD="3",
        DATASHARK_GATEWAY_BREAKER_COOLDOWN_S="3",
        DATASHARK_CACHE_TTL_S="0",
    )
    outcomes = []
    for n in range(4):
        body = app.post(
            KILL | {"prompt": f"make a part that kills players when they touch it ({n})"}
        ).json()
        outcomes.append(body["attempts"][0]["outcome"])
    assert outcomes == ["compile", "compile", "compile", "circuit_open"]
    status = app.get("/api/metrics").json()["providers"]["primary"]
    assert status["state"] == "open" and status["skipped"] == {"circuit_open": 1}
    deadline = time.monotonic() + 30
    while app.get("/api/metrics").json()["providers"]["primary"]["state"] != "half_open":
        assert time.monotonic() < deadline, "the breaker never let a probe through"
        time.sleep(0.1)
    body = app.post(KILL).json()
    assert body["provider"] == "primary"  # the probe succeeded
    assert app.get("/api/metrics").json()["providers"]["primary"]["state"] == "closed"
    assert len(standins["primary"].seen) == 4


def test_identical_requests_are_served_from_the_cache(live, standins) -> None:
    app = live(["primary", "backup"], standins)
    first = app.post(KILL).json()
    second = app.post(
        KILL | {"prompt": "  Make a part that KILLS players when they touch it "}
    ).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["scripts"] == first["scripts"] and second["request_id"] != first["request_id"]
    assert len(standins["primary"].seen) == 1
    assert app.get("/api/metrics").json()["cache"] == {"kind": "sqlite", "hits": 1, "misses": 1}


def test_redis_backs_the_cache(live, standins, redis_url) -> None:
    app = live(["primary"], standins, REDIS_URL=redis_url)
    assert app.post(KILL).json()["cached"] is False
    again = app.post(KILL).json()
    assert again["cached"] is True and again["provider"] == "primary"
    assert app.get("/api/metrics").json()["cache"]["kind"] == "redis"
    assert len(standins["primary"].seen) == 1


def test_all_providers_failing_is_a_clear_502(live, standins) -> None:
    standins["primary"].inject("malformed")
    standins["backup"].inject("bad_luau")
    app = live(["primary", "backup"], standins)
    response = app.post(KILL)
    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "all_providers_failed"
    assert (
        "primary: malformed" in body["error"]["message"]
        and "backup: compile" in body["error"]["message"]
    )
    assert [a["outcome"] for a in body["attempts"]] == ["malformed", "compile"]
