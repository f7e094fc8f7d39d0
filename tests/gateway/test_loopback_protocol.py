"""The loopback stand-in speaks the OpenAI protocol exactly: the official `openai` client reads
its JSON replies, its SSE streams and its errors (so the fault tests exercise the real protocol)."""

from __future__ import annotations

import openai
import pytest


def client(upstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0, timeout=5.0)


MESSAGES = [{"role": "user", "content": "hi"}]


def test_official_client_reads_replies_and_streams(upstream) -> None:
    with client(upstream) as c:
        reply = c.chat.completions.create(model="m", messages=MESSAGES)
        assert reply.choices[0].message.content == upstream.reply
        assert reply.choices[0].finish_reason == "stop" and reply.model == "primary-model"
        stream = c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == upstream.reply
        assert [m.id for m in c.models.list()] == ["primary-model"]
    assert upstream.seen[0].authorization == "Bearer sk-test"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", openai.InternalServerError),
        ("429", openai.RateLimitError),
        ("cut", openai.APIConnectionError),
    ],
)
def test_official_client_sees_the_injected_faults(upstream, fault, error) -> None:
    upstream.inject(fault)
    with client(upstream) as c, pytest.raises(error) as info:
        c.chat.completions.create(model="m", messages=MESSAGES)
    if fault == "429":
        assert info.value.response.headers["retry-after"] == upstream.retry_after


def test_official_client_sees_a_stream_cut_mid_way(upstream) -> None:
    upstream.inject("cut")
    with client(upstream) as c:
        stream = c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        received = []
        with pytest.raises(openai.APIError):
            for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    assert "".join(received) == upstream.reply[:32]
