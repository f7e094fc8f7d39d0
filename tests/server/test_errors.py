"""Every error case answers in OpenAI's shape with the right status, through the official client
(which maps statuses to its exception classes) and raw HTTP where a client library cannot send
the input (malformed JSON, oversized bodies)."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

USER = [{"role": "user", "content": "Say hello."}]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 3.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"presence_penalty": 5}, "presence_penalty"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    ],
)
def test_invalid_parameters_are_400(client, extra, param) -> None:
    body = {"model": "smollm2", "messages": USER, **extra}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**body)
    error = info.value.body
    assert info.value.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith(param)


def test_unknown_model_is_404(client) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4o", prompt="x")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_prompt_longer_than_context_is_context_length_exceeded(client, smollm2) -> None:
    context = smollm2.config.context_length
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="smollm2", messages=USER, max_tokens=context)
    assert info.value.body["code"] == "context_length_exceeded"
    long_ids = [smollm2.tokenizer.encode("hello")[0]] * (context + 1)
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="smollm2", prompt=long_ids, max_tokens=1)
    assert info.value.body["code"] == "context_length_exceeded"


def test_bad_token_ids_and_empty_prompt_are_400(client, smollm2) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="smollm2", prompt=[smollm2.config.vocab_size], max_tokens=1)
    assert info.value.body["param"] == "prompt"


def test_malformed_json_is_400(server, check_error) -> None:
    for raw in (b"{not json", b'{"model": "smollm2", "messages": [}', b"\xff\xfe", b"[1, 2]"):
        r = httpx.post(
            server.v1 + "/chat/completions",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert check_error(r, 400)["type"] == "invalid_request_error"


def test_body_too_large_is_413(make_server, check_error) -> None:
    with make_server(max_body_bytes=4096) as live:
        big = {"model": "smollm2", "messages": [{"role": "user", "content": "x" * 5000}]}
        r = httpx.post(live.v1 + "/chat/completions", json=big)
        assert check_error(r, 413)["code"] == "request_too_large"

        def chunks():  # no Content-Length: the limit applies while reading
            yield b'{"model": "smollm2", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}]}'

        r = httpx.post(
            live.v1 + "/chat/completions",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        check_error(r, 413)
        client = openai.OpenAI(base_url=live.v1, api_key="x", max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(**big)
        assert info.value.status_code == 413
        # under the limit still works on the same server
        ok = client.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert ok.choices[0].message.content is not None


def test_unknown_route_and_method_in_openai_shape(server, check_error) -> None:
    check_error(httpx.get(server.v1 + "/nothing"), 404)
    check_error(httpx.get(server.v1 + "/chat/completions"), 405)


def test_queue_full_is_429_with_retry_after(make_server) -> None:
    """One running slot and no waiting room: a second request while the first streams gets 429."""
    with make_server(max_running=1, max_waiting=0, retry_after_s=3) as live:
        client = openai.OpenAI(base_url=live.v1, api_key="x", max_retries=0, timeout=120)
        stream = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Write a long story about a dragon."}],
            max_tokens=200,
            temperature=0,
            stream=True,
        )
        next(iter(stream))  # the first request now holds the only slot
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert info.value.response.headers["retry-after"] == "3"
        assert info.value.body["type"] == "rate_limit_error"
        stream.close()
        scheduler = live.app.state.runtime.scheduler
        for _ in range(1000):  # the closed stream's slot is freed within a step or two
            if scheduler.running == 0:
                break
            threading.Event().wait(0.01)
        ok = client.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert ok.choices


def test_loading_is_503_then_ready(smollm2_path, make_settings, live_server, monkeypatch) -> None:
    """/health and /v1 answer 503 with Retry-After while the model loads, 200 after."""
    from datashark.engine import Model

    release = threading.Event()
    real_load = Model.load.__func__

    def slow_load(cls, *args, **kwargs):
        release.wait(60)
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(Model, "load", classmethod(slow_load))
    app_settings = make_settings(model=str(smollm2_path), served_model_name="smollm2")
    from datashark.server.app import create_app

    live = live_server(create_app(app_settings)).start()
    try:
        health = httpx.get(live.base_url + "/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        assert health.headers["retry-after"] == "1"
        client = openai.OpenAI(base_url=live.v1, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert info.value.status_code == 503
        assert info.value.response.headers["retry-after"] == "1"
        release.set()
        live.wait_ready()
        out = client.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert out.choices[0].message.content is not None
    finally:
        release.set()
        live.stop()


def test_failed_load_is_503_with_reason(make_settings, live_server, tmp_path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    from datashark.server.app import create_app

    live = live_server(create_app(make_settings(model=str(bad)))).start()
    try:
        for _ in range(100):
            health = httpx.get(live.base_url + "/health").json()
            if health["status"] != "loading":
                break
            threading.Event().wait(0.05)
        assert health["status"] == "failed" and "broken.gguf" in health["error"]
        r = httpx.post(live.v1 + "/chat/completions", json={"model": "broken", "messages": USER})
        assert r.status_code == 503 and r.json()["error"]["type"] == "server_error"
    finally:
        live.stop()
