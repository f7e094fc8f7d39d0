"""Auth on and off: with `api_key` set, /v1/* (and the gateway's /api/*) need the bearer key and
answer 401 in OpenAI's shape; /health and /metrics stay open."""

from __future__ import annotations

import httpx
import openai
import pytest

USER = [{"role": "user", "content": "Hi"}]


def test_auth_off_accepts_any_key(client) -> None:
    assert client.models.list().data
    raw = httpx.get(str(client.base_url) + "models")  # no Authorization header at all
    assert raw.status_code == 200


def test_auth_on(make_server, check_error) -> None:
    with make_server(api_key="s3cret-key") as live:
        good = openai.OpenAI(base_url=live.v1, api_key="s3cret-key", max_retries=0)
        assert good.models.list().data[0].id == "smollm2"
        out = good.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert out.choices

        wrong = openai.OpenAI(base_url=live.v1, api_key="s3cret-kez", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.chat.completions.create(model="smollm2", messages=USER, max_tokens=2)
        assert info.value.body["type"] == "authentication_error"
        assert info.value.body["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            wrong.completions.create(model="smollm2", prompt="x", max_tokens=1)

        for path in ("/v1/models", "/v1/models/smollm2"):
            check_error(httpx.get(live.base_url + path), 401)
            check_error(
                httpx.get(live.base_url + path, headers={"Authorization": "Basic s3cret-key"}), 401
            )
        # /health, /metrics and the docs stay open
        assert httpx.get(live.base_url + "/health").status_code == 200
        assert httpx.get(live.base_url + "/metrics").status_code == 200
        assert httpx.get(live.base_url + "/openapi.json").status_code == 200


def test_cors_origins_setting(make_server) -> None:
    with make_server(cors_origins=["http://localhost:3000"]) as live:
        pre = httpx.options(
            live.v1 + "/chat/completions",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = httpx.get(live.v1 + "/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_by_default(server) -> None:
    r = httpx.get(server.v1 + "/models", headers={"Origin": "http://localhost:3000"})
    assert "access-control-allow-origin" not in r.headers
