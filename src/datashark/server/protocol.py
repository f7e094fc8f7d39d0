"""Request and response schemas of the OpenAI-compatible API (chat completions, completions,
models), checked against the OpenAI API reference and the official `openai` client's types.

Extras beyond OpenAI: `top_k`, `min_p`, `repetition_penalty`. Not handled: tools/function
calling, logprobs, images/audio content parts, `suffix`, `best_of` > n, `logit_bias` (accepted
and ignored only where OpenAI clients send them by default: none of these are sent by default, so
unknown fields are ignored rather than rejected).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# 64-bit seeds, as OpenAI accepts; the server folds them into the sampler's range.
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]
StopText = Annotated[str, Field(min_length=1, max_length=256)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, protected_namespaces=())


class StreamOptions(_Request):
    include_usage: bool = Field(
        False, description="Send a last chunk with `usage` (and empty `choices`) before [DONE]."
    )


class _Sampling(_Request):
    """Sampling fields shared by chat completions and completions."""

    model: str = Field(..., min_length=1, description="Model id from /v1/models.")
    temperature: float | None = Field(1.0, ge=0.0, le=2.0, description="0 = greedy.")
    top_p: float | None = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    n: int = Field(1, ge=1, le=16, description="Choices to generate (one sequence each).")
    stream: bool = Field(False, description="Stream server-sent events ending with [DONE].")
    stream_options: StreamOptions | None = None
    stop: StopText | Annotated[list[StopText], Field(max_length=4)] | None = Field(
        None, description="Up to 4 strings; generation stops before any of them."
    )
    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate.")
    presence_penalty: float | None = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(0.0, ge=-2.0, le=2.0)
    seed: Seed | None = Field(None, description="Same seed + same request = same output.")
    user: str | None = None
    # Extras (llama.cpp / vLLM names).
    top_k: int | None = Field(
        0, ge=0, le=1_000_000, description="Extra: keep the k best (0 = off)."
    )
    min_p: float | None = Field(0.0, ge=0.0, le=1.0, description="Extra: min probability ratio.")
    repetition_penalty: float | None = Field(
        1.0, ge=0.01, le=10.0, description="Extra: divide logits of seen tokens (1 = off)."
    )

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        if isinstance(self.stop, str):
            return (self.stop,)
        return tuple(self.stop)


class TextPart(_Request):
    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(
        None, ge=1, description="Most tokens to generate (newer name of max_tokens; wins if both)."
    )

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    prompt: (
        str
        | Annotated[list[str], Field(min_length=1, max_length=16)]
        | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
        | Annotated[
            list[Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]],
            Field(min_length=1, max_length=16),
        ]
    ) = Field(..., description="A string, strings, token ids or lists of token ids.")
    max_tokens: int | None = Field(16, ge=1, description="Most tokens to generate (default 16).")
    echo: bool = Field(False, description="Prepend the prompt to each choice's text.")


# ----- responses -----


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "datashark"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Invalid request (bad parameter, malformed JSON, context_length_exceeded).",
        401: "Missing or wrong API key.",
        404: "Unknown model.",
        413: "Request body too large.",
        429: "Server saturated; see Retry-After.",
        503: "Model still loading; see Retry-After.",
    }.items()
}
