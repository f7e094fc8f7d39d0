"""Continuous batching: one thread drives the engine for every request the server holds.

Each step of the loop (the design of vLLM's and llama.cpp server's schedulers, much reduced):
1. drop sequences whose client went away (their KV cache is freed at once, `seq.free()`);
2. admit waiting jobs while running sequences < `max_running` (a job is one request; it holds
   one sequence per choice, so `n=2` is two sequences);
3. prefill newly admitted sequences, at most `prefill_chunk` prompt tokens per step in total, so
   a long prompt does not stall the streams already running;
4. decode every running sequence in ONE `model.decode(seqs, tokens)` call (one forward pass), then
   sample each row with that sequence's own sampler.

Results go back to the request's own sink (the routes pass a function that hands events to an
asyncio queue with `loop.call_soon_threadsafe`). The waiting queue is bounded: `submit` raises
`QueueFullError` past `max_waiting` so the route can answer 429.

Not handled: preemption or swapping of running sequences (KV caches are sized per sequence up
front), prefix sharing between choices of one request, priorities.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datashark.server import metrics

log = logging.getLogger("datashark.server.scheduler")


@dataclass(frozen=True)
class SchedulerConfig:
    max_running: int = 8  # sequences decoded together
    max_waiting: int = 64  # jobs (requests) queued before 429
    prefill_chunk: int = 256  # prompt tokens prefilled per step


@dataclass(frozen=True)
class ChoiceSpec:
    """One sequence to generate: its prompt ids and sampling parameters."""

    prompt_ids: tuple[int, ...]
    params: Any  # datashark.engine.SamplingParams


@dataclass(frozen=True)
class TokenEvent:
    index: int  # choice index
    text: str  # new text safe to show ("" while held back for a possible stop string)


@dataclass(frozen=True)
class FinishEvent:
    index: int
    reason: str  # "stop" | "length"
    completion_tokens: int
    text: str  # the whole generated text of this choice


@dataclass(frozen=True)
class ErrorEvent:
    message: str


Event = TokenEvent | FinishEvent | ErrorEvent


class QueueFullError(Exception):
    """The waiting queue is at `max_waiting`."""


@dataclass(eq=False)
class Job:
    """One request: its choices, where its events go, and whether its client went away."""

    id: str
    choices: list[ChoiceSpec]
    sink: Callable[[Event], None]
    cancelled: bool = False

    def emit(self, event: Event) -> None:
        try:
            self.sink(event)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.cancelled = True


@dataclass(eq=False)
class _Slot:
    job: Job
    index: int
    seq: Any  # engine Sequence (owns its KV cache)
    gen: Any  # engine Generation (sampler, stop strings, detokenizer, prompt + generated ids)
    pending: list[int]  # prompt ids not yet prefilled
    next_token: int | None = None  # sampled, not yet fed to the model


class Scheduler:
    """Owns the model while running: only its thread calls prefill/decode."""

    def __init__(self, model: Any, config: SchedulerConfig) -> None:
        self.model = model
        self.config = config
        self._cond = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._slots: list[_Slot] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._gauge_lock = threading.Lock()
        self._gauge_running = 0
        self._gauge_waiting = 0
        self.steps = 0

    # ----- called from the event loop -----

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="datashark-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        """Queue a job; raises QueueFullError when `max_waiting` jobs already wait."""
        with self._cond:
            if self._stopping:
                raise QueueFullError("the scheduler is stopping")
            queued = sum(len(j.choices) for j in self._waiting)
            fits = len(self._slots) + queued + len(job.choices) <= self.config.max_running
            if not fits and len(self._waiting) >= self.config.max_waiting:
                raise QueueFullError(f"{len(self._waiting)} requests are waiting")
            self._waiting.append(job)
            self._cond.notify_all()
        self._publish_gauges()

    def cancel(self, job: Job) -> None:
        """The client went away: the job's sequences are dropped at the start of the next step."""
        job.cancelled = True
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
            self._cond.notify_all()
        self._publish_gauges()

    @property
    def running(self) -> int:
        return len(self._slots)

    @property
    def waiting(self) -> int:
        return sum(len(job.choices) for job in list(self._waiting))

    # ----- the scheduler thread -----

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._waiting and not self._slots:
                    self._cond.wait()
                if self._stopping:
                    break
            try:
                self._drop_cancelled()  # first, so their slots are free for admission
                with self._cond:
                    admitted = self._take_admissible()
                for job in admitted:
                    self._admit(job)
                self._prefill()
                self._decode()
            except Exception as exc:  # an engine failure must not kill the thread
                log.exception("scheduler step failed")
                self._fail_all(f"engine error: {exc}")
            self.steps += 1
            self._publish_gauges()
        self._fail_all("the server is shutting down")
        with self._cond:
            for job in self._waiting:
                job.emit(ErrorEvent("the server is shutting down"))
            self._waiting.clear()
        self._publish_gauges()

    def _take_admissible(self) -> list[Job]:
        """Pop waiting jobs (FIFO) while their sequences fit in the free slots. Lock held."""
        free = self.config.max_running - len(self._slots)
        taken: list[Job] = []
        while self._waiting:
            job = self._waiting[0]
            need = len(job.choices)
            if job.cancelled:
                self._waiting.popleft()
                continue
            # A job larger than the whole batch still runs alone rather than waiting forever.
            if need > free and not (free == self.config.max_running and not taken):
                break
            self._waiting.popleft()
            taken.append(job)
            free -= need
        return taken

    def _admit(self, job: Job) -> None:
        from datashark.engine.generate import Generation

        if job.cancelled:
            return
        for index, choice in enumerate(job.choices):
            ids = list(choice.prompt_ids)
            seq = self.model.new_sequence(max_tokens=len(ids) + choice.params.max_tokens)
            gen = Generation(self.model.tokenizer, choice.params, prompt_ids=ids)
            self._slots.append(_Slot(job, index, seq, gen, pending=list(ids)))

    def _drop_cancelled(self) -> None:
        for slot in [s for s in self._slots if s.job.cancelled]:
            self._retire(slot)

    def _prefill(self) -> None:
        budget = self.config.prefill_chunk
        for slot in list(self._slots):
            if budget <= 0:
                break
            if not slot.pending or slot.job.cancelled:
                continue
            chunk = slot.pending[:budget]
            del slot.pending[:budget]
            budget -= len(chunk)
            logits = self.model.prefill(slot.seq, chunk)
            if not slot.pending:
                self._accept(slot, logits)

    def _decode(self) -> None:
        batch = [s for s in self._slots if s.next_token is not None and not s.job.cancelled]
        if not batch:
            return
        tokens = [s.next_token for s in batch]
        logits = self.model.decode([s.seq for s in batch], tokens)  # (B, vocab)
        for slot, row in zip(batch, logits, strict=True):
            if not slot.job.cancelled:  # a sibling choice may have failed this step
                self._accept(slot, row)

    def _accept(self, slot: _Slot, logits: Any) -> None:
        """Sample the next token from one row of logits and hand its text to the client.
        A failure here (sampling, detokenizing) ends this sequence's job only."""
        try:
            token = int(slot.gen.sampler.sample(logits, slot.gen.history))
            delta, finish = slot.gen.push(token)
        except Exception as exc:
            log.exception("sampling failed for job %s", slot.job.id)
            self._fail_job(slot.job, f"sampling failed: {exc}")
            return
        slot.job.emit(TokenEvent(slot.index, delta))
        if finish is None:
            slot.next_token = token
            return
        slot.job.emit(FinishEvent(slot.index, finish, len(slot.gen.token_ids), slot.gen.text))
        self._retire(slot)

    def _retire(self, slot: _Slot) -> None:
        slot.seq.free()
        if slot in self._slots:
            self._slots.remove(slot)

    def _fail_job(self, job: Job, message: str) -> None:
        for slot in [s for s in self._slots if s.job is job]:
            self._retire(slot)
        job.cancelled = True  # its other choices are dropped too
        job.emit(ErrorEvent(message))

    def _fail_all(self, message: str) -> None:
        jobs = {id(s.job): s.job for s in self._slots}
        for slot in list(self._slots):
            self._retire(slot)
        for job in jobs.values():
            job.emit(ErrorEvent(message))

    def _publish_gauges(self) -> None:
        with self._gauge_lock:
            running, waiting = self.running, self.waiting
            metrics.RUNNING_SEQUENCES.inc(running - self._gauge_running)
            metrics.WAITING_SEQUENCES.inc(waiting - self._gauge_waiting)
            self._gauge_running, self._gauge_waiting = running, waiting
