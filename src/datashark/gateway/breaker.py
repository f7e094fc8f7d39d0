"""A per-provider circuit breaker: closed -> open after K consecutive failures -> one probe.

Closed: every call goes through. After `threshold` consecutive failures it opens: calls are
skipped (the gateway moves on at once) for `cooldown_s`. Then it is half-open: exactly one call
(the probe) goes through; success closes it, failure opens it for another cooldown. The clock is a
constructor argument (monotonic seconds) so the state machine can be driven exactly.

Not handled: sharing state between replicas (each process keeps its own breaker).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1:
            raise ValueError("breaker threshold must be >= 1")
        if cooldown_s < 0:
            raise ValueError("breaker cooldown must be >= 0")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probe_in_flight or self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """True when a call may go through now; in half-open state, True once (the probe)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probe_in_flight or (self._opened_at is None and self._failures >= self.threshold):
            self._opened_at = self._clock()
            self.times_opened += 1
        self._probe_in_flight = False

    def release(self) -> None:
        """The call that `allow` let through ended with neither verdict (cancelled)."""
        self._probe_in_flight = False
