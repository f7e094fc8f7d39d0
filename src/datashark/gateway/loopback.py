"""A loopback upstream that speaks the OpenAI chat-completions protocol, with injectable faults.

`bench gateway` measures the gateway against it, and the gateway tests use it as the stand-in for
hosted providers that cannot be reached here. It is a real HTTP server (uvicorn, on 127.0.0.1 and
a free port, in a background thread) serving `POST /v1/chat/completions` as JSON or SSE and
`GET /v1/models`. Each request takes the next fault from a queue (then `default`):

    ok          a normal reply with `reply` as the assistant message
    slow        sleeps `slow_s` before answering (a read timeout for a short-timeout client)
    500         HTTP 500 with an OpenAI error body
    429         HTTP 429 with `Retry-After: retry_after`
    malformed   HTTP 200 whose body is not JSON
    bad_luau    a normal reply whose Lua code block does not compile
    empty       a normal reply with empty content
    cut         the connection closes mid-reply (SSE: after two chunks, no [DONE])
    cut_early   SSE only: headers, then the connection closes before any token

Not handled: authentication checks beyond recording the Authorization header; tool calls.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn

BAD_LUAU_REPLY = (
    "Here you go:\n```lua\nlocal part = script.Parent\npart.Touched:Connect(function(\n```"
)

FAULTS = ("ok", "slow", "500", "429", "malformed", "bad_luau", "empty", "cut", "cut_early")


@dataclass
class Seen:
    """One request the upstream received."""

    at: float
    fault: str
    body: dict[str, Any]
    authorization: str | None


@dataclass
class LoopbackUpstream:
    reply: str = "ok"
    model: str = "loopback-1"
    default: str = "ok"
    slow_s: float = 2.0
    retry_after: str = "1"
    faults: deque[str] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def inject(self, *faults: str) -> None:
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
            self.faults.append(fault)

    def start(self) -> LoopbackUpstream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="critical",
            lifespan="off",
            interface="asgi3",
            access_log=False,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="loopback"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for a deliberately slow reply
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> LoopbackUpstream:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- ASGI ---------------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/v1/models":
            await _json(
                send, 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            )
            return
        if method != "POST" or path != "/v1/chat/completions":
            await _json(send, 404, _error("not found", "invalid_request_error"))
            return
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            await _json(send, 400, _error("body is not JSON", "invalid_request_error"))
            return
        fault = self.faults.popleft() if self.faults else self.default
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        self.seen.append(Seen(time.time(), fault, request, auth.decode() if auth else None))
        if fault == "slow":
            await asyncio.sleep(self.slow_s)
            fault = "ok"
        if fault == "500":
            await _json(send, 500, _error("upstream exploded", "server_error"))
        elif fault == "429":
            await _json(
                send,
                429,
                _error("slow down", "rate_limit_error"),
                [(b"retry-after", self.retry_after.encode())],
            )
        elif fault == "malformed":
            await _raw(send, 200, b'{"choices": [ {"message": ', b"application/json")
        elif request.get("stream"):
            await self._stream(send, fault)
        elif fault == "cut":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send(
                {"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True}
            )
            raise ConnectionAbortedError("loopback: cut mid-reply")
        else:
            content = {"bad_luau": BAD_LUAU_REPLY, "empty": ""}.get(fault, self.reply)
            await _json(send, 200, self._completion(content))

    def _completion(self, content: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    async def _stream(self, send: Any, fault: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        if fault == "cut_early":
            raise ConnectionAbortedError("loopback: cut before the first token")
        content = {"bad_luau": BAD_LUAU_REPLY, "empty": ""}.get(fault, self.reply)
        pieces = [content[i : i + 16] for i in range(0, len(content), 16)]
        for n, piece in enumerate(pieces):
            if fault == "cut" and n == 2:
                raise ConnectionAbortedError("loopback: cut mid-stream")
            chunk = {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {json.dumps(chunk)}\n\n".encode(),
                    "more_body": True,
                }
            )
        if fault == "cut":
            raise ConnectionAbortedError("loopback: cut mid-stream")
        done = {
            "id": "chatcmpl-loopback",
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await send(
            {
                "type": "http.response.body",
                "body": f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode(),
                "more_body": False,
            }
        )


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def _json(
    send: Any, status: int, data: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _raw(send, status, json.dumps(data).encode(), b"application/json", extra)


async def _raw(
    send: Any,
    status: int,
    body: bytes,
    content_type: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


def refused_url() -> str:
    """A loopback base URL where nothing listens (bind a port, then close it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"
