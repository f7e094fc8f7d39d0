"""A loopback upstream that speaks the OpenAI chat-completions protocol, with injectable faults.

`bench gateway` measures the gateway against it, and the gateway tests use it as the stand-in for
hosted providers that cannot be reached here. It is a real HTTP/1.1 server (asyncio streams,
keep-alive, on 127.0.0.1 and a free port, in a background thread; each response is one socket
write, so timings carry no Nagle/delayed-ACK stalls) serving `POST /v1/chat/completions` as JSON or SSE and
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

BAD_LUAU_REPLY = (
    "Here you go:\n```lua\nlocal part = script.Parent\npart.Touched:Connect(function(\n```"
)

FAULTS = ("ok", "slow", "500", "429", "malformed", "bad_luau", "empty", "cut", "cut_early")
MAX_BODY = 8 * 1024 * 1024


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
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
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
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, sock=sock, backlog=1024)
            )
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, daemon=True, name="loopback-upstream")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback upstream did not start")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None or self._thread is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        self._server = None
        self._loop = None

    def __enter__(self) -> LoopbackUpstream:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- HTTP/1.1 -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = (lines[0].split(" ") + ["", "", ""])[:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            writer.write(_response(413, _error("body too large", "invalid_request_error")))
            return False
        body = await reader.readexactly(length) if length else b""
        if method == "GET" and path == "/v1/models":
            writer.write(
                _response(200, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
            )
            return True
        if method != "POST" or path != "/v1/chat/completions":
            writer.write(_response(404, _error("not found", "invalid_request_error")))
            return True
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            writer.write(_response(400, _error("body is not JSON", "invalid_request_error")))
            return True
        fault = self.faults.popleft() if self.faults else self.default
        self.seen.append(Seen(time.time(), fault, request, headers.get("authorization")))
        if fault == "slow":
            await asyncio.sleep(self.slow_s)
            fault = "ok"
        if fault == "500":
            writer.write(_response(500, _error("upstream exploded", "server_error")))
        elif fault == "429":
            extra = f"retry-after: {self.retry_after}\r\n"
            writer.write(_response(429, _error("slow down", "rate_limit_error"), extra))
        elif fault == "malformed":
            writer.write(_raw(200, b'{"choices": [ {"message": ', "application/json"))
        elif request.get("stream"):
            await self._stream(writer, fault)
            return fault == "ok" or fault in ("bad_luau", "empty")
        elif fault == "cut":
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n"
                b'{"id": "chatcmpl-'
            )
            await writer.drain()
            return False  # close mid-body
        else:
            content = {"bad_luau": BAD_LUAU_REPLY, "empty": ""}.get(fault, self.reply)
            writer.write(_response(200, self._completion(content)))
        await writer.drain()
        return True

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

    async def _stream(self, writer: asyncio.StreamWriter, fault: str) -> None:
        """SSE over chunked transfer encoding; `cut*` faults close the socket mid-way."""
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        if fault == "cut_early":
            return
        content = {"bad_luau": BAD_LUAU_REPLY, "empty": ""}.get(fault, self.reply)
        pieces = [content[i : i + 16] for i in range(0, len(content), 16)]
        for n, piece in enumerate(pieces):
            if fault == "cut" and n == 2:
                return
            chunk = {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            writer.write(_chunk(f"data: {json.dumps(chunk)}\n\n".encode()))
            await writer.drain()
        if fault == "cut":
            return
        done = {
            "id": "chatcmpl-loopback",
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        writer.write(
            _chunk(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()) + b"0\r\n\r\n"
        )
        await writer.drain()


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
            429: "Too Many Requests", 500: "Internal Server Error"}  # fmt: skip


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _raw(status: int, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


def _response(status: int, data: dict[str, Any], extra: str = "") -> bytes:
    return _raw(status, json.dumps(data).encode(), "application/json", extra)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def refused_url() -> str:
    """A loopback base URL where nothing listens (bind a port, then close it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"
