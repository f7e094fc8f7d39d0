"""The gateway: one call, an ordered chain of providers, and the rules for moving down the chain.

For each provider in order: skip it when it is not configured or its circuit is open; otherwise
call it under its policy's total timeout, hand a successful reply to the caller's validator, and
let `fallback.decide` say whether to return, retry (backoff or Retry-After) or fall back. Every
attempt is recorded (`Attempt`: provider, outcome, ms) for the response and counted in
`GatewayMetrics`; the breaker sees one success or failure per provider attempt (retries included).

`stream` does the same for token streams, except that once the first token has gone to the caller
a failure can no longer fall back: it raises `StreamFailed` after the partial output.

Not handled: hedged (parallel) requests to several providers; cost accounting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from datashark.gateway.breaker import CircuitBreaker
from datashark.gateway.fallback import Action, decide
from datashark.gateway.metrics import GatewayMetrics
from datashark.gateway.policy import Policy
from datashark.gateway.provider import (
    ChatRequest,
    Completion,
    FailureReason,
    Provider,
    ProviderError,
)

T = TypeVar("T")
Validator = Callable[[Completion], Awaitable[T]]  # raises ProviderError to reject the output

NOT_CONFIGURED = "not_configured"
CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True)
class Attempt:
    """One provider's part in answering a request (`outcome`: ok, a FailureReason, or a skip)."""

    provider: str
    outcome: str
    ms: float
    detail: str = ""
    retries: int = 0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "provider": self.provider,
            "outcome": self.outcome,
            "ms": round(self.ms, 2),
        }
        if self.detail:
            out["detail"] = self.detail
        if self.retries:
            out["retries"] = self.retries
        return out


@dataclass(frozen=True)
class GatewayResult(Generic[T]):
    completion: Completion
    value: T
    attempts: tuple[Attempt, ...]


class AllProvidersFailed(Exception):
    """No provider in the chain produced an accepted answer."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        parts = [
            f"{a.provider}: {a.outcome}" + (f" ({a.detail})" if a.detail else "") for a in attempts
        ]
        super().__init__(
            "no provider could answer: " + "; ".join(parts) if parts else "no providers"
        )


class StreamFailed(Exception):
    """A stream broke after its first token had been sent (no fallback is possible then)."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        super().__init__(
            f"{attempt.provider} failed mid-stream: {attempt.outcome} {attempt.detail}"
        )


class UnknownProvider(ValueError):
    pass


class Gateway:
    def __init__(
        self,
        providers: Sequence[Provider],
        policies: Mapping[str, Policy],
        breaker_threshold: int,
        breaker_cooldown_s: float,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.providers: dict[str, Provider] = {p.name: p for p in providers}
        if len(self.providers) != len(providers):
            raise ValueError("provider names must be unique")
        self.order = [p.name for p in providers]
        self.policies = {name: policies.get(name, Policy()) for name in self.order}
        self.breakers = {
            name: CircuitBreaker(breaker_threshold, breaker_cooldown_s) for name in self.order
        }
        self.metrics = metrics or GatewayMetrics()
        self._random = random.Random()

    def chain(self, names: Sequence[str] | None) -> list[str]:
        """The providers to try: `names` (validated, in the caller's order) or the default order."""
        if not names:
            return list(self.order)
        unknown = [n for n in names if n not in self.providers]
        if unknown:
            raise UnknownProvider(
                f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(self.order)}"
            )
        return list(dict.fromkeys(names))

    def status(self) -> list[dict[str, object]]:
        out = []
        for name in self.order:
            provider = self.providers[name]
            out.append(
                {
                    "name": name,
                    "kind": provider.kind,
                    "model": provider.model,
                    "configured": provider.configured,
                    "state": self.breakers[name].state.value
                    if provider.configured
                    else NOT_CONFIGURED,
                    **({"why": provider.why_not_configured} if not provider.configured else {}),
                }
            )
        return out

    def _skip(self, name: str) -> Attempt | None:
        provider = self.providers[name]
        if not provider.configured:
            self.metrics.record_skip(name, NOT_CONFIGURED)
            return Attempt(name, NOT_CONFIGURED, 0.0, provider.why_not_configured)
        if not self.breakers[name].allow():
            self.metrics.record_skip(name, CIRCUIT_OPEN)
            return Attempt(name, CIRCUIT_OPEN, 0.0)
        return None

    async def complete(
        self,
        request: ChatRequest,
        validate: Validator[T],
        names: Sequence[str] | None = None,
    ) -> GatewayResult[T]:
        """The first accepted answer down the chain; raises AllProvidersFailed with the attempts."""
        chain = self.chain(names)
        attempts: list[Attempt] = []
        for index, name in enumerate(chain):
            skipped = self._skip(name)
            if skipped is not None:
                attempts.append(skipped)
                continue
            breaker = self.breakers[name]
            started = time.perf_counter()
            try:
                result, attempt = await self._attempt(name, request, validate, started)
            except BaseException:
                breaker.release()
                raise
            attempts.append(attempt)
            if result is not None:
                breaker.record_success()
                return GatewayResult(result[0], result[1], tuple(attempts))
            if attempt.outcome != FailureReason.NO_MATCH:
                breaker.record_failure()
            if index < len(chain) - 1:
                self.metrics.record_fallback(name)
        raise AllProvidersFailed(attempts)

    async def _attempt(
        self, name: str, request: ChatRequest, validate: Validator[T], started: float
    ) -> tuple[tuple[Completion, T] | None, Attempt]:
        provider = self.providers[name]
        policy = self.policies[name]
        deadline = started + policy.total_timeout_s
        retries = 0
        while True:
            call_start = time.perf_counter()
            error: ProviderError | None = None
            completion: Completion | None = None
            try:
                async with asyncio.timeout(max(0.0, deadline - call_start)):
                    completion = await provider.complete(request)
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                error = ProviderError(
                    FailureReason.TIMEOUT, f"no answer in {policy.total_timeout_s:g} s"
                )
            except Exception as exc:  # an adapter bug must not take the request down
                error = ProviderError(FailureReason.ERROR, f"{type(exc).__name__}: {exc}")
            call_ms = (time.perf_counter() - call_start) * 1000.0
            value: T | None = None
            if completion is not None:
                if not completion.text.strip():
                    error = ProviderError(FailureReason.EMPTY, "the reply has no text")
                else:
                    try:
                        value = await validate(completion)
                    except ProviderError as exc:
                        error = exc
                    except Exception as exc:  # a validator bug rejects this answer, not the request
                        error = ProviderError(
                            FailureReason.ERROR, f"validation failed: {type(exc).__name__}: {exc}"
                        )
            self.metrics.record_call(name, call_ms, error.reason.value if error else None)
            decision = decide(
                error.reason if error else None,
                retries_done=retries,
                tokens_sent=0,
                retry_after_s=error.retry_after_s if error else None,
                time_left_s=deadline - time.perf_counter(),
                policy=policy,
                draw=self._random.random(),
            )
            total_ms = (time.perf_counter() - started) * 1000.0
            if decision.action is Action.RETURN:
                assert completion is not None
                return (completion, value), Attempt(name, "ok", total_ms, retries=retries)  # type: ignore[return-value]
            if decision.action is Action.RETRY:
                retries += 1
                await asyncio.sleep(decision.delay_s)
                continue
            assert error is not None
            return None, Attempt(name, error.reason.value, total_ms, error.message[:300], retries)

    def stream(self, request: ChatRequest, names: Sequence[str] | None = None) -> GatewayStream:
        return GatewayStream(self, request, self.chain(names))

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


