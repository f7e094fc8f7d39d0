"""Run Roblox scripts in a Luau sandbox with a fake Roblox API, in a child process.

`run_sandbox(scripts, check)` runs the request in a child process: on POSIX a child forked from
a warm zygote (`datashark.luau.zygote`, started on first use, ~50 ms per run), elsewhere a fresh
`python -m datashark.luau.runner` (~0.4 s). The child loads the scripts into a fresh pluau VM
(memory limit, instruction-budget interrupt) next to a Roblox API written in Luau
(`roblox_api/*.luau`), starts them like a Roblox server would, lets them settle, then runs the
optional `check`. The parent kills the child when it runs past its time limit, so an infinite
loop, a memory bomb or a crash of the VM never harms the calling process (and pluau, which
holds the GIL while Luau runs, never blocks it).

What scripts see
- A world like Studio's Baseplate template: Workspace with Camera, Terrain, Baseplate and a
  SpawnLocation at the origin (characters spawn 3 studs above it).
- `game`, `workspace`, `script`, `Instance.new`, services via `game:GetService` (Players,
  Workspace, ReplicatedStorage, ServerScriptService, ServerStorage, StarterGui, StarterPlayer,
  StarterPack, TweenService, RunService, Lighting, DataStoreService, UserInputService,
  ContextActionService, Debris, HttpService (JSON only), CollectionService, SoundService,
  TeleportService, BadgeService, MarketplaceService, Teams, Chat, TextService, PhysicsService,
  PathfindingService, MessagingService, ProximityPromptService, ...), the value types (Vector3,
  Vector2, CFrame, Color3, BrickColor, UDim, UDim2, TweenInfo, NumberRange, NumberSequence,
  ColorSequence, Ray, RaycastParams, OverlapParams, Random, DateTime) and Enum.
- A VIRTUAL clock: `task.wait(3)`, `wait`, `task.delay`, `Debris`, tweens, `os.clock()`,
  `tick()` and `os.time()` advance with simulated time only, so `while true do task.wait(1) end`
  loops cost no real time and simply stop when the run ends.
- Not reachable: io, loadstring/load, getfenv/setfenv, debug (beyond traceback), the network,
  os beyond time/clock/date/difftime. `require` accepts only ModuleScript instances given to the
  sandbox (the Roblox meaning of require); anything else is an error.

How scripts run
- `Script`s start when they are under Workspace or ServerScriptService. A missing parent path
  is created: under Workspace as an anchored Part (so `script.Parent.Touched` works), under
  StarterGui as a ScreenGui, under StarterPack as a Tool, elsewhere as a Folder.
- `LocalScript`s need a client: when any LocalScript is given, a local player "Player1" joins
  after the server scripts started (like Play Solo): `Players.LocalPlayer` exists, scripts in
  StarterPlayerScripts, StarterCharacterScripts and StarterGui are copied into the player and
  run.
- `ModuleScript`s run when required.
- Uncaught errors in any script thread fail the run (stage "run") with the Roblox-style message
  "<Path.To.Script>:<line>: <message>".

Check helpers (available to `check` and `setup` code, besides all the globals above)
- `advance(seconds)`: let simulated time pass (threads, frames, tweens run); `clock()`;
  `waitUntil(predicate, timeout?, step?)` advances until predicate() holds (true) or not (false).
- `spawnPlayer(name) -> player, character`; `removePlayer(player)`; `respawn(player)`;
  `localPlayer()`; `humanoidOf(player|character)`; `rootOf(player|character)`;
  `moveTo(player|character, Vector3)`; `chat(player, message)` (fires Player.Chatted).
- `find("Workspace.Door")`; `findScript(name)`; `findPart(name)`; `findScriptPart(name)` (the
  part a script named `name` sits in, else a part with that name, else the first part holding
  any script); `makePart({Name=..., Position=..., Size=...})` (anchored, in Workspace).
- `touch(part, character|part)` / `untouch(...)` fire Touched / TouchEnded (with the
  character's LeftFoot); `click(guiButton)` fires MouseButton1Click and Activated;
  `clickDetector(partOrDetector, player)` fires ClickDetector.MouseClick;
  `triggerPrompt(partOrPrompt, player)` fires ProximityPrompt.Triggered (after HoldDuration);
  `pressKey(Enum.KeyCode.X)`, `releaseKey(...)`, `tapKey(...)` fire UserInputService input
  events and ContextActionService actions; `jumpRequest()`; `setState(humanoid, state)`.
- `fireServer(remote, player, ...)`, `invokeServer(remoteFunction, player, ...)`,
  `fireClient(remote, ...)`, `clientEvents(remote)` (recorded FireClient/FireAllClients).
- `dataStore(name) -> {key = value}`, `setDataStore(name, key, value)`, `dataStoreCalls()`,
  `teleports()`, `badges()`, `purchases()`, `setOwnsGamePass(userId, passId)`,
  `purchaseProduct(player, productId)`, `shutdown()` (players leave, BindToClose runs).
- `logs()`, `printed(text)`, `scriptErrors()`, `near(a, b, eps)`, `assertEq(a, b, msg)`,
  `assertNear(a, b, eps, msg)`.
A check returns true, or fails by erroring or returning `false, "message"`.

Does not handle: physics (no gravity, collisions or velocities acting; Touched fires only from
helpers), rendering, real HTTP, MemoryStoreService, parallel Luau (Actors run serially).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from datashark.luau.runner import READY
from datashark.luau.zygote import Zygote, ZygoteUnavailable

Stage = str  # "compile" | "run" | "check" | "timeout" | "memory" | "crash"
SCRIPT_CLASSES = ("Script", "LocalScript", "ModuleScript")
STARTUP_GRACE_S = 15.0  # starting Python and importing, on a busy machine
KILL_FACTOR, KILL_MARGIN_S = 1.5, 1.0  # wall-clock kill after READY: timeout_s * 1.5 + 1 s
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
USE_ZYGOTE = os.name == "posix"  # fork from a warm zygote; else one interpreter per run
MAX_SCRIPTS = 32
MAX_TIMEOUT_S = 120.0
MIN_MEMORY_MB, MAX_MEMORY_MB = 8, 2048  # the fake API itself takes ~2.7 MB of it
MAX_SOURCE_CHARS = 200_000


@dataclass(frozen=True)
class SandboxScript:
    """A script to place in the fake game: `parent_path` like "Workspace.KillBrick"."""

    name: str
    class_name: str = "Script"
    parent_path: str = "ServerScriptService"
    source: str = ""


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of a sandbox run.

    `stage` is where it stopped: "compile", "run", "check", "timeout", "memory" or "crash"; on
    success it is "check" when a check ran, else "run". `line`/`script` locate the error when
    it names a place; `log` holds print/warn/error output.
    """

    ok: bool
    stage: Stage
    error: str | None = None
    log: tuple[str, ...] = field(default_factory=tuple)
    line: int | None = None
    script: str | None = None
    elapsed_ms: float = 0.0
    virtual_s: float | None = None


