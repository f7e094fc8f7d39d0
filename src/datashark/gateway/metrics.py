"""Per-provider gateway metrics, as JSON (`GET /api/metrics`) and in the Prometheus registry.

`GatewayMetrics` keeps, per provider: calls (attempts that reached the provider), successes,
failures by reason, fallbacks (failures after which the next provider was tried), skips (circuit
open, not configured) and latencies (average over all calls; p95 over the last `window` calls).
Every update also goes to the Prometheus collectors below, which live in the default
`prometheus_client` registry that the server's `/metrics` renders. They are module-level because
the registry allows one collector per metric name per process.

Not handled: merging metrics across replicas (Prometheus does that when it scrapes each one).
"""

from __future__ import annotations

import math
import threading
from collections import Counter as _Tally
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram

PROM_CALLS = Counter(
    "datashark_gateway_calls_total", "Provider attempts made by the gateway.", ["provider"]
)
PROM_SUCCESSES = Counter(
    "datashark_gateway_successes_total", "Provider attempts that were accepted.", ["provider"]
)
PROM_FAILURES = Counter(
    "datashark_gateway_failures_total",
    "Provider attempts that failed, by reason.",
    ["provider", "reason"],
)
PROM_FALLBACKS = Counter(
    "datashark_gateway_fallbacks_total",
    "Times a provider's failure sent the request on to the next provider.",
    ["provider"],
)
PROM_SKIPS = Counter(
    "datashark_gateway_skips_total",
    "Providers skipped without a call (circuit open, not configured).",
    ["provider", "reason"],
)
PROM_LATENCY = Histogram(
    "datashark_gateway_latency_seconds",
    "Provider call latency (one attempt, retries included).",
    ["provider"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
PROM_CACHE = Counter(
    "datashark_gateway_cache_total", "Gateway cache lookups by result.", ["result"]
)


@dataclass
class ProviderStats:
    calls: int = 0
    successes: int = 0
    failures: _Tally[str] = field(default_factory=_Tally)
    fallbacks: int = 0
    skips: _Tally[str] = field(default_factory=_Tally)
    total_ms: float = 0.0
    recent_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of `values`; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


class GatewayMetrics:
    """Thread-safe counters; one instance per gateway."""

    def __init__(self, window: int = 1000) -> None:
        self._lock = threading.Lock()
        self._window = window
        self._stats: dict[str, ProviderStats] = {}
        self.cache_hits = 0
        self.cache_misses = 0

    def _get(self, provider: str) -> ProviderStats:
        stats = self._stats.get(provider)
        if stats is None:
            stats = ProviderStats(recent_ms=deque(maxlen=self._window))
            self._stats[provider] = stats
        return stats

    def record_call(self, provider: str, ms: float, reason: str | None) -> None:
        """One attempt that reached the provider; `reason` None means it succeeded."""
        with self._lock:
            stats = self._get(provider)
            stats.calls += 1
            stats.total_ms += ms
            stats.recent_ms.append(ms)
            if reason is None:
                stats.successes += 1
            else:
                stats.failures[reason] += 1
        PROM_CALLS.labels(provider).inc()
        PROM_LATENCY.labels(provider).observe(ms / 1000.0)
        if reason is None:
            PROM_SUCCESSES.labels(provider).inc()
        else:
            PROM_FAILURES.labels(provider, reason).inc()

    def record_fallback(self, provider: str) -> None:
        with self._lock:
            self._get(provider).fallbacks += 1
        PROM_FALLBACKS.labels(provider).inc()

    def record_skip(self, provider: str, reason: str) -> None:
        with self._lock:
            self._get(provider).skips[reason] += 1
        PROM_SKIPS.labels(provider, reason).inc()

    def record_cache(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.cache_hits += 1
            else:
                self.cache_misses += 1
        PROM_CACHE.labels("hit" if hit else "miss").inc()

    def provider_snapshot(self, provider: str) -> dict[str, object]:
        with self._lock:
            stats = self._get(provider)
            recent = list(stats.recent_ms)
            return {
                "calls": stats.calls,
                "successes": stats.successes,
                "failures": sum(stats.failures.values()),
                "failures_by_reason": dict(stats.failures),
                "fallbacks": stats.fallbacks,
                "skipped": dict(stats.skips),
                "avg_ms": round(stats.total_ms / stats.calls, 3) if stats.calls else 0.0,
                "p95_ms": round(percentile(recent, 95.0), 3),
            }

    def cache_snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.cache_hits, "misses": self.cache_misses}
