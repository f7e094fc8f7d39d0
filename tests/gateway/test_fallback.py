"""The fallback decision as a pure function, and the gateway's chain walk with fake providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from datashark.gateway.fallback import Action, Decision, decide
from datashark.gateway.gateway import AllProvidersFailed, Gateway, UnknownProvider
from datashark.gateway.policy import Policy
from datashark.gateway.provider import (
    ChatRequest,
    Completion,
    FailureReason,
    Message,
    Provider,
    ProviderError,
)

POLICY = Policy(max_retries=2, backoff_base_s=0.01, backoff_max_s=1.0, retry_after_max_s=5.0)
R = FailureReason


def d(reason, retries=0, sent=0, retry_after=None, left=10.0, draw=0.5) -> Decision:
    return decide(
        reason,
        retries_done=retries,
        tokens_sent=sent,
        retry_after_s=retry_after,
        time_left_s=left,
        policy=POLICY,
        draw=draw,
    )


def test_success_returns() -> None:
    assert d(None) == Decision(Action.RETURN)


@pytest.mark.parametrize("reason", [R.CONNECT, R.RATE_LIMITED, R.SERVER_ERROR])
def test_retryable_failures_retry_with_jittered_backoff(reason: FailureReason) -> None:
    assert d(reason, retries=0, draw=0.5) == Decision(Action.RETRY, 0.005)
    assert d(reason, retries=1, draw=1.0) == Decision(Action.RETRY, 0.02)
    assert d(reason, retries=1, draw=0.0) == Decision(Action.RETRY, 0.0)


@pytest.mark.parametrize(
    "reason",
    [
        R.TIMEOUT,
        R.MALFORMED,
        R.EMPTY,
        R.NO_CODE,
        R.COMPILE,
        R.SANDBOX,
        R.CLIENT_ERROR,
        R.STREAM_CUT,
        R.NO_MATCH,
    ],
)
def test_other_failures_fall_back_at_once(reason: FailureReason) -> None:
    assert d(reason) == Decision(Action.FALLBACK)


def test_retries_exhausted_fall_back() -> None:
    assert d(R.SERVER_ERROR, retries=2) == Decision(Action.FALLBACK)


def test_retry_after_is_honoured_up_to_its_limit_and_the_time_left() -> None:
    assert d(R.RATE_LIMITED, retry_after=1.5) == Decision(Action.RETRY, 1.5)
    assert d(R.RATE_LIMITED, retry_after=60.0) == Decision(Action.FALLBACK)
    assert d(R.RATE_LIMITED, retry_after=3.0, left=2.0) == Decision(Action.FALLBACK)


def test_backoff_longer_than_time_left_falls_back() -> None:
    assert d(R.CONNECT, draw=0.99, left=0.001) == Decision(Action.FALLBACK)


def test_after_first_streamed_token_a_failure_cannot_fall_back() -> None:
    assert d(R.STREAM_CUT, sent=3) == Decision(Action.FAIL)
    assert d(R.SERVER_ERROR, sent=1) == Decision(Action.FAIL)
    assert d(None, sent=5) == Decision(Action.RETURN)


class Fake:
    """A provider whose replies are scripted: each call pops an error or a text."""

    kind = "fake"

    def __init__(
        self, name: str, script: list[str | ProviderError], configured: bool = True
    ) -> None:
        self.name = name
        self.model = f"{name}-model"
        self.script = list(script)
        self.calls = 0
        self._configured = configured

    @property
    def configured(self) -> bool:
        return self._configured

    @property
    def why_not_configured(self) -> str:
        return "" if self._configured else "no key"

    async def complete(self, request: ChatRequest) -> Completion:
        self.calls += 1
        item = self.script.pop(0) if self.script else "default"
        if isinstance(item, ProviderError):
            raise item
        return Completion(item, self.name, self.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        completion = await self.complete(request)
        for word in completion.text.split(" "):
            yield word

    async def aclose(self) -> None:
        return None


REQ = ChatRequest((Message("user", "hi"),), "hi")


async def accept_all(completion: Completion) -> str:
    return completion.text


def run(coro):
    return asyncio.run(coro)


def gateway(*providers: Provider, threshold: int = 3, cooldown: float = 60.0) -> Gateway:
    fast = Policy(max_retries=2, backoff_base_s=0.0)
    return Gateway(list(providers), {p.name: fast for p in providers}, threshold, cooldown)


def test_fakes_satisfy_the_provider_protocol() -> None:
    assert isinstance(Fake("a", []), Provider)


def test_first_good_provider_answers_and_skips_are_listed() -> None:
    off = Fake("off", [], configured=False)
    bad = Fake("bad", [ProviderError(R.MALFORMED, "junk")])
    good = Fake("good", ["hello"])
    gw = gateway(off, bad, good)
    result = run(gw.complete(REQ, accept_all))
    assert result.value == "hello"
    assert [(a.provider, a.outcome) for a in result.attempts] == [
        ("off", "not_configured"),
        ("bad", "malformed"),
        ("good", "ok"),
    ]
    assert off.calls == 0
    snap = gw.metrics.provider_snapshot("bad")
    assert snap["failures_by_reason"] == {"malformed": 1} and snap["fallbacks"] == 1
    assert gw.metrics.provider_snapshot("off")["skipped"] == {"not_configured": 1}


def test_transient_server_error_is_retried_on_the_same_provider() -> None:
    flaky = Fake("flaky", [ProviderError(R.SERVER_ERROR, "500"), "second time lucky"])
    other = Fake("other", ["other"])
    result = run(gateway(flaky, other).complete(REQ, accept_all))
    assert result.value == "second time lucky"
    assert result.attempts[0].retries == 1 and other.calls == 0


def test_validator_rejection_falls_back() -> None:
    first = Fake("first", ["no code here"])
    second = Fake("second", ["```lua\nprint(1)\n```"])

    async def needs_code(completion: Completion) -> str:
        if "```" not in completion.text:
            raise ProviderError(R.NO_CODE, "no code block")
        return completion.text

    gw = gateway(first, second)
    result = run(gw.complete(REQ, needs_code))
    assert result.completion.provider == "second"
    assert result.attempts[0].outcome == "no_code"


def test_empty_reply_is_a_failure() -> None:
    result = run(gateway(Fake("a", ["   "]), Fake("b", ["text"])).complete(REQ, accept_all))
    assert [a.outcome for a in result.attempts] == ["empty", "ok"]


def test_all_failing_raises_with_every_attempt() -> None:
    gw = gateway(
        Fake("a", [ProviderError(R.TIMEOUT, "slow")]),
        Fake("b", [ProviderError(R.NO_MATCH, "nothing")]),
    )
    with pytest.raises(AllProvidersFailed) as info:
        run(gw.complete(REQ, accept_all))
    assert [a.outcome for a in info.value.attempts] == ["timeout", "no_match"]


def test_breaker_opens_after_threshold_and_skips_the_provider() -> None:
    broken = Fake("broken", [ProviderError(R.MALFORMED, "x")] * 10)
    good = Fake("good", ["ok"] * 10)
    gw = gateway(broken, good, threshold=2)
    for _ in range(2):
        run(gw.complete(REQ, accept_all))
    assert broken.calls == 2
    result = run(gw.complete(REQ, accept_all))
    assert result.attempts[0].outcome == "circuit_open" and broken.calls == 2
    assert gw.metrics.provider_snapshot("broken")["skipped"] == {"circuit_open": 1}


def test_requested_order_and_unknown_names() -> None:
    a, b = Fake("a", ["from a"]), Fake("b", ["from b"])
    gw = gateway(a, b)
    assert run(gw.complete(REQ, accept_all, ["b", "a"])).value == "from b"
    with pytest.raises(UnknownProvider):
        gw.chain(["nope"])


def test_stream_falls_back_before_first_token_only() -> None:
    a = Fake("a", [ProviderError(R.CONNECT, "refused")] * 3)
    b = Fake("b", ["one two three"])
    gw = gateway(a, b)

    async def collect() -> tuple[list[str], list[str]]:
        stream = gw.stream(REQ)
        out = [chunk async for chunk in stream]
        return out, [x.outcome for x in stream.attempts]

    out, outcomes = run(collect())
    assert out == ["one", "two", "three"] and outcomes == ["connect", "ok"]
    assert a.calls == 3  # first try + 2 retries on a connection error


def test_a_validator_bug_rejects_the_answer_not_the_request() -> None:
    async def broken(completion: Completion) -> str:
        if completion.provider == "a":
            raise KeyError("oops")
        return completion.text

    result = run(gateway(Fake("a", ["x"]), Fake("b", ["y"])).complete(REQ, broken))
    assert result.value == "y"
    assert result.attempts[0].outcome == "error" and "KeyError" in result.attempts[0].detail
