"""From a validated request to scheduler jobs and back, shared by the chat and completion routes.

- prompt limits: `resolve_max_tokens` refuses prompts that do not fit the context (OpenAI's
  `context_length_exceeded`, 400) instead of truncating them;
- `sampling_params`: request fields -> engine `SamplingParams` (choice i of a seeded request gets
  seed + i, so `n=2` gives two different samples that are each reproducible);
- `RunningJob`: the asyncio side of one scheduler `Job` (events arrive through
  `loop.call_soon_threadsafe`), time to first token, cancellation when the client goes away;
- `record_usage`: token counters for /metrics and the request's log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from datashark.server import errors, metrics
from datashark.server.protocol import _Sampling
from datashark.server.scheduler import (
    ChoiceSpec,
    ErrorEvent,
    Event,
    FinishEvent,
    Job,
    QueueFullError,
    Scheduler,
    TokenEvent,
)

_SEED_RANGE = 2**63


def resolve_max_tokens(
    requested: int | None, prompt_len: int, context: int, default: int, param: str
) -> int:
    """The completion budget of one sequence; 400 context_length_exceeded when it cannot fit."""
    if requested is None:
        room = context - prompt_len
        if room < 1:
            raise _too_long(context, prompt_len, 1, param)
        return min(default, room)
    if prompt_len + requested > context:
        raise _too_long(context, prompt_len, requested, param)
    return requested


def _too_long(context: int, prompt: int, completion: int, param: str) -> errors.APIError:
    exc = errors.context_length_exceeded(context, prompt, completion)
    exc.param = param
    return exc


def sampling_params(req: _Sampling, max_tokens: int, choice: int) -> Any:
    from datashark.engine.sampling import SamplingParams, SamplingParamsError

    seed = None if req.seed is None else (req.seed + choice) % _SEED_RANGE
    try:
        return _params(SamplingParams, req, max_tokens, seed)
    except SamplingParamsError as exc:  # the engine's own range checks, should ours miss one
        raise errors.invalid_request(str(exc), exc.param) from None


def _params(cls: Any, req: _Sampling, max_tokens: int, seed: int | None) -> Any:
    return cls(
        max_tokens=max_tokens,
        temperature=1.0 if req.temperature is None else req.temperature,
        top_k=req.top_k or 0,
        top_p=1.0 if req.top_p is None else req.top_p,
        min_p=req.min_p or 0.0,
        repetition_penalty=1.0 if req.repetition_penalty is None else req.repetition_penalty,
        presence_penalty=req.presence_penalty or 0.0,
        frequency_penalty=req.frequency_penalty or 0.0,
        seed=seed,
        stop=req.stop_list(),
    )


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or f"req_{time.time_ns():x}"


def started_at(request: Request) -> float:
    return getattr(request.state, "started", None) or time.perf_counter()


def record_usage(request: Request, prompt_tokens: int, completion_tokens: int) -> None:
    metrics.PROMPT_TOKENS.inc(prompt_tokens)
    metrics.COMPLETION_TOKENS.inc(completion_tokens)
    request.state.prompt_tokens = prompt_tokens
    request.state.completion_tokens = completion_tokens


class RunningJob:
    """One request's sequences inside the scheduler, seen from the event loop."""

    def __init__(
        self, scheduler: Scheduler, choices: list[ChoiceSpec], job_id: str, started: float
    ) -> None:
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.job = Job(
            job_id, choices, lambda ev: loop.call_soon_threadsafe(self.queue.put_nowait, ev)
        )
        self.scheduler = scheduler
        self.started = started
        self.first_token_at: float | None = None
        self.finished: dict[int, FinishEvent] = {}
        self.tokens = 0  # one TokenEvent per generated token
        self.done = False

    def submit(self, retry_after_s: int) -> None:
        try:
            self.scheduler.submit(self.job)
        except QueueFullError:
            raise errors.queue_full(retry_after_s) from None

    def cancel(self) -> None:
        """Drop the job's sequences at the scheduler's next step (no-op once finished)."""
        if not self.done:
            self.done = True
            self.scheduler.cancel(self.job)
            self.queue.put_nowait(None)

    @property
    def completion_tokens(self) -> int:
        """Tokens generated so far over all choices (also for a job cut short)."""
        return self.tokens

    async def events(self) -> AsyncIterator[TokenEvent | FinishEvent]:
        """Token and finish events until every choice has finished; raises on engine errors."""
        open_choices = len(self.job.choices)
        while open_choices and not self.done:
            event = await self.queue.get()
            if event is None:
                return
            if isinstance(event, ErrorEvent):
                self.done = True
                raise errors.APIError(500, event.message, type="server_error")
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
                metrics.TIME_TO_FIRST_TOKEN.observe(self.first_token_at - self.started)
            if isinstance(event, TokenEvent):
                self.tokens += 1
            else:
                self.finished[event.index] = event
                open_choices -= 1
            yield event
        self.done = True

    async def collect(self, request: Request) -> dict[int, FinishEvent]:
        """Wait for every choice (non-streaming); a client disconnect cancels the job."""
        watcher = asyncio.ensure_future(self._watch_disconnect(request))
        try:
            async for _ in self.events():
                pass
        finally:
            watcher.cancel()
            self.cancel()
        return self.finished

    async def _watch_disconnect(self, request: Request) -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                self.cancel()
                return
