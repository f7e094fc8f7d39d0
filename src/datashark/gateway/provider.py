"""What a provider is: the request it takes, the completion it returns, the errors it raises.

Every adapter (local engine, hosted OpenAI-protocol APIs, templates) implements `Provider`. A
failure is always a `ProviderError` with a `FailureReason`, so the fallback decision, the circuit
breaker and the metrics see one vocabulary of reasons.

Not handled: tool calls, images, logprobs; a request is plain chat messages in, text out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class FailureReason(StrEnum):
    """Why one provider attempt failed (metrics label, attempt outcome, fallback input)."""

    CONNECT = "connect"  # connection refused / DNS / TLS: nothing answered
    TIMEOUT = "timeout"  # connect, read or total timeout
    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER_ERROR = "server_error"  # HTTP 5xx
    CLIENT_ERROR = "client_error"  # HTTP 4xx other than 429 (bad key, bad model name, ...)
    MALFORMED = "malformed"  # a reply that is not the protocol's JSON / SSE
    STREAM_CUT = "stream_cut"  # the connection closed before the stream finished
    EMPTY = "empty"  # a reply with no text
    NO_CODE = "no_code"  # text without a Luau code block
    COMPILE = "compile"  # Luau that the compiler rejects
    SANDBOX = "sandbox"  # Luau that fails its sandbox run or behaviour check
    NO_MATCH = "no_match"  # the templates provider has nothing close enough
    ERROR = "error"  # anything else raised by an adapter


# Reasons worth retrying on the same provider before falling back.
RETRYABLE = frozenset(
    {FailureReason.CONNECT, FailureReason.RATE_LIMITED, FailureReason.SERVER_ERROR}
)


class ProviderError(Exception):
    """A failed provider attempt. `retry_after_s` carries an upstream Retry-After, if any."""

    def __init__(
        self,
        reason: FailureReason,
        message: str,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s
        self.status = status

    def __repr__(self) -> str:
        return f"ProviderError({self.reason.value!r}, {self.message!r})"


@dataclass(frozen=True)
class Message:
    """One chat message (`role` is system, user or assistant)."""

    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatRequest:
    """What the gateway sends to every provider.

    `messages` is the full prompt for model providers; `task` is the user's request in plain words
    and `details` the answers to clarifying questions, which retrieval-based providers (templates)
    read instead.
    """

    messages: tuple[Message, ...]
    task: str
    max_tokens: int = 1024
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """A provider's answer. `reference` names the stored example it came from (templates only)."""

    text: str
    provider: str
    model: str
    finish_reason: str | None = None
    reference: str | None = None


@runtime_checkable
class Provider(Protocol):
    """One model provider in the chain.

    `name` is unique in the chain (`local`, `deepseek`, ...); `kind` is the adapter
    (`local`, `openai_compatible`, `templates`); `configured` is False when its credentials or
    model are missing, with `why_not_configured` saying what is missing.
    """

    name: str
    kind: str
    model: str

    @property
    def configured(self) -> bool: ...

    @property
    def why_not_configured(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...
