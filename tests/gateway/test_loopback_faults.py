"""Acceptance 1 at the gateway level: real loopback upstreams speaking the OpenAI chat-completions
protocol (JSON and SSE) with injected faults. For each fault: the right provider answers, the
metrics count it, and the breaker opens and later recovers.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from datashark.gateway.adapters.openai_compatible import OpenAICompatibleProvider
from datashark.gateway.gateway import AllProvidersFailed, Gateway, StreamFailed
from datashark.gateway.loopback import refused_url
from datashark.gateway.policy import Policy
from datashark.gateway.provider import ChatRequest, Completion, Message

POLICY = Policy(
    connect_timeout_s=1.0,
    read_timeout_s=1.0,
    total_timeout_s=5.0,
    max_retries=2,
    backoff_base_s=0.005,
    retry_after_max_s=3.0,
)
REQ = ChatRequest((Message("user", "make a kill brick"),), "make a kill brick", max_tokens=64)


async def accept(completion: Completion) -> str:
    return completion.text


def make_gateway(
    primary_url: str, backup_url: str, threshold: int = 3, cooldown: float = 60.0
) -> Gateway:
    providers = [
        OpenAICompatibleProvider("primary", primary_url, "m", "sk-test", POLICY, True),
        OpenAICompatibleProvider("backup", backup_url, "m", None, POLICY, False),
    ]
    return Gateway(providers, {"primary": POLICY, "backup": POLICY}, threshold, cooldown)


def complete(gw: Gateway, **kw):
    async def go():
        try:
            return await gw.complete(REQ, accept, **kw)
        finally:
            await gw.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("faults", "reason", "calls"),
    [
        (["slow"], "timeout", 1),
        (["500", "500", "500"], "server_error", 3),
        (["malformed"], "malformed", 1),
        (["empty"], "empty", 1),
        (["cut"], "stream_cut", 1),
    ],
)
def test_fault_falls_back_to_backup_and_is_counted(upstream, backup, faults, reason, calls) -> None:
    upstream.inject(*faults)
    gw = make_gateway(upstream.base_url, backup.base_url)
    result = complete(gw)
    assert result.completion.provider == "backup"
    assert result.completion.model == "backup-model"
    assert [a.outcome for a in result.attempts] == [reason, "ok"]
    snap = gw.metrics.provider_snapshot("primary")
    assert snap["calls"] == calls
    assert snap["failures_by_reason"] == {reason: calls}
    assert snap["fallbacks"] == 1 and snap["successes"] == 0
    assert gw.metrics.provider_snapshot("backup")["successes"] == 1
    assert len(upstream.seen) == calls and len(backup.seen) == 1
    assert upstream.seen[0].authorization == "Bearer sk-test"
    assert upstream.seen[0].body["messages"] == [{"role": "user", "content": "make a kill brick"}]


def test_connection_refused_retries_then_falls_back(backup) -> None:
    gw = make_gateway(refused_url(), backup.base_url)
    result = complete(gw)
    assert result.completion.provider == "backup"
    assert result.attempts[0].outcome == "connect" and result.attempts[0].retries == 2
    assert gw.metrics.provider_snapshot("primary")["failures_by_reason"] == {"connect": 3}


def test_transient_500_is_retried_on_the_same_provider(upstream, backup) -> None:
    upstream.inject("500")
    gw = make_gateway(upstream.base_url, backup.base_url)
    result = complete(gw)
    assert result.completion.provider == "primary"
    assert result.attempts[0].retries == 1
    assert len(backup.seen) == 0


def test_429_waits_for_retry_after_then_succeeds(upstream, backup) -> None:
    upstream.retry_after = "1"
    upstream.inject("429")
    gw = make_gateway(upstream.base_url, backup.base_url)
    result = complete(gw)
    assert result.completion.provider == "primary"
    assert [s.fault for s in upstream.seen] == ["429", "ok"]
    assert upstream.seen[1].at - upstream.seen[0].at >= 0.95  # the retry honoured Retry-After: 1
    assert gw.metrics.provider_snapshot("primary")["failures_by_reason"] == {"rate_limited": 1}


def test_429_with_a_long_retry_after_falls_back_at_once(upstream, backup) -> None:
    upstream.retry_after = "120"
    upstream.inject("429")
    gw = make_gateway(upstream.base_url, backup.base_url)
    result = complete(gw)
    assert result.completion.provider == "backup"
    assert result.attempts[0].outcome == "rate_limited" and result.attempts[0].retries == 0


def test_breaker_opens_then_recovers_after_cooldown(upstream, backup) -> None:
    gw = make_gateway(upstream.base_url, backup.base_url, threshold=2, cooldown=2.0)

    async def scenario() -> list[list[str]]:
        outcomes = []
        try:
            upstream.inject("malformed", "malformed")
            for _ in range(3):  # two failures open it; the third request skips primary
                result = await gw.complete(REQ, accept)
                outcomes.append([a.outcome for a in result.attempts])
            assert gw.breakers["primary"].state.value == "open"
            while gw.breakers["primary"].state.value == "open":  # the cooldown
                await asyncio.sleep(0.05)
            assert gw.breakers["primary"].state.value == "half_open"
            result = await gw.complete(REQ, accept)  # the probe, and primary is healthy again
            outcomes.append([a.outcome for a in result.attempts])
            assert gw.breakers["primary"].state.value == "closed"
        finally:
            await gw.aclose()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes == [
        ["malformed", "ok"],
        ["malformed", "ok"],
        ["circuit_open", "ok"],
        ["ok"],
    ]
    assert len(upstream.seen) == 3  # nothing reached primary while its circuit was open
    assert gw.metrics.provider_snapshot("primary")["skipped"] == {"circuit_open": 1}


def test_stream_cut_before_first_token_falls_back(upstream, backup) -> None:
    upstream.inject("cut_early")
    gw = make_gateway(upstream.base_url, backup.base_url)

    async def go() -> tuple[str, list[str], str | None]:
        stream = gw.stream(REQ)
        try:
            text = "".join([chunk async for chunk in stream])
        finally:
            await gw.aclose()
        return text, [a.outcome for a in stream.attempts], stream.provider

    text, outcomes, provider = asyncio.run(go())
    assert outcomes == ["stream_cut", "ok"] and provider == "backup"
    assert text == backup.reply
    assert gw.metrics.provider_snapshot("primary")["failures_by_reason"] == {"stream_cut": 1}


def test_stream_cut_mid_way_fails_without_fallback(upstream, backup) -> None:
    upstream.inject("cut")
    gw = make_gateway(upstream.base_url, backup.base_url)

    async def go() -> tuple[list[str], StreamFailed]:
        chunks: list[str] = []
        stream = gw.stream(REQ)
        try:
            async for chunk in stream:
                chunks.append(chunk)
        except StreamFailed as exc:
            return chunks, exc
        finally:
            await gw.aclose()
        raise AssertionError("the cut stream did not fail")

    chunks, exc = asyncio.run(go())
    assert chunks == [upstream.reply[:16], upstream.reply[16:32]]  # what arrived before the cut
    assert exc.attempt.outcome == "stream_cut"
    assert len(backup.seen) == 0  # the client already had tokens: no fallback
    assert gw.metrics.provider_snapshot("primary")["failures_by_reason"] == {"stream_cut": 1}


def test_full_stream_is_reassembled(upstream) -> None:
    gw = make_gateway(upstream.base_url, refused_url())

    async def go() -> str:
        try:
            return "".join([c async for c in gw.stream(REQ)])
        finally:
            await gw.aclose()

    assert asyncio.run(go()) == upstream.reply
    assert upstream.seen[0].body["stream"] is True


def test_everything_down_reports_each_attempt() -> None:
    gw = make_gateway(refused_url(), refused_url())
    with pytest.raises(AllProvidersFailed) as info:
        complete(gw)
    assert [a.outcome for a in info.value.attempts] == ["connect", "connect"]
    assert "primary: connect" in str(info.value)


def test_metrics_reach_the_prometheus_registry(upstream, backup) -> None:
    before = (
        REGISTRY.get_sample_value(
            "datashark_gateway_failures_total", {"provider": "primary", "reason": "malformed"}
        )
        or 0.0
    )
    upstream.inject("malformed")
    complete(make_gateway(upstream.base_url, backup.base_url))
    after = REGISTRY.get_sample_value(
        "datashark_gateway_failures_total", {"provider": "primary", "reason": "malformed"}
    )
    assert after == before + 1
    assert (
        REGISTRY.get_sample_value("datashark_gateway_latency_seconds_count", {"provider": "backup"})
        >= 1
    )


def test_latency_stats_are_recorded(upstream) -> None:
    upstream.inject("slow")
    upstream.slow_s = 0.1
    gw = make_gateway(upstream.base_url, refused_url())
    start = time.perf_counter()
    complete(gw)
    wall_ms = (time.perf_counter() - start) * 1000
    snap = gw.metrics.provider_snapshot("primary")
    assert 100.0 <= snap["avg_ms"] <= wall_ms and snap["p95_ms"] == snap["avg_ms"]


def test_stream_with_no_first_token_in_time_falls_back(upstream, backup) -> None:
    upstream.inject("slow")  # 2 s before anything; the read timeout is 1 s
    gw = make_gateway(upstream.base_url, backup.base_url)

    async def go() -> tuple[str, list[str]]:
        stream = gw.stream(REQ)
        try:
            text = "".join([chunk async for chunk in stream])
        finally:
            await gw.aclose()
        return text, [a.outcome for a in stream.attempts]

    text, outcomes = asyncio.run(go())
    assert outcomes == ["timeout", "ok"] and text == backup.reply
