"""POST /v1/chat/completions: messages -> the model file's chat template -> scheduler -> JSON or
SSE chunks (`chat.completion.chunk`, ending with `data: [DONE]`).

Not handled: tools, logprobs, non-text content parts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from datashark.server import errors
from datashark.server.jobs import (
    RunningJob,
    record_usage,
    request_id,
    resolve_max_tokens,
    sampling_params,
    started_at,
)
from datashark.server.protocol import (
    ERROR_RESPONSES,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
)
from datashark.server.runtime import Runtime, get_runtime
from datashark.server.scheduler import ChoiceSpec, FinishEvent
from datashark.server.sse import SSE_HEADERS, sse_data, sse_done, sse_error

router = APIRouter(prefix="/v1", tags=["OpenAI"])


def chat_prompt_ids(model: Any, messages: list[ChatMessage]) -> list[int]:
    """Render the messages with the model's own chat template and tokenize the result."""
    turns = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        for m in messages
    ]
    try:
        text = model.render_chat(turns, add_generation_prompt=True)
    except Exception as exc:  # the template's own checks (role order, ...) raise here
        raise errors.invalid_request(
            f"The chat template rejected the messages: {exc}", "messages"
        ) from None
    ids = list(model.tokenizer.encode(text, parse_special=True))
    bos = model.tokenizer.bos_id
    if bos is not None and ids[:2] == [bos, bos]:  # the template already wrote the BOS text
        ids = ids[1:]
    if not ids:
        raise errors.invalid_request("The messages render to an empty prompt.", "messages")
    return ids


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream"},
    },
    summary="Create a chat completion",
)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, runtime: Runtime = Depends(get_runtime)
) -> Any:
    model, scheduler = runtime.require_ready()
    runtime.check_model(body.model)
    prompt = chat_prompt_ids(model, body.messages)
    max_tokens = resolve_max_tokens(
        body.requested_max_tokens(),
        len(prompt),
        model.config.context_length,
        runtime.settings.default_max_tokens,
        "max_completion_tokens" if body.max_completion_tokens else "max_tokens",
    )
    choices = [
        ChoiceSpec(tuple(prompt), sampling_params(body, max_tokens, i)) for i in range(body.n)
    ]
    rid = request_id(request)
    job = RunningJob(scheduler, choices, rid, started_at(request))
    job.submit(runtime.settings.retry_after_s)
    completion_id = f"chatcmpl-{rid.removeprefix('req_')}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = _stream(
            job, request, completion_id, created, runtime.model_id, len(prompt), include_usage
        )
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    finished = await job.collect(request)
    record_usage(request, len(prompt), job.completion_tokens)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": runtime.model_id,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": finished[i].text},
                "logprobs": None,
                "finish_reason": finished[i].reason,
            }
            for i in sorted(finished)
        ],
        "usage": _usage(len(prompt), job.completion_tokens),
        "system_fingerprint": None,
    }


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _stream(
    job: RunningJob,
    request: Request,
    completion_id: str,
    created: int,
    model_id: str,
    prompt_tokens: int,
    include_usage: bool,
) -> AsyncIterator[str]:
    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "system_fingerprint": None,
            "choices": choices,
        }
        if include_usage:
            payload["usage"] = usage
        return sse_data(payload)

    def choice(index: int, delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    try:
        for i in range(len(job.job.choices)):
            yield chunk([choice(i, {"role": "assistant", "content": ""})])
        try:
            async for event in job.events():
                if isinstance(event, FinishEvent):
                    yield chunk([choice(event.index, {}, event.reason)])
                elif event.text:
                    yield chunk([choice(event.index, {"content": event.text})])
        except errors.APIError as exc:
            yield sse_error(exc)
            return
        if include_usage:
            yield chunk([], _usage(prompt_tokens, job.completion_tokens))
        yield sse_done()
    finally:
        job.cancel()
        record_usage(request, prompt_tokens, job.completion_tokens)
