"""ASGI middleware: one structured JSON log line per request, and the per-request metrics.

The line (logger `datashark.server.access`) holds: id, method, route, status, prompt_tokens,
completion_tokens, ms. It goes out just before the response's last body message (so a client that
has its whole response can already find the line and the metrics for it), or when the app returns
without one: a streamed response is logged with its final token counts, and a stream cut by the
client is logged too (status 200, the tokens it got). The request id is `X-Request-ID` when the
client sends a sane one, else generated; it is echoed in the response's `x-request-id` header
and used in completion ids.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datashark.server import metrics

log = logging.getLogger("datashark.server.access")
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _ID_RE.match(given) else f"req_{uuid.uuid4().hex[:24]}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = started
        status = 500
        logged = False

        def finish() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            metrics.REQUESTS.labels(route=path, status=str(status)).inc()
            metrics.REQUEST_LATENCY.labels(route=path).observe(elapsed)
            line = {
                "id": request_id,
                "method": scope.get("method"),
                "route": path,
                "status": status,
                "prompt_tokens": state.get("prompt_tokens", 0),
                "completion_tokens": state.get("completion_tokens", 0),
                "ms": round(elapsed * 1000, 1),
            }
            log.info(json.dumps(line))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            finish()
