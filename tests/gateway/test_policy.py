"""Backoff bounds and Retry-After parsing."""

from __future__ import annotations

import email.utils

import pytest

from datashark.gateway.policy import Policy, backoff_delay, parse_retry_after


def test_backoff_doubles_and_is_capped() -> None:
    p = Policy(backoff_base_s=0.1, backoff_max_s=0.5)
    assert [backoff_delay(n, p, 1.0) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff_delay(3, p, 0.0) == 0.0
    assert backoff_delay(1, p, 0.25) == pytest.approx(0.05)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(7.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Policy(total_timeout_s=0)
    with pytest.raises(ValueError):
        Policy(max_retries=-1)
