"""An adapter for any server speaking the OpenAI chat-completions protocol over HTTP.

DeepSeek, OpenAI, Ollama (its `/v1` endpoint), vLLM, the llama.cpp server and another DataShark all
speak it, so one adapter with a base URL, a model name and an optional key serves them all. It maps
transport and protocol problems to `FailureReason`s: connection errors, timeouts, 429 (with its
Retry-After), 5xx, other 4xx, bodies that are not the protocol's JSON, SSE streams that end without
`[DONE]`.

Not handled: retries (the gateway decides those), tool calls, n > 1, logprobs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from datashark.gateway.policy import Policy, parse_retry_after
from datashark.gateway.provider import (
    ChatRequest,
    Completion,
    FailureReason,
    ProviderError,
)


def _status_error(response: httpx.Response, body: str) -> ProviderError:
    status = response.status_code
    detail = body[:300].strip() or response.reason_phrase
    if status == 429:
        return ProviderError(
            FailureReason.RATE_LIMITED,
            f"HTTP 429: {detail}",
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            status=status,
        )
    if status >= 500:
        return ProviderError(
            FailureReason.SERVER_ERROR,
            f"HTTP {status}: {detail}",
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            status=status,
        )
    return ProviderError(FailureReason.CLIENT_ERROR, f"HTTP {status}: {detail}", status=status)


def _transport_error(exc: Exception) -> ProviderError:
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(FailureReason.TIMEOUT, f"timed out: {type(exc).__name__}")
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(FailureReason.CONNECT, f"cannot connect: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ProviderError(FailureReason.STREAM_CUT, f"connection closed mid-reply: {exc}")
    return ProviderError(FailureReason.ERROR, f"{type(exc).__name__}: {exc}")


def parse_chat_completion(data: Any) -> tuple[str, str | None, str | None]:
    """(content, finish_reason, model) from a chat.completion object; raises MALFORMED."""
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content")
        finish = choice.get("finish_reason")
        model = data.get("model")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ProviderError(
            FailureReason.MALFORMED, f"reply is not a chat.completion: missing {exc}"
        ) from None
    if content is not None and not isinstance(content, str):
        raise ProviderError(FailureReason.MALFORMED, "message.content is not a string")
    return content or "", finish, model if isinstance(model, str) else None


class OpenAICompatibleProvider:
    """`POST {base_url}/chat/completions`, JSON or SSE."""

    kind = "openai_compatible"

    def __init__(
        self,
        name: str,
        base_url: str | None,
        model: str,
        api_key: str | None,
        policy: Policy,
        key_required: bool,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = (base_url or "").rstrip("/")
        self.policy = policy
        self._api_key = api_key
        self._key_required = key_required
        self._client = client
        self._owns_client = client is None

    @property
    def configured(self) -> bool:
        return not self.why_not_configured

    @property
    def why_not_configured(self) -> str:
        if not self.base_url:
            return "no base URL"
        if self._key_required and not self._api_key:
            return "no API key"
        if not self.model:
            return "no model name"
        return ""

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(
                connect=self.policy.connect_timeout_s,
                read=self.policy.read_timeout_s,
                write=self.policy.read_timeout_s,
                pool=self.policy.connect_timeout_s,
            )
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)
        return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        url = f"{self.base_url}/chat/completions"
        try:
            response = await self._http().post(
                url, json=self._body(request, False), headers=self._headers()
            )
            body = response.text
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from None
        if response.status_code != 200:
            raise _status_error(response, body)
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ProviderError(FailureReason.MALFORMED, f"reply is not JSON: {exc}") from None
        content, finish, model = parse_chat_completion(data)
        return Completion(content, self.name, model or self.model, finish)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        """Yields content deltas; raises STREAM_CUT when the stream ends without `[DONE]`."""
        url = f"{self.base_url}/chat/completions"
        headers = self._headers() | {"Accept": "text/event-stream"}
        try:
            async with self._http().stream(
                "POST", url, json=self._body(request, True), headers=headers
            ) as response:
                if response.status_code != 200:
                    body = (await response.aread()).decode("utf-8", "replace")
                    raise _status_error(response, body)
                done = False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(payload)
                        delta = (
                            chunk["choices"][0]["delta"].get("content")
                            if chunk["choices"]
                            else None
                        )
                    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
                        raise ProviderError(
                            FailureReason.MALFORMED, f"bad SSE chunk: {payload[:120]}"
                        ) from None
                    if delta:
                        yield delta
                if not done:
                    raise ProviderError(FailureReason.STREAM_CUT, "stream ended without [DONE]")
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from None

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
