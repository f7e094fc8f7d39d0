"""Acceptance 3: 8 streaming requests at once all complete, and with greedy sampling each returns
exactly what it returns when sent alone (the batch decode changes nothing but speed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

QUESTIONS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three colors.",
    "How do I print hello in Python?",
    "Why is the sky blue? Answer in one sentence, please, with detail.",
    "Name a planet.",
    "Give me a tip for learning to code.",
    "What is 2 + 2?",
]


def _stream(client, question: str) -> tuple[str, str]:
    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": question}],
        max_tokens=24,
        temperature=0,
        stream=True,
    )
    text, finish = "", ""
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    return text, finish


def test_eight_concurrent_streams_equal_their_solo_outputs(client, server) -> None:
    solo = [_stream(client, q) for q in QUESTIONS]
    steps_before = server.app.state.runtime.scheduler.steps
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda q: _stream(client, q), QUESTIONS))
    steps = server.app.state.runtime.scheduler.steps - steps_before
    for question, alone, batched in zip(QUESTIONS, solo, together, strict=True):
        assert batched == alone, question
        assert batched[1] in ("stop", "length")
    # they really ran together: far fewer scheduler steps than 8 requests one after another
    assert steps < 8 * 24 / 2