def _validate(scripts: list[SandboxScript]) -> str | None:
    if len(scripts) > MAX_SCRIPTS:
        return f"too many scripts ({len(scripts)} > {MAX_SCRIPTS})"
    for s in scripts:
        if not isinstance(s, SandboxScript):
            return f"scripts must be SandboxScript objects, got {type(s).__name__}"
        if s.class_name not in SCRIPT_CLASSES:
            return f"script {s.name!r}: class_name must be one of {', '.join(SCRIPT_CLASSES)}"
        if not s.name or "." in s.name:
            return f"script name {s.name!r} must be non-empty and contain no '.'"
        if not isinstance(s.source, str) or len(s.source) > MAX_SOURCE_CHARS:
            return f"script {s.name!r}: source must be a string of at most {MAX_SOURCE_CHARS}"
    return None


def run_sandbox(
    scripts: list[SandboxScript],
    check: str | None = None,
    timeout_s: float = 2.0,
    memory_mb: int = 64,
    setup: str | None = None,
) -> SandboxResult:
    """Run `scripts` (then `check`) in a child process; never raises for bad scripts.

    Bad scripts (unknown class, empty or dotted name, oversized source) give a result with
    stage "compile"; out-of-range `timeout_s`/`memory_mb` are caller bugs and raise ValueError.

    `timeout_s` bounds the Luau run in real seconds (simulated time is free); `memory_mb` is
    the VM's memory limit. `setup` is optional Luau run before the scripts are placed, with the
    check helpers, to build the world the scripts expect.
    """
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s must be in (0, {MAX_TIMEOUT_S}], got {timeout_s}")
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise ValueError(
            f"memory_mb must be in [{MIN_MEMORY_MB}, {MAX_MEMORY_MB}], got {memory_mb}"
        )
    started = time.monotonic()
    problem = _validate(scripts)
    if problem is not None:
        return SandboxResult(False, "compile", problem)
    request = {
        "scripts": [
            {
                "name": s.name,
                "class_name": s.class_name,
                "parent_path": s.parent_path,
                "source": s.source,
            }
            for s in scripts
        ],
        "check": check,
        "setup": setup,
        "timeout_s": float(timeout_s),
        "memory_mb": int(memory_mb),
    }
    status, data = _run_child(request, timeout_s)
    elapsed = _ms(started)
    if status == "timeout":
        return SandboxResult(
            False,
            "timeout",
            f"time limit of {timeout_s:g} s exceeded (sandbox process killed)",
            elapsed_ms=elapsed,
        )
    if status == "crash" or not isinstance(data, dict):
        return SandboxResult(
            False, "crash", f"sandbox process died: {data or 'no result'}", elapsed_ms=elapsed
        )
    return SandboxResult(
        ok=bool(data.get("ok")),
        stage=str(data.get("stage")),
        error=data.get("error"),
        log=tuple(str(x) for x in data.get("log") or ()),
        line=data.get("line"),
        script=data.get("script"),
        elapsed_ms=elapsed,
        virtual_s=data.get("virtual_s"),
    )


