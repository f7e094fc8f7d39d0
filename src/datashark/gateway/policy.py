"""Per-provider call policy: timeouts, retries with exponential backoff and full jitter, Retry-After.

The numbers live in `Policy` (a frozen dataclass built from `GatewaySettings` or a provider's TOML
table). `backoff_delay` is AWS's "full jitter": a uniform draw in [0, min(cap, base * 2**n)], which
spreads retries from many clients. `parse_retry_after` reads both forms of the header
(delay-seconds and HTTP-date, RFC 9110 §10.2.3).

Not handled: per-token read deadlines for streams beyond httpx's read timeout.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Timeouts and retry numbers for one provider."""

    connect_timeout_s: float = 2.0  # TCP + TLS connect
    read_timeout_s: float = 60.0  # gap between bytes received
    total_timeout_s: float = 120.0  # whole attempt, retries included
    max_retries: int = 2  # extra tries after the first, on retryable failures only
    backoff_base_s: float = 0.01  # first backoff cap; doubles per retry
    backoff_max_s: float = 2.0  # largest backoff cap
    retry_after_max_s: float = 10.0  # a longer Retry-After falls back instead of waiting

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"policy {name} must be > 0")
        if self.max_retries < 0:
            raise ValueError("policy max_retries must be >= 0")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0 or self.retry_after_max_s < 0:
            raise ValueError("policy backoff and retry-after limits must be >= 0")


def backoff_delay(retry: int, policy: Policy, draw: float) -> float:
    """Seconds to wait before retry number `retry` (0-based); `draw` is uniform in [0, 1)."""
    cap = min(policy.backoff_max_s, policy.backoff_base_s * (2**retry))
    return cap * draw


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header value, or None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)  # some servers send "1.5"
        return max(0.0, seconds)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
