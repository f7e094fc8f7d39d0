"""Server-sent events as OpenAI streams them: `data: <json>\\n\\n` lines, then `data: [DONE]`.
An error after the stream has started is sent as one `data: {"error": {...}}` event (the
official clients raise on it), since the HTTP status is already 200 by then."""

from __future__ import annotations

import json
from typing import Any

from datashark.server.errors import APIError

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def sse_done() -> str:
    return "data: [DONE]\n\n"


def sse_error(exc: APIError) -> str:
    return sse_data(exc.body())
