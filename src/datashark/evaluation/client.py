"""How the evaluation reaches a provider: `POST /api/generate` of a DataShark server, over HTTP
(`HttpClient`, any running `datashark serve`) or in process (`AppClient`, the same FastAPI app
driven through httpx's ASGI transport, so no port is opened).

Both send the request the plugin would send, restricted to one provider (`providers: [name]`),
and return the HTTP status and the decoded JSON body.

Not handled: retries (a failed request is a failed task) and streaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: dict[str, Any]
    error: str | None = None  # transport error text, when no HTTP answer came back


class GenerateClient(Protocol):
    def generate(self, payload: dict[str, Any]) -> Reply: ...

    def close(self) -> None: ...


def _decode(response: httpx.Response) -> Reply:
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:500]}}
    if not isinstance(body, dict):
        body = {"error": {"message": f"unexpected JSON: {str(body)[:200]}"}}
    return Reply(response.status_code, body)


class HttpClient:
    """A running server at `base_url` (e.g. http://127.0.0.1:8000)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 300.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, trust_env=False
        )

    def generate(self, payload: dict[str, Any]) -> Reply:
        try:
            return _decode(self._client.post("/api/generate", json=payload))
        except httpx.HTTPError as exc:
            return Reply(0, {}, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._client.close()


class FlowClient:
    """The /api/generate flow in this process (`datashark.roblox.api.build_flow`), with the
    answer cache off so every task is really generated. `providers` limits the chain that is
    built (e.g. "templates" builds no local engine)."""

    def __init__(self, providers: list[str] | None = None) -> None:
        import asyncio

        from datashark.gateway.settings import GatewaySettings
        from datashark.roblox.api import build_flow

        # No cache (every task is generated) and no circuit breaker (one provider failing several
        # tasks in a row must not turn the rest of the suite into "circuit open").
        overrides: dict[str, Any] = {"cache_ttl_s": 0.0, "breaker_threshold": 1_000_000}
        if providers:
            overrides["providers"] = ",".join(providers)
        self._flow = build_flow(GatewaySettings(**overrides))
        self._loop = asyncio.new_event_loop()

    def order(self) -> list[str]:
        """The provider chain the flow was built with (what `--all` evaluates)."""
        return list(self._flow.gateway.order)

    def generate(self, payload: dict[str, Any]) -> Reply:
        from pydantic import ValidationError

        from datashark.roblox.errors import GenerateError
        from datashark.roblox.protocol import GenerateRequest

        try:
            request = GenerateRequest.model_validate(payload)
        except ValidationError as exc:
            return Reply(400, {"error": {"message": str(exc.errors()[0].get("msg"))}})
        try:
            body = self._loop.run_until_complete(self._flow.generate(request))
        except GenerateError as exc:
            return Reply(exc.status, exc.body())
        return Reply(200, body)

    def close(self) -> None:
        self._loop.close()
