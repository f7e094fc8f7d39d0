"""The continuous batching scheduler on the real SmolLM2 engine, without HTTP: one decode call
per step for all running sequences, max_running, the bounded queue, chunked prefill interleaved
with decoding, cancellation within a step, and survival of an engine error.

`Recording` wraps the real model and only records the calls it forwards."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from datashark.engine import SamplingParams
from datashark.server.scheduler import (
    ChoiceSpec,
    ErrorEvent,
    FinishEvent,
    Job,
    QueueFullError,
    Scheduler,
    SchedulerConfig,
    TokenEvent,
)


class Recording:
    """The real model, with a log of prefill sizes and decode batch sizes (in call order)."""

    def __init__(self, model: Any, fail_decode_at: int | None = None) -> None:
        self.model = model
        self.tokenizer = model.tokenizer
        self.config = model.config
        self.calls: list[tuple[str, int]] = []
        self.fail_decode_at = fail_decode_at

    def new_sequence(self, max_tokens: int | None = None) -> Any:
        return self.model.new_sequence(max_tokens)

    def prefill(self, seq: Any, ids: list[int]) -> Any:
        self.calls.append(("prefill", len(ids)))
        return self.model.prefill(seq, ids)

    def decode(self, seqs: list[Any], tokens: list[int]) -> Any:
        self.calls.append(("decode", len(seqs)))
        if self.fail_decode_at is not None and len(self.decodes()) == self.fail_decode_at:
            raise RuntimeError("injected engine failure")
        return self.model.decode(seqs, tokens)

    def decodes(self) -> list[int]:
        return [n for kind, n in self.calls if kind == "decode"]


class Collector:
    """A job's sink: events in order, and an Event set when every choice has finished."""

    def __init__(self, choices: int) -> None:
        self.events: list[Any] = []
        self.open = choices
        self.done = threading.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        if isinstance(event, FinishEvent):
            self.open -= 1
        if self.open == 0 or isinstance(event, ErrorEvent):
            self.done.set()

    def text(self, index: int = 0) -> str:
        return "".join(
            e.text for e in self.events if isinstance(e, TokenEvent) and e.index == index
        )


def _job(
    model: Any, text: str, max_tokens: int, n: int = 1, name: str = "j"
) -> tuple[Job, Collector]:
    ids = model.tokenizer.encode(model.render_chat([{"role": "user", "content": text}]))
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    sink = Collector(n)
    return Job(name, [ChoiceSpec(tuple(ids), params)] * n, sink), sink


@pytest.fixture()
def run(smollm2):
    started: list[Scheduler] = []

    def factory(model: Any, **config: Any) -> Scheduler:
        scheduler = Scheduler(model, SchedulerConfig(**config))
        scheduler.start()
        started.append(scheduler)
        return scheduler

    yield factory
    for scheduler in started:
        scheduler.stop()


def test_running_sequences_share_one_decode_call(smollm2, run) -> None:
    model = Recording(smollm2)
    scheduler = run(model, max_running=8)
    jobs = [_job(smollm2, q, 6, name=q) for q in ("Hi", "Name a color.", "Count to three.")]
    for job, _ in jobs:
        scheduler.submit(job)
    for _, sink in jobs:
        assert sink.done.wait(60)
    assert max(model.decodes()) == 3  # all three decoded in one forward pass
    assert len(model.decodes()) < 3 * 6
    for (_, sink), text in zip(jobs, ("Hi", "Name a color.", "Count to three."), strict=True):
        alone, alone_sink = _job(smollm2, text, 6)
        solo = run(smollm2)
        solo.submit(alone)
        assert alone_sink.done.wait(60)
        assert sink.text() == alone_sink.text()
        finish = [e for e in sink.events if isinstance(e, FinishEvent)][0]
        assert finish.text == sink.text() and finish.completion_tokens <= 6


def test_max_running_bounds_the_batch_and_n_is_two_sequences(smollm2, run) -> None:
    model = Recording(smollm2)
    scheduler = run(model, max_running=2)
    a, sink_a = _job(smollm2, "Hi", 5, n=2, name="a")
    b, sink_b = _job(smollm2, "Hello", 5, name="b")
    scheduler.submit(a)
    scheduler.submit(b)
    assert sink_a.done.wait(60) and sink_b.done.wait(60)
    assert max(model.decodes()) == 2
    assert sink_a.text(0) == sink_a.text(1)  # greedy: both choices agree


def test_waiting_queue_is_bounded(smollm2, run) -> None:
    scheduler = run(smollm2, max_running=1, max_waiting=1)
    first, sink = _job(smollm2, "Write a long story.", 100, name="first")
    scheduler.submit(first)
    deadline = time.monotonic() + 30
    while scheduler.running == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    second, _ = _job(smollm2, "Hi", 2, name="second")
    scheduler.submit(second)  # waits
    third, _ = _job(smollm2, "Hi", 2, name="third")
    with pytest.raises(QueueFullError):
        scheduler.submit(third)
    assert scheduler.waiting == 1
    scheduler.cancel(first)
    scheduler.cancel(second)


def test_long_prompt_prefills_in_chunks_between_decodes(smollm2, run) -> None:
    model = Recording(smollm2)
    scheduler = run(model, max_running=4, prefill_chunk=16)
    runner, runner_sink = _job(smollm2, "Write a long story about a fox.", 40, name="runner")
    scheduler.submit(runner)
    while not runner_sink.events:
        time.sleep(0.005)
    mark = len(model.calls)
    long_text = "Summarize this: " + "the quick brown fox jumps over the lazy dog " * 8
    late, late_sink = _job(smollm2, long_text, 4, name="late")
    scheduler.submit(late)
    assert late_sink.done.wait(60) and runner_sink.done.wait(60)
    after = model.calls[mark:]
    prefills = [i for i, (kind, _) in enumerate(after) if kind == "prefill"]
    sizes = [after[i][1] for i in prefills]
    assert sum(sizes) == len(late.choices[0].prompt_ids) and max(sizes) <= 16
    assert len(sizes) >= 3
    # the runner kept decoding between the chunks of the long prompt: one decode per gap
    for start, end in zip(prefills, prefills[1:], strict=False):
        assert ("decode", 1) in after[start:end]


def test_cancel_frees_within_a_step(smollm2, run) -> None:
    scheduler = run(smollm2, max_running=2)
    job, sink = _job(smollm2, "Write a very long story.", 300)
    scheduler.submit(job)
    while len(sink.events) < 3:
        time.sleep(0.005)
    seq = scheduler._slots[0].seq
    steps = scheduler.steps
    scheduler.cancel(job)
    deadline = time.monotonic() + 30
    while scheduler.running and time.monotonic() < deadline:
        time.sleep(0.001)
    assert seq.freed and scheduler.running == 0
    assert scheduler.steps - steps <= 2  # the step in flight, then the one that drops it
    assert not sink.done.is_set()  # no finish event for a cancelled job


def test_engine_error_fails_the_jobs_and_the_thread_lives_on(smollm2, run) -> None:
    model = Recording(smollm2, fail_decode_at=2)
    scheduler = run(model)
    job, sink = _job(smollm2, "Hi", 8)
    scheduler.submit(job)
    assert sink.done.wait(60)
    assert isinstance(sink.events[-1], ErrorEvent) and "injected" in sink.events[-1].message
    assert scheduler.running == 0
    again, again_sink = _job(smollm2, "Hi", 3)
    scheduler.submit(again)
    assert again_sink.done.wait(60)
    assert isinstance(again_sink.events[-1], FinishEvent)
