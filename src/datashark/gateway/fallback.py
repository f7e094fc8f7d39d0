"""The fallback decision: a pure function from one attempt's outcome to what the gateway does next.

`decide` never reads clocks, randomness or provider state; the gateway passes in everything
(failure reason, retry count, tokens already sent to the client, time left, a uniform draw for
jitter). That keeps the rules in one place and lets the tests enumerate them with fake providers:

- success: return it;
- after the first streamed token: fail (the client already has part of this provider's answer);
- a retryable failure (connection, 429, 5xx) with retries and time left: retry after the backoff,
  or after Retry-After when the upstream sent one (unless it is longer than allowed or than the
  time left: then fall back at once);
- anything else: fall back to the next provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from datashark.gateway.policy import Policy, backoff_delay
from datashark.gateway.provider import RETRYABLE, FailureReason


class Action(StrEnum):
    RETURN = "return"
    RETRY = "retry"
    FALLBACK = "fallback"
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float = 0.0


def decide(
    reason: FailureReason | None,
    *,
    retries_done: int,
    tokens_sent: int,
    retry_after_s: float | None,
    time_left_s: float,
    policy: Policy,
    draw: float,
) -> Decision:
    """What to do after one attempt. `reason` is None when the attempt succeeded."""
    if reason is None:
        return Decision(Action.RETURN)
    if tokens_sent > 0:
        return Decision(Action.FAIL)
    if reason not in RETRYABLE or retries_done >= policy.max_retries:
        return Decision(Action.FALLBACK)
    if retry_after_s is not None:
        if retry_after_s > policy.retry_after_max_s or retry_after_s >= time_left_s:
            return Decision(Action.FALLBACK)
        return Decision(Action.RETRY, retry_after_s)
    delay = backoff_delay(retries_done, policy, draw)
    if delay >= time_left_s:
        return Decision(Action.FALLBACK)
    return Decision(Action.RETRY, delay)