class GatewayStream:
    """Async iterator of text deltas with fallback before the first token.

    After iteration, `provider` names who answered and `attempts` lists every attempt. Raises
    AllProvidersFailed when nobody produced a first token, StreamFailed when the answering
    provider broke off later.
    """

    def __init__(self, gateway: Gateway, request: ChatRequest, chain: list[str]) -> None:
        self._gateway = gateway
        self._request = request
        self._chain = chain
        self.attempts: list[Attempt] = []
        self.provider: str | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        gw = self._gateway
        for index, name in enumerate(self._chain):
            skipped = gw._skip(name)
            if skipped is not None:
                self.attempts.append(skipped)
                continue
            breaker = gw.breakers[name]
            policy = gw.policies[name]
            started = time.perf_counter()
            deadline = started + policy.total_timeout_s
            retries = 0
            finished = False
            try:
                while True:
                    call_start = time.perf_counter()
                    chunks = gw.providers[name].stream(self._request).__aiter__()
                    error: ProviderError | None = None
                    sent = 0
                    try:
                        try:
                            async with asyncio.timeout(max(0.0, deadline - call_start)):
                                first = await anext(chunks)
                        except StopAsyncIteration:
                            raise ProviderError(
                                FailureReason.EMPTY, "the stream had no text"
                            ) from None
                        except TimeoutError:
                            raise ProviderError(
                                FailureReason.TIMEOUT,
                                f"no first token in {policy.total_timeout_s:g} s",
                            ) from None
                        self.provider = name
                        sent = 1
                        yield first
                        async for chunk in chunks:
                            sent += 1
                            yield chunk
                    except ProviderError as exc:
                        error = exc
                    except Exception as exc:  # an adapter bug; GeneratorExit is not an Exception
                        error = ProviderError(FailureReason.ERROR, f"{type(exc).__name__}: {exc}")
                    finally:
                        await chunks.aclose()
                    call_ms = (time.perf_counter() - call_start) * 1000.0
                    gw.metrics.record_call(name, call_ms, error.reason.value if error else None)
                    decision = decide(
                        error.reason if error else None,
                        retries_done=retries,
                        tokens_sent=sent,
                        retry_after_s=error.retry_after_s if error else None,
                        time_left_s=deadline - time.perf_counter(),
                        policy=policy,
                        draw=gw._random.random(),
                    )
                    total_ms = (time.perf_counter() - started) * 1000.0
                    if decision.action is Action.RETRY:
                        retries += 1
                        await asyncio.sleep(decision.delay_s)
                        continue
                    finished = True
                    if decision.action is Action.RETURN:
                        breaker.record_success()
                        self.attempts.append(Attempt(name, "ok", total_ms, retries=retries))
                        return
                    assert error is not None
                    attempt = Attempt(
                        name, error.reason.value, total_ms, error.message[:300], retries
                    )
                    self.attempts.append(attempt)
                    breaker.record_failure()
                    if decision.action is Action.FAIL:
                        raise StreamFailed(attempt)
                    if index < len(self._chain) - 1:
                        gw.metrics.record_fallback(name)
                    break
            finally:
                if not finished:
                    breaker.release()
        raise AllProvidersFailed(self.attempts)
