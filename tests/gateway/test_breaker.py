"""The circuit breaker's state machine, driven by an explicit clock."""

from __future__ import annotations

import pytest

from datashark.gateway.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_k_consecutive_failures_then_lets_one_probe_through() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=3, cooldown_s=10.0, clock=clock)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.2
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the probe
    assert not b.allow()  # only one probe at a time
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow()


def test_failed_probe_reopens_for_another_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=1, cooldown_s=5.0, clock=clock)
    b.record_failure()
    clock.now += 5.0
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN and b.times_opened == 2
    clock.now += 4.0
    assert not b.allow()


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(threshold=2, cooldown_s=1.0, clock=Clock())
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_cancelled_probe_is_released() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=1, cooldown_s=1.0, clock=clock)
    b.record_failure()
    clock.now += 1.0
    assert b.allow()
    b.release()
    assert b.allow()


def test_bad_numbers_are_rejected() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0, cooldown_s=1.0)
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=1, cooldown_s=-1.0)
