"""Gateway overhead benchmarks against a loopback upstream (part of `datashark bench gateway`).

- Added latency: the same chat request sent N times straight to a loopback OpenAI-protocol
  upstream with httpx, and N times through `Gateway.complete` (breaker, policy, metrics, parsing)
  to the same upstream, interleaved so that machine noise hits both alike. Reported: p50/p95 of
  each and the difference of the medians.
- Failover: a chain whose first provider refuses connections (nothing listens on its port), with
  the default policy (2 retries, jittered backoff); the time beyond a direct call is the cost of
  failing over. Measured with the breaker kept closed (every request pays the retries) and with
  the breaker open (the refused provider is skipped).

Not handled: real network latency (loopback only); the upstream's own speed is not the gateway's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from datashark.gateway.adapters.openai_compatible import OpenAICompatibleProvider
from datashark.gateway.gateway import Gateway
from datashark.gateway.loopback import LoopbackUpstream, refused_url
from datashark.gateway.metrics import percentile
from datashark.gateway.policy import Policy
from datashark.gateway.provider import ChatRequest, Completion, Message

REQUEST = ChatRequest(
    (Message("system", "You write Roblox Luau."), Message("user", "make a kill brick")),
    "make a kill brick",
    max_tokens=64,
)


@dataclass(frozen=True)
class Stats:
    p50_ms: float
    p95_ms: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        return cls(
            round(percentile(samples, 50), 3), round(percentile(samples, 95), 3), len(samples)
        )


async def _accept(completion: Completion) -> str:
    return completion.text


async def _direct(client: httpx.AsyncClient, url: str) -> float:
    body = {
        "model": "m",
        "messages": [m.as_dict() for m in REQUEST.messages],
        "max_tokens": REQUEST.max_tokens,
        "temperature": REQUEST.temperature,
        "stream": False,
    }
    start = time.perf_counter()
    response = await client.post(f"{url}/chat/completions", json=body)
    response.json()["choices"][0]["message"]["content"]
    return (time.perf_counter() - start) * 1000.0


async def _through(gateway: Gateway) -> float:
    start = time.perf_counter()
    await gateway.complete(REQUEST, _accept)
    return (time.perf_counter() - start) * 1000.0


def _client(policy: Policy) -> httpx.AsyncClient:
    timeout = httpx.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s,
                            write=policy.read_timeout_s, pool=policy.connect_timeout_s)  # fmt: skip
    return httpx.AsyncClient(timeout=timeout, trust_env=False)


async def added_latency(upstream: LoopbackUpstream, n: int, warmup: int = 30) -> dict[str, Stats]:
    policy = Policy()
    provider = OpenAICompatibleProvider("loopback", upstream.base_url, "m", None, policy, False)
    gateway = Gateway([provider], {"loopback": policy}, 3, 30.0)
    direct: list[float] = []
    through: list[float] = []
    async with _client(policy) as client:
        for _ in range(warmup):
            await _direct(client, upstream.base_url)
            await _through(gateway)
        for _ in range(n):
            direct.append(await _direct(client, upstream.base_url))
            through.append(await _through(gateway))
    await gateway.aclose()
    paired = [t - d for t, d in zip(through, direct, strict=True)]
    return {
        "direct": Stats.of(direct),
        "gateway": Stats.of(through),
        "paired_difference": Stats.of(paired),
    }


async def failover(upstream: LoopbackUpstream, n: int, breaker_open: bool) -> Stats:
    """Time of a request whose first provider refuses connections, minus the direct p50."""
    policy = Policy()
    first = OpenAICompatibleProvider("refused", refused_url(), "m", None, policy, False)
    second = OpenAICompatibleProvider("loopback", upstream.base_url, "m", None, policy, False)
    threshold = 1 if breaker_open else 1_000_000
    gateway = Gateway([first, second], {"refused": policy, "loopback": policy}, threshold, 3600.0)
    samples: list[float] = []
    direct: list[float] = []
    async with _client(policy) as client:
        for _ in range(5):
            await _through(gateway)
            await _direct(client, upstream.base_url)
        for _ in range(n):
            direct.append(await _direct(client, upstream.base_url))
            samples.append(await _through(gateway))
    await gateway.aclose()
    base = percentile(direct, 50)
    return Stats.of([max(0.0, s - base) for s in samples])


def run_gateway_bench(n: int, failover_n: int) -> dict[str, object]:
    """Both measurements against one loopback upstream; plain dicts for the JSON file."""
    with LoopbackUpstream(reply="local part = script.Parent") as upstream:
        latency = asyncio.run(added_latency(upstream, n))
        closed = asyncio.run(failover(upstream, failover_n, breaker_open=False))
        opened = asyncio.run(failover(upstream, failover_n, breaker_open=True))
    added_p50 = round(latency["gateway"].p50_ms - latency["direct"].p50_ms, 3)
    added_p95 = round(latency["gateway"].p95_ms - latency["direct"].p95_ms, 3)
    return {
        "direct": latency["direct"].__dict__,
        "gateway": latency["gateway"].__dict__,
        "added_latency_ms": {
            "p50": added_p50,
            "p95": added_p95,
            "paired_median": latency["paired_difference"].p50_ms,
        },
        "failover_ms": {"breaker_closed": closed.__dict__, "breaker_open": opened.__dict__},
    }
