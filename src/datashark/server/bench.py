"""`datashark bench server`: our server under concurrent streaming clients, optionally beside
llama-cpp-python's own server (`python -m llama_cpp.server`) on the same model file, the same
load and the same thread count, in the same run.

Each server runs as a child process on a free loopback port. The load is C streaming chat
clients sending R requests in all (greedy, fixed prompt, `max_tokens` each). Measured:
- aggregate completion tok/s = completion tokens of all requests / wall time of the phase;
- time to first token (first content chunk) p50/p95;
- peak RSS of the server process tree (psutil, sampled every 20 ms);
- a single-stream phase first (one client, 2 requests) for the "C streams vs 1" ratio.
Completion tokens come from `usage` of the last chunk (`stream_options.include_usage`), or, when
a server does not send it, the count of content chunks.

Not handled: other reference servers, prompt-length sweeps, remote servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROMPT = (
    "Write a long, detailed story about a robot who learns to build houses in a small village. "
    "Describe every day of its first month."
)


@dataclass(frozen=True)
class BenchConfig:
    model: str = "smollm2"
    clients: int = 8
    requests: int = 16
    max_tokens: int = 128
    threads: int = 2
    against_llama_cpp: bool = False
    single: bool = True
    prompt: str = PROMPT


@dataclass
class RequestResult:
    ttft_s: float
    total_s: float
    completion_tokens: int


@dataclass
class PhaseResult:
    server: str
    phase: str  # "single" (one stream) or "load" (all clients)
    clients: int
    requests: int
    completion_tokens: int
    wall_s: float
    tok_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    errors: int
    results: list[RequestResult] = field(default_factory=list, repr=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class RssSampler:
    """Peak RSS of a process and its children, sampled in a thread."""

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        import psutil

        total = 0
        try:
            total = self.proc.memory_info().rss
            for child in self.proc.children(recursive=True):
                total += child.memory_info().rss
        except psutil.Error:
            pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class ServerProcess:
    """A server in a child process; `kind` is "datashark" or "llama.cpp"."""

    def __init__(self, kind: str, model_path: Path, threads: int, clients: int) -> None:
        self.kind = kind
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if kind == "datashark":
            cmd = [sys.executable, "-m", "datashark.cli", "serve", "--model", str(model_path)]
            cmd += ["--port", str(self.port), "--threads", str(threads)]
            cmd += ["--max-running", str(max(clients, 1)), "--log-level", "warning"]
            self.ready_path = "/health"
        else:
            cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path)]
            cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(threads)]
            cmd += [
                "--n_threads_batch",
                str(threads),
                "--model_alias",
                "bench",
                # its default cancels the running stream whenever another request arrives
                "--interrupt_requests",
                "False",
                "--verbose",
                "False",
            ]
            self.ready_path = "/v1/models"
        env = {k: v for k, v in os.environ.items() if k != "DATASHARK_API_KEY"}
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"{self.kind} server exited: {err[-2000:]}")
            try:
                if httpx.get(self.base + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} server not ready after {timeout_s:.0f} s")

    def model_id(self) -> str:
        import httpx

        return httpx.get(self.base + "/v1/models", timeout=10).json()["data"][0]["id"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _one_request(client: Any, url: str, body: dict[str, Any]) -> RequestResult:
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    async with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            payload = json.loads(line[6:])
            if payload.get("usage"):
                usage_tokens = payload["usage"].get("completion_tokens")
            for choice in payload.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    ended = time.perf_counter()
    tokens = usage_tokens if usage_tokens is not None else chunks
    return RequestResult((first or ended) - started, ended - started, tokens)


async def _load(
    base: str, model_id: str, config: BenchConfig, clients: int, requests: int, phase: str
) -> PhaseResult:
    import httpx

    body = {
        "model": model_id,
        "messages": [{"role": "user", "content": config.prompt}],
        "max_tokens": config.max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    todo = asyncio.Queue()
    for _ in range(requests):
        todo.put_nowait(None)
    results: list[RequestResult] = []
    errors = 0

    async def worker(client: Any) -> None:
        nonlocal errors
        while not todo.empty():
            todo.get_nowait()
            try:
                results.append(await _one_request(client, base + "/v1/chat/completions", body))
            except (RuntimeError, httpx.HTTPError):
                errors += 1

    timeout = httpx.Timeout(600.0, connect=10.0)
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - started
    tokens = sum(r.completion_tokens for r in results)
    ttfts = sorted(r.ttft_s * 1000 for r in results)
    return PhaseResult(
        server="",
        phase=phase,
        clients=clients,
        requests=requests,
        completion_tokens=tokens,
        wall_s=wall,
        tok_per_s=tokens / wall if wall > 0 else 0.0,
        ttft_p50_ms=_percentile(ttfts, 50),
        ttft_p95_ms=_percentile(ttfts, 95),
        errors=errors,
        results=results,
    )


def bench_one(kind: str, model_path: Path, config: BenchConfig) -> dict[str, Any]:
    """Start one server, warm it up, run the single-stream and the concurrent phase."""
    server = ServerProcess(kind, model_path, config.threads, config.clients)
    try:
        server.wait_ready()
        with RssSampler(server.proc.pid) as rss:
            model_id = server.model_id()
            warm = BenchConfig(**{**asdict(config), "max_tokens": 8})
            asyncio.run(_load(server.base, model_id, warm, 1, 1, "warmup"))
            phases: list[PhaseResult] = []
            if config.single:
                phases.append(asyncio.run(_load(server.base, model_id, config, 1, 2, "single")))
            phases.append(
                asyncio.run(
                    _load(server.base, model_id, config, config.clients, config.requests, "load")
                )
            )
        for phase in phases:
            phase.server = kind
        return {"server": kind, "peak_rss_mib": rss.peak / 2**20, "phases": phases}
    finally:
        server.stop()


def run_bench(config: BenchConfig, json_out: Path | None = None) -> dict[str, Any]:
    from datashark.registry import resolve_model

    model_path = resolve_model(config.model)
    servers = [bench_one("datashark", model_path, config)]
    if config.against_llama_cpp:
        servers.append(bench_one("llama.cpp", model_path, config))
    report = _report(config, model_path, servers)
    _print(report)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))
    return report


def _report(config: BenchConfig, model_path: Path, servers: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    by_server: dict[str, dict[str, Any]] = {}
    for s in servers:
        for phase in s["phases"]:
            row = {k: v for k, v in asdict(phase).items() if k != "results"}
            row["peak_rss_mib"] = round(s["peak_rss_mib"], 1)
            row["tok_per_s"] = round(row["tok_per_s"], 2)
            row["wall_s"] = round(row["wall_s"], 2)
            row["ttft_p50_ms"] = round(row["ttft_p50_ms"], 1)
            row["ttft_p95_ms"] = round(row["ttft_p95_ms"], 1)
            rows.append(row)
            by_server.setdefault(s["server"], {})[phase.phase] = row
    ratios: dict[str, float] = {}
    ours = by_server.get("datashark", {})
    if "single" in ours and ours["single"]["tok_per_s"] > 0:
        ratios["datashark_load_vs_single_stream"] = round(
            ours["load"]["tok_per_s"] / ours["single"]["tok_per_s"], 2
        )
    ref = by_server.get("llama.cpp")
    if ref:
        if ref["load"]["tok_per_s"] > 0:
            ratios["tok_per_s_vs_llama_cpp"] = round(
                ours["load"]["tok_per_s"] / ref["load"]["tok_per_s"], 2
            )
        if ref["load"]["peak_rss_mib"] > 0:
            ratios["peak_rss_vs_llama_cpp"] = round(
                ours["load"]["peak_rss_mib"] / ref["load"]["peak_rss_mib"], 2
            )
        if "single" in ref and ref["single"]["tok_per_s"] > 0:
            ratios["llama_cpp_load_vs_single_stream"] = round(
                ref["load"]["tok_per_s"] / ref["single"]["tok_per_s"], 2
            )
    return {
        "benchmark": "server",
        "model": str(model_path),
        "config": asdict(config),
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "ratios": ratios,
    }


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench server: {Path(report['model']).name}")
    columns = [
        ("server", "server"),
        ("phase", "phase"),
        ("clients", "clients"),
        ("requests", "requests"),
        ("completion_tokens", "tokens"),
        ("wall_s", "wall s"),
        ("tok_per_s", "tok/s"),
        ("ttft_p50_ms", "TTFT p50 ms"),
        ("ttft_p95_ms", "TTFT p95 ms"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("errors", "errors"),
    ]
    for _, title in columns:
        table.add_column(title, justify="right")
    for row in report["rows"]:
        table.add_row(*(str(row[key]) for key, _ in columns))
    console = Console(width=160)  # the whole table, also when piped to a file
    console.print(table)
    for name, value in report["ratios"].items():
        console.print(f"{name}: {value}x")