def _run_child(request: dict, timeout_s: float) -> tuple[str, Any]:
    """("done", result) | ("timeout", None) | ("crash", detail), via the zygote when possible."""
    run_s = timeout_s * KILL_FACTOR + KILL_MARGIN_S
    if USE_ZYGOTE:
        try:
            return _ZYGOTE.run(request, STARTUP_GRACE_S, run_s)
        except ZygoteUnavailable:
            pass  # fall back to one interpreter per run
    return _run_subprocess(request, timeout_s)


def _run_subprocess(request: dict, timeout_s: float) -> tuple[str, Any]:
    """One `python -m datashark.luau.runner` per run (Windows, or when the zygote is down)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "datashark.luau.runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )
    try:
        out, err, finished = _exchange(proc, json.dumps(request).encode(), timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not finished:
        return "timeout", None
    _, _, body = out.partition(READY.encode())
    try:
        return "done", json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        return "crash", f"exit code {proc.returncode}: {' | '.join(tail)}"


def _exchange(
    proc: subprocess.Popen, request: bytes, timeout_s: float
) -> tuple[bytes, bytes, bool]:
    """Send the request, collect stdout/stderr; kill the child when it overruns.

    The child prints READY when its imports are done; until then it gets STARTUP_GRACE_S, after
    that timeout_s * KILL_FACTOR + KILL_MARGIN_S (its own instruction budget normally stops it
    at about timeout_s and reports; this is for code stuck inside one long C call).
    Returns (stdout, stderr, finished).
    """
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(request)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    chunks = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    open_fds = set(chunks)
    deadline = time.monotonic() + STARTUP_GRACE_S
    ready = False
    with selectors.DefaultSelector() as selector:
        for stream in (proc.stdout, proc.stderr):
            selector.register(stream, selectors.EVENT_READ)
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return (
                    bytes(chunks[proc.stdout.fileno()]),
                    bytes(chunks[proc.stderr.fileno()]),
                    False,
                )
            for key, _ in selector.select(remaining):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    open_fds.discard(key.fd)
                    continue
                buffer = chunks[key.fd]
                if len(buffer) < MAX_OUTPUT_BYTES:
                    buffer.extend(data)
                if not ready and key.fd == proc.stdout.fileno() and READY.encode() in buffer:
                    ready = True
                    deadline = time.monotonic() + timeout_s * KILL_FACTOR + KILL_MARGIN_S
    return bytes(chunks[proc.stdout.fileno()]), bytes(chunks[proc.stderr.fileno()]), True


_ZYGOTE = Zygote(STARTUP_GRACE_S)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
