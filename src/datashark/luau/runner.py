"""Child-process side of the Luau sandbox: `python -m datashark.luau.runner`.

Reads one JSON request on stdin, runs it in a fresh pluau VM and writes one JSON result on
stdout. The parent (`datashark.luau.sandbox.run_sandbox`) kills this process when it runs past
its time limit, so nothing here has to be trusted to stop by itself; the in-VM limits below only
make the common cases report cleanly:

- memory: `Lua.set_memory_limit(memory_mb)`; Luau raises "not enough memory" (the VM is not
  reused after that).
- time: an instruction budget. Luau calls the VM's interrupt at every function call and loop
  iteration; ours is `functools.partial(next, itertools.repeat(Continue, n))`, a C-level
  callable (a Python callback costs ~2.5 µs per call and made Heartbeat-heavy runs 6x slower;
  this one ~0.4 µs). Once the n ticks are spent `next` returns its default (the Lua handle),
  which pluau rejects as a VmState, so every further interrupt raises inside the VM and the run
  unwinds. n = timeout_s * TICKS_PER_SECOND, measured on a 2-core x86-64 machine; the parent's
  wall-clock kill covers slower machines. A memory limit is always set (see FACTS.md on SIGILL).

Request: {"scripts": [{"name", "class_name", "parent_path", "source"}], "check": str | null,
"setup": str | null, "timeout_s": float, "memory_mb": int}.
Output: the line "ready" once the request is read and imports are done (the parent starts its
clock then), then the result {"ok", "stage", "error", "line", "script", "log", "virtual_s",
"elapsed_ms"}.

pluau prints "Lua VM is being closed" to stdout when a VM is dropped, so the result goes to a
private duplicate of stdout and fd 1 is pointed at stderr before any VM exists.

`datashark.luau.zygote` calls `run_request` in children it forks (the fast path on POSIX);
`python -m datashark.luau.runner` is the one-interpreter-per-run path (Windows, debugging).

Does not handle: a second request in the same process (every run gets a fresh process and VM).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import sys
import time
from importlib import resources
from typing import Any

from datashark.luau.compiler import compile_check
from datashark.luau.pluau_loader import load_pluau

API_FILES = (  # load order: each file adds to the shared table R
    "runtime",
    "vectors",
    "cframe",
    "colors",
    "datatypes",
    "enums",
    "instance",
    "instance_members",
    "parts",
    "classes",
    "gui",
    "humanoid",
    "players",
    "services",
    "tweens",
    "input",
    "json",
    "datastores",
    "recorded",
    "workspace",
    "env",
    "helpers",
    "driver",
)
_LOCATION_RE = re.compile(r"^([^:\n]+):(\d+): ")
TICKS_PER_SECOND = 2_000_000  # interrupt calls per second of busy Luau, measured here
READY = "ready\n"  # first line on stdout: imports done, the run starts


@functools.cache
def api_bytecode() -> tuple[tuple[str, bytes], ...]:
    """The fake Roblox API compiled to Luau bytecode (~75 ms), once per process.

    The zygote calls this before it forks, so its children start with the bytecode ready.
    """
    compiler = load_pluau().Compiler(1, 1, 0, 0)
    folder = resources.files("datashark.luau") / "roblox_api"
    chunks = []
    for name in API_FILES:
        source = (folder / f"{name}.luau").read_text(encoding="utf-8")
        chunks.append((name, bytes(compiler.compile(source))))
    return tuple(chunks)


def _locate(message: str | None) -> tuple[int | None, str | None]:
    if not message:
        return None, None
    match = _LOCATION_RE.match(message)
    if match is None:
        return None, None
    return int(match.group(2)), match.group(1)


def _result(stage: str, ok: bool, error: str | None, log: list[str], **extra: Any) -> dict:
    line, script = _locate(error)
    return {
        "ok": ok,
        "stage": stage,
        "error": error,
        "line": line,
        "script": script,
        "log": log,
        **extra,
    }


def _clean_error(text: str) -> str:
    """pluau wraps Luau errors as 'runtime error: <message>\\nstack traceback: ...'."""
    text = text.strip()
    for prefix in ("runtime error: ", "memory error: ", "syntax error: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.split("\nstack traceback:", 1)[0].strip()


def _out_of_memory(lua: Any, R: Any, text: str, memory_mb: int) -> bool:
    """After an out-of-memory error Luau may not even have room for the message ("<nil>")."""
    if "not enough memory" in text:
        return True
    try:
        if str(R.raw_get("fatal")) == "memory":
            return True
        return text == "<nil>" and lua.used_memory() > 0.5 * memory_mb * 1024 * 1024
    except BaseException:
        return text == "<nil>"


def run_request(request: dict) -> dict:
    """Run one sandbox request in this process and return the result dict."""
    started = time.monotonic()
    scripts = request.get("scripts") or []
    timeout_s = float(request.get("timeout_s", 2.0))
    memory_mb = int(request.get("memory_mb", 64))

    # Compile every script first: a syntax error never reaches the VM.
    for s in scripts:
        chunk = f"{s.get('parent_path') or 'ServerScriptService'}.{s['name']}"
        compiled = compile_check(s["source"], chunk)
        if not compiled.ok:
            return _result("compile", False, compiled.error, [])
    for label, code in (("setup", request.get("setup")), ("check", request.get("check"))):
        if code:
            compiled = compile_check(code, label)
            if not compiled.ok:
                return _result("check", False, f"{label} does not compile: {compiled.error}", [])

    pluau = load_pluau()
    lua = pluau.Lua()
    lua.set_memory_limit(memory_mb * 1024 * 1024)
    R = lua.create_table()
    for name, bytecode in api_bytecode():
        lua.load_chunk(bytecode, name=f"=roblox_api/{name}", is_binary_chunk=True)(R)
    R.get("buildGame")()
    R.get("buildGlobals")()

    budget = itertools.repeat(pluau.VmState.Continue, max(1, int(timeout_s * TICKS_PER_SECOND)))

    def timed_out() -> bool:
        return budget.__length_hint__() == 0

    def report() -> tuple[list[str], float | None]:
        try:
            lua.remove_interrupt()
            data = json.loads(str(R.get("report")()[0]))
            return list(data.get("log") or []), data.get("clock")
        except BaseException:  # the VM may be unusable after running out of memory
            return [], None

    stage = "run"
    try:
        lua.set_interrupt(functools.partial(next, budget))
        setup = request.get("setup")
        if setup:  # build the world first, so script parents resolve to what it made
            ok, *msg = R.get("runSetup")(setup)
            if not ok:
                log, clock = report()
                return _result("check", False, f"setup failed: {msg[0] if msg else ''}", log)
        for s in scripts:
            R.get("addScript")(
                s["name"], s.get("class_name") or "Script", s.get("parent_path") or "", s["source"]
            )
        R.get("start")()
        errors = R.get("errors")
        if len(errors) > 0:
            log, clock = report()
            return _result("run", False, str(errors.get(1)), log, virtual_s=clock)
        check = request.get("check")
        if check:
            stage = "check"
            ok, *msg = R.get("runCheck")(check)
            errors = R.get("errors")
            if len(errors) > 0:
                log, clock = report()
                return _result("run", False, str(errors.get(1)), log, virtual_s=clock)
            if not ok:
                log, clock = report()
                return _result("check", False, str(msg[0]) if msg else "check failed", log)
        log, clock = report()
        return _result(
            stage,
            True,
            None,
            log,
            virtual_s=clock,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        text = _clean_error(str(exc))
        if timed_out():
            return _result("timeout", False, f"time limit of {timeout_s:g} s exceeded", [])
        if _out_of_memory(lua, R, text, memory_mb) or str(exc).startswith("memory error"):
            return _result("memory", False, f"memory limit of {memory_mb} MB exceeded", [])
        log, _clock = report()
        return _result(stage, False, text, log)


def main() -> None:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed by pluau or the VM goes to stderr, not into our JSON
    try:
        request = json.loads(sys.stdin.read())
        out.write(READY)  # the parent's time limit starts now, after Python's start-up
        out.flush()
        result = run_request(request)
    except BaseException as exc:  # report, never hang the parent
        result = _result("crash", False, f"sandbox runner failed: {exc!r}", [])
    out.write(json.dumps(result))
    out.flush()
    os._exit(0)  # skip VM teardown: nothing left to clean up in a one-shot process


if __name__ == "__main__":
    main()
