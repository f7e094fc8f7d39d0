"""POST /v1/completions (OpenAI's legacy text completions): a prompt given as text, texts, token
ids or lists of token ids; `n` choices per prompt, choice index = prompt_index * n + i.

Not handled: `suffix`, `logprobs`, `best_of` (ignored).
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
from datashark.server.protocol import ERROR_RESPONSES, Completion, CompletionRequest
from datashark.server.runtime import Runtime, get_runtime
from datashark.server.scheduler import ChoiceSpec, FinishEvent
from datashark.server.sse import SSE_HEADERS, sse_data, sse_done, sse_error

router = APIRouter(prefix="/v1", tags=["OpenAI"])
MAX_CHOICES = 64  # prompts x n in one request


def completion_prompts(model: Any, prompt: Any) -> list[list[int]]:
    """Token ids of each prompt; text gets the tokenizer's BOS rule, ids are checked."""
    vocab = model.config.vocab_size
    if isinstance(prompt, str):
        prompts: list[Any] = [prompt]
    elif prompt and isinstance(prompt[0], int):
        prompts = [prompt]
    else:
        prompts = list(prompt)
    out: list[list[int]] = []
    for item in prompts:
        ids = list(model.tokenizer.encode(item)) if isinstance(item, str) else list(item)
        if not ids:
            raise errors.invalid_request("The prompt is empty.", "prompt")
        if max(ids) >= vocab:
            raise errors.invalid_request(
                f"Token id {max(ids)} is out of range for a vocabulary of {vocab}.", "prompt"
            )
        out.append(ids)
    return out


@router.post(
    "/completions",
    response_model=Completion,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream"},
    },
    summary="Create a text completion",
)
async def create_completion(
    body: CompletionRequest, request: Request, runtime: Runtime = Depends(get_runtime)
) -> Any:
    model, scheduler = runtime.require_ready()
    runtime.check_model(body.model)
    prompts = completion_prompts(model, body.prompt)
    if len(prompts) * body.n > MAX_CHOICES:
        raise errors.invalid_request(
            f"{len(prompts)} prompts x n={body.n} is more than {MAX_CHOICES} choices.", "n"
        )
    context = model.config.context_length
    choices: list[ChoiceSpec] = []
    echoes: list[str] = []
    for ids in prompts:
        max_tokens = resolve_max_tokens(
            body.max_tokens, len(ids), context, runtime.settings.default_max_tokens, "prompt"
        )
        echo = model.tokenizer.decode(ids) if body.echo else ""
        for i in range(body.n):
            choices.append(ChoiceSpec(tuple(ids), sampling_params(body, max_tokens, i)))
            echoes.append(echo)
    prompt_tokens = sum(len(ids) for ids in prompts)
    rid = request_id(request)
    job = RunningJob(scheduler, choices, rid, started_at(request))
    job.submit(runtime.settings.retry_after_s)
    completion_id = f"cmpl-{rid.removeprefix('req_')}"
    created = int(time.time())
    head = {"id": completion_id, "object": "text_completion", "created": created}
    head["model"] = runtime.model_id
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = _stream(job, request, head, echoes, prompt_tokens, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    finished = await job.collect(request)
    record_usage(request, prompt_tokens, job.completion_tokens)
    return {
        **head,
        "choices": [
            {
                "index": i,
                "text": echoes[i] + finished[i].text,
                "logprobs": None,
                "finish_reason": finished[i].reason,
            }
            for i in sorted(finished)
        ],
        "usage": _usage(prompt_tokens, job.completion_tokens),
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
    head: dict[str, Any],
    echoes: list[str],
    prompt_tokens: int,
    include_usage: bool,
) -> AsyncIterator[str]:
    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        payload = {**head, "system_fingerprint": None, "choices": choices}
        if include_usage:
            payload["usage"] = usage
        return sse_data(payload)

    def choice(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}

    try:
        for i, echo in enumerate(echoes):
            if echo:
                yield chunk([choice(i, echo)])
        try:
            async for event in job.events():
                if isinstance(event, FinishEvent):
                    yield chunk([choice(event.index, "", event.reason)])
                elif event.text:
                    yield chunk([choice(event.index, event.text)])
        except errors.APIError as exc:
            yield sse_error(exc)
            return
        if include_usage:
            yield chunk([], _usage(prompt_tokens, job.completion_tokens))
        yield sse_done()
    finally:
        job.cancel()
        record_usage(request, prompt_tokens, job.completion_tokens)
