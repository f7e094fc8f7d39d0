"""Each endpoint through the official `openai` client (and raw HTTP where the wire format itself
is the point: SSE framing, [DONE], /health, /metrics, /docs, the access log)."""

from __future__ import annotations

import json
import logging

import httpx
import openai
import pytest

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]


def test_models_list_and_retrieve(client, server) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["smollm2"]
    assert models.data[0].object == "model"
    assert client.models.retrieve("smollm2").id == "smollm2"


def test_chat_completion_has_usage_and_finish_reason(client, smollm2) -> None:
    out = client.chat.completions.create(
        model="smollm2", messages=MESSAGES, max_tokens=12, temperature=0
    )
    assert out.object == "chat.completion"
    assert out.id.startswith("chatcmpl-")
    choice = out.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    prompt_ids = smollm2.tokenizer.encode(smollm2.render_chat(MESSAGES), parse_special=True)
    assert out.usage.prompt_tokens == len(prompt_ids)
    assert 1 <= out.usage.completion_tokens <= 12
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    if choice.finish_reason == "length":
        assert out.usage.completion_tokens == 12


def test_chat_greedy_matches_engine_generate(client, smollm2) -> None:
    """The server's greedy text is the engine's own greedy generation for the same prompt."""
    from datashark.engine import SamplingParams
    from datashark.engine.generate import Generation

    ids = smollm2.tokenizer.encode(smollm2.render_chat(MESSAGES), parse_special=True)
    params = SamplingParams(max_tokens=10, temperature=0.0)
    gen = Generation(smollm2.tokenizer, params, prompt_len=len(ids))
    for token in smollm2.generate(ids, params):
        _, finish = gen.push(token)
        if finish:
            break
    out = client.chat.completions.create(
        model="smollm2", messages=MESSAGES, max_tokens=10, temperature=0
    )
    assert out.choices[0].message.content == gen.text


def test_chat_stream_with_usage_in_last_chunk(client) -> None:
    stream = client.chat.completions.create(
        model="smollm2",
        messages=MESSAGES,
        max_tokens=10,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert last.usage.completion_tokens >= 1
    whole = client.chat.completions.create(
        model="smollm2", messages=MESSAGES, max_tokens=10, temperature=0
    )
    assert text == whole.choices[0].message.content
    assert last.usage == whole.usage


def test_stream_wire_format_ends_with_done(server) -> None:
    body = {
        "model": "smollm2",
        "messages": MESSAGES,
        "max_tokens": 4,
        "stream": True,
    }
    with httpx.stream("POST", server.v1 + "/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert all("usage" not in p for p in payloads)  # no include_usage: no usage key at all


def test_completion_text_tokens_echo_and_stream(client, smollm2) -> None:
    out = client.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=6, temperature=0
    )
    assert out.object == "text_completion" and out.id.startswith("cmpl-")
    text = out.choices[0].text
    assert text and out.usage.completion_tokens <= 6
    ids = smollm2.tokenizer.encode("The capital of France is")
    assert out.usage.prompt_tokens == len(ids)

    by_ids = client.completions.create(model="smollm2", prompt=ids, max_tokens=6, temperature=0)
    assert by_ids.choices[0].text == text

    echoed = client.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=6, temperature=0, echo=True
    )
    assert echoed.choices[0].text == smollm2.tokenizer.decode(ids) + text

    two = client.completions.create(
        model="smollm2",
        prompt=["The capital of France is", "1, 2, 3,"],
        max_tokens=4,
        temperature=0,
    )
    assert [c.index for c in two.choices] == [0, 1]
    assert (
        two.choices[0].text
        == client.completions.create(
            model="smollm2", prompt="The capital of France is", max_tokens=4, temperature=0
        )
        .choices[0]
        .text
    )

    streamed = client.completions.create(
        model="smollm2",
        prompt="The capital of France is",
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == text
    assert chunks[-1].usage.completion_tokens == out.usage.completion_tokens


def test_max_tokens_and_max_completion_tokens_give_length(client) -> None:
    prompt = [{"role": "user", "content": "Count from one to one hundred in words."}]
    a = client.chat.completions.create(
        model="smollm2", messages=prompt, max_tokens=5, temperature=0
    )
    b = client.chat.completions.create(
        model="smollm2", messages=prompt, max_completion_tokens=5, temperature=0
    )
    assert a.choices[0].finish_reason == "length" and a.usage.completion_tokens == 5
    assert b.choices[0].message.content == a.choices[0].message.content
    assert b.usage.completion_tokens == 5


def test_health_docs_openapi(server) -> None:
    health = httpx.get(server.base_url + "/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"
    docs = httpx.get(server.base_url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(server.base_url + "/openapi.json").json()
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"):
        assert path in spec["paths"]


def test_metrics_count_requests_tokens_and_latency(client, server) -> None:
    route = 'route="/v1/chat/completions"'
    before_ok = server.metric(f'datashark_requests_total{{{route},status="200"}}')
    before_bad = server.metric(f'datashark_requests_total{{{route},status="404"}}')
    before_completion = server.metric("datashark_completion_tokens_total")
    before_ttft = server.metric("datashark_time_to_first_token_seconds_count")
    before_latency = server.metric(f"datashark_request_latency_seconds_count{{{route}}}")
    out = client.chat.completions.create(
        model="smollm2", messages=MESSAGES, max_tokens=3, temperature=0
    )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=MESSAGES, max_tokens=3)
    assert server.metric(f'datashark_requests_total{{{route},status="200"}}') == before_ok + 1
    assert server.metric(f'datashark_requests_total{{{route},status="404"}}') == before_bad + 1
    assert (
        server.metric("datashark_completion_tokens_total")
        == before_completion + out.usage.completion_tokens
    )
    assert server.metric("datashark_time_to_first_token_seconds_count") == before_ttft + 1
    assert (
        server.metric(f"datashark_request_latency_seconds_count{{{route}}}") == before_latency + 2
    )
    text = httpx.get(server.base_url + "/metrics").text
    assert "datashark_running_sequences" in text and "datashark_waiting_sequences" in text


def test_one_json_log_line_per_request(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="datashark.server.access")
    out = client.chat.completions.create(
        model="smollm2", messages=MESSAGES, max_tokens=3, temperature=0
    )
    lines = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "datashark.server.access"
    ]
    assert len(lines) == 1
    line = lines[0]
    assert line["route"] == "/v1/chat/completions" and line["status"] == 200
    assert line["prompt_tokens"] == out.usage.prompt_tokens
    assert line["completion_tokens"] == out.usage.completion_tokens
    assert line["id"] and line["ms"] > 0
