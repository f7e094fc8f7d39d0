"""A fork server for sandbox runs: `python -m datashark.luau.zygote <socket path>`.

Starting a fresh interpreter, importing and compiling the fake Roblox API costs ~0.3-0.5 s per
sandbox run. The zygote does that once: it imports `datashark.luau.runner`, compiles the API to
bytecode, then listens on a Unix socket and forks one child per connection. The child (a copy of
a process that never ran sandboxed code and never created a Luau VM) reads one request, answers
{"ready": pid}, runs the request in a fresh VM and answers with the result, then exits; a run
costs one fork instead of one interpreter start.

Protocol on each connection: 4-byte big-endian length + JSON, both ways.
Lifetime: the zygote prints "ready" on stdout once listening and exits when its stdin reaches
end of file (its parent closed it or died). Children are reaped automatically (SIGCHLD ignored).

Does not handle: Windows (no fork; `sandbox.py` starts one interpreter per run there).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from typing import Any

from datashark.luau.runner import _result, api_bytecode, run_request

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def send_message(sock: socket.socket, message: Any) -> None:
    data = json.dumps(message).encode("utf-8")
    sock.sendall(_HEADER.pack(len(data)) + data)


def recv_message(sock: socket.socket) -> Any:
    """One length-prefixed JSON message; EOFError when the other side is gone."""
    header = _recv_exact(sock, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes is too large")
    return json.loads(_recv_exact(sock, size).decode("utf-8"))


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.extend(chunk)
    return bytes(chunks)


def _child(conn: socket.socket) -> None:
    """In the forked child: one request, one result, exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # pluau prints "Lua VM is being closed"
    try:
        request = recv_message(conn)
        send_message(conn, {"ready": os.getpid()})
        result = run_request(request)
    except BaseException as exc:  # report, never hang the parent
        result = _result("crash", False, f"sandbox runner failed: {exc!r}", [])
    try:
        send_message(conn, result)
    finally:
        os._exit(0)


def serve(path: str) -> None:
    """Listen on `path` and fork a child per connection until stdin closes."""
    api_bytecode()  # compiled once here, inherited by every child
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(128)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([server, stdin], [], [])
        if stdin in readable and not os.read(stdin, 4096):
            break  # the parent is gone or asked us to stop
        if server in readable:
            conn, _ = server.accept()
            if os.fork() == 0:
                try:  # the child must never fall back into this loop
                    server.close()
                    _child(conn)
                finally:
                    os._exit(1)
            conn.close()
    server.close()
    os.unlink(path)


class ZygoteUnavailable(RuntimeError):
    """The zygote could not be started (no fork/AF_UNIX, or it failed to come up)."""


class Zygote:
    """Parent side: starts the zygote on first use (and again if it died), runs requests.

    Thread-safe: concurrent `run` calls each get their own connection and forked child.
    """

    def __init__(self, startup_s: float) -> None:
        self._startup_s = startup_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._path = ""
        self._registered = False
        self._owner = os.getpid()

    def _ensure(self) -> str:
        with self._lock:
            if self._owner != os.getpid():  # we are a fork of the process that started it:
                self._proc, self._dir, self._owner = None, None, os.getpid()  # leave it alone
            if self._proc is not None and self._proc.poll() is None:
                return self._path
            self._close_locked()
            try:
                self._dir = tempfile.mkdtemp(prefix="datashark-luau-")  # private (0700)
                self._path = os.path.join(self._dir, "zygote.sock")
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "datashark.luau.zygote", self._path],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
                assert self._proc.stdout is not None
                ready, _, _ = select.select([self._proc.stdout], [], [], self._startup_s)
                line = self._proc.stdout.readline() if ready else b""
            except OSError as exc:
                self._close_locked()
                raise ZygoteUnavailable(f"cannot start the sandbox zygote: {exc}") from exc
            if line != b"ready\n":
                self._close_locked()
                raise ZygoteUnavailable("the sandbox zygote did not start")
            if not self._registered:
                atexit.register(self.close)
                self._registered = True
            return self._path

    def run(
        self, request: dict, startup_s: float, run_s: float
    ) -> tuple[str, dict[str, Any] | None]:
        """("done", result) | ("timeout", None) | ("crash", None).

        `startup_s` bounds the fork and request transfer, `run_s` the run after "ready"; a child
        that overruns is killed.
        """
        for attempt in range(2):
            path = self._ensure()
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.settimeout(startup_s)
                try:
                    conn.connect(path)
                except (FileNotFoundError, ConnectionRefusedError):
                    if attempt == 0:
                        self.close()  # the zygote died: start a new one
                        continue
                    raise ZygoteUnavailable("cannot reach the sandbox zygote") from None
                try:
                    send_message(conn, request)
                    pid = int(recv_message(conn)["ready"])
                except TimeoutError:
                    return "timeout", None
                except (EOFError, OSError):
                    return "crash", None
                conn.settimeout(run_s)
                try:
                    return "done", recv_message(conn)
                except TimeoutError:
                    _kill(pid)
                    return "timeout", None
                except (EOFError, OSError):
                    return "crash", None
            finally:
                conn.close()
        raise ZygoteUnavailable("cannot reach the sandbox zygote")

    def close(self) -> None:
        with self._lock:
            if self._owner == os.getpid():
                self._close_locked()

    def _close_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # the zygote exits at end of stdin
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    serve(sys.argv[1])
