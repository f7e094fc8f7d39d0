"""Providers configured by environment variables alone, pointed at loopback stand-ins: DeepSeek
and OpenAI with keys and base URLs, Ollama by URL, and the beta's BETA_MODEL_BASE_URL (a remote
DataShark) as the `local` provider."""

from __future__ import annotations

KILL = {"prompt": "make a part that kills players when they touch it", "clarify": False}


def test_hosted_providers_from_env(live, standins) -> None:
    primary, backup = standins["primary"], standins["backup"]
    primary.inject("500", "500", "500")
    app = live(
        DATASHARK_PROVIDERS="deepseek,openai,templates",
        DEEPSEEK_API_KEY="ds-secret",
        DEEPSEEK_BASE_URL=primary.base_url,
        DEEPSEEK_MODEL="deepseek-coder",
        OPENAI_API_KEY="oa-secret",
        OPENAI_BASE_URL=backup.base_url,
    )
    body = app.post(KILL).json()
    assert body["provider"] == "openai"
    assert [a["outcome"] for a in body["attempts"]] == ["server_error", "ok"]
    assert primary.seen[0].authorization == "Bearer ds-secret"
    assert primary.seen[0].body["model"] == "deepseek-coder"
    assert backup.seen[0].authorization == "Bearer oa-secret"
    assert backup.seen[0].body["model"] == "gpt-4o-mini"


def test_ollama_by_url(live, standins) -> None:
    up = standins["primary"]
    root = up.base_url.removesuffix("/v1")
    app = live(
        DATASHARK_PROVIDERS="ollama", OLLAMA_BASE_URL=root, OLLAMA_MODEL="qwen2.5-coder:1.5b"
    )
    body = app.post(KILL).json()
    assert body["provider"] == "ollama" and up.seen[0].authorization is None
    assert up.seen[0].body["model"] == "qwen2.5-coder:1.5b"


def test_beta_model_base_url_is_the_local_provider(live, standins) -> None:
    up = standins["primary"]
    app = live(DATASHARK_PROVIDERS="local,templates", BETA_MODEL_BASE_URL=up.base_url)
    body = app.post(KILL).json()
    assert body["provider"] == "local" and body["model"] == "primary-model"
    assert len(up.seen) == 1


def test_the_app_builds_its_flow_from_the_environment(live_env_app) -> None:
    app = live_env_app(DATASHARK_PROVIDERS="templates")
    body = app.post(KILL).json()
    assert body["status"] == "ok" and body["provider"] == "templates"
    assert app.get("/api/metrics").json()["order"] == ["templates"]
