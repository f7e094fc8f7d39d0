"""`datashark bench engine`: load time, prefill and decode speed, peak memory; optionally side by
side with llama.cpp (llama-cpp-python, the `bench` extra) on the same file and thread count.

Every measurement runs in a child process of its own (`python -c ... _worker_main`), so peak RSS
is that engine's alone; rounds alternate the engines (A B, B A, ...) so drift on a shared machine
hits both alike, and the table shows medians over rounds. Both engines run the same
work: the first `--prompt-tokens` ids of a fixed text (each tokenized by the engine itself),
one prefill, then `--gen-tokens` greedy decode steps (arg-max of the logits, one token per
forward pass). It also measures what `import datashark.engine` adds to a bare Python process.

Prints a table (rich) and writes JSON (default bench/results/engine-<model>.json).
Does not handle: batched decode or sampling cost (the server's benchmark covers those).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ENGINES = ("datashark", "llama.cpp")
BENCH_TEXT = (
    "Roblox games are built from parts, scripts and services. A server script can listen for "
    "players joining, give each one a leaderstats folder with coins and level values, and save "
    "their progress with DataStoreService when they leave. Client scripts handle input, the "
    "camera and the user interface, and talk to the server through RemoteEvents that the "
    "server must validate, because a client can send anything. Here is a small example:\n\n"
    'local Players = game:GetService("Players")\n'
    'local ReplicatedStorage = game:GetService("ReplicatedStorage")\n\n'
    "Players.PlayerAdded:Connect(function(player)\n"
    '\tlocal stats = Instance.new("Folder")\n'
    '\tstats.Name = "leaderstats"\n'
    "\tstats.Parent = player\n"
    '\tlocal coins = Instance.new("IntValue")\n'
    '\tcoins.Name = "Coins"\n'
    "\tcoins.Value = 0\n"
    "\tcoins.Parent = stats\n"
    "end)\n\n"
    "A kill brick is a part whose Touched event finds a Humanoid in the touching model and "
    "sets its Health to zero. A door opens by tweening its CFrame, and a debounce table keyed "
    "by player stops one touch from firing many times. Modules return tables of functions; "
    "require them from other scripts to share code between the server and clients. "
) * 3


# ----------------------------------------------------------------------------- child processes
def _peak_rss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _run_datashark(path: str, threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    import numpy as np

    t0 = time.perf_counter()
    from datashark.engine import Model

    model = Model.load(path, threads=threads)
    ids = model.tokenizer.encode(BENCH_TEXT)[:n_prompt]  # add_bos as the file says
    load_s = time.perf_counter() - t0
    warm = model.new_sequence(32)  # warm-up: first touch of the weights' pages
    model.prefill(warm, ids[:16])
    warm.free()
    seq = model.new_sequence(len(ids) + n_gen + 1)
    t0 = time.perf_counter()
    logits = model.prefill(seq, ids)
    prefill_s = time.perf_counter() - t0
    out = []
    t0 = time.perf_counter()
    for _ in range(n_gen):
        tok = int(np.argmax(logits))
        out.append(tok)
        logits = model.decode([seq], [tok])[0]
    decode_s = time.perf_counter() - t0
    return {
        "load_s": load_s,
        "prompt_ids": ids,
        "prefill_s": prefill_s,
        "decode_s": decode_s,
        "generated": out,
    }


def _run_llamacpp(path: str, threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    import numpy as np

    t0 = time.perf_counter()
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=path,
        n_ctx=max(512, n_prompt + n_gen + 8),
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    ids = llm.tokenize(BENCH_TEXT.encode("utf-8"), add_bos=True, special=True)[:n_prompt]
    load_s = time.perf_counter() - t0
    n_vocab = llm.n_vocab()

    def last_logits() -> np.ndarray:
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(n_vocab,))

    llm.eval(ids[:16])  # warm-up, as for our engine
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    prefill_s = time.perf_counter() - t0
    out = []
    t0 = time.perf_counter()
    for _ in range(n_gen):
        tok = int(np.argmax(last_logits()))
        out.append(tok)
        llm.eval([tok])
    decode_s = time.perf_counter() - t0
    return {
        "load_s": load_s,
        "prompt_ids": list(ids),
        "prefill_s": prefill_s,
        "decode_s": decode_s,
        "generated": out,
    }


_RSS_CODE = (
    "import os{imports}\n"
    "with open('/proc/self/statm') as f:\n"
    "    print(int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20)\n"
)


def _import_rss_mb(imports: str, timeout_s: float) -> float:
    """Resident MiB of a fresh interpreter after `import os` plus `imports`."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CODE.format(imports=imports)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def measure_import_rss(timeout_s: float = 120.0) -> dict[str, float]:
    """RSS of bare Python and what `import datashark.engine` (and resolving Model) add."""
    bare = _import_rss_mb("", timeout_s)
    package = _import_rss_mb("; import datashark.engine", timeout_s)
    model = _import_rss_mb("; from datashark.engine import Model", timeout_s)
    return {
        "bare_python": bare,
        "import_datashark_engine": package - bare,
        "import_engine_model": model - bare,
    }


def _worker_main() -> None:
    """Entry of a child process: argv[1] is a JSON job; prints one JSON line."""
    job = json.loads(sys.argv[1])
    kind = job["kind"]
    if kind == "datashark":
        result = _run_datashark(job["path"], job["threads"], job["n_prompt"], job["n_gen"])
    elif kind == "llama.cpp":
        result = _run_llamacpp(job["path"], job["threads"], job["n_prompt"], job["n_gen"])
    else:
        raise SystemExit(f"unknown job {kind!r}")
    result["peak_rss_mb"] = _peak_rss_mb()
    print("BENCH-RESULT " + json.dumps(result), flush=True)


def _child(job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    code = "from datashark.cli.bench_engine import _worker_main; _worker_main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"{job['kind']} run failed ({proc.returncode}): " + " | ".join(tail))


# ----------------------------------------------------------------------------- the benchmark
def run_bench(
    model: str,
    against: str | None,
    threads: int,
    rounds: int,
    n_prompt: int,
    n_gen: int,
    timeout_s: float = 600.0,
    log: Any = print,
) -> dict[str, Any]:
    """Run the rounds and return the JSON-ready report."""
    from datashark.registry import resolve_model

    path = resolve_model(model, pull=True)
    engines = ["datashark"] + ([against] if against else [])
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for r in range(rounds):
        order = engines if r % 2 == 0 else engines[::-1]
        for engine in order:
            job = {
                "kind": engine,
                "path": str(path),
                "threads": threads,
                "n_prompt": n_prompt,
                "n_gen": n_gen,
            }
            res = _child(job, timeout_s)
            res["prefill_tok_s"] = len(res["prompt_ids"]) / res["prefill_s"]
            res["decode_tok_s"] = n_gen / res["decode_s"]
            runs[engine].append(res)
            log(
                f"round {r + 1}/{rounds} {engine}: load {res['load_s']:.2f}s, prefill "
                f"{res['prefill_tok_s']:.0f} tok/s, decode {res['decode_tok_s']:.1f} tok/s, "
                f"peak RSS {res['peak_rss_mb']:.0f} MiB"
            )
    summary = {
        e: {
            key: statistics.median(run[key] for run in runs[e])
            for key in ("load_s", "prefill_tok_s", "decode_tok_s", "peak_rss_mb")
        }
        for e in engines
    }
    report: dict[str, Any] = {
        "model": model,
        "path": str(path),
        "threads": threads,
        "rounds": rounds,
        "prompt_tokens": len(runs["datashark"][0]["prompt_ids"]),
        "gen_tokens": n_gen,
        "summary": summary,
        "runs": {
            e: [
                {k: v for k, v in run.items() if k not in ("prompt_ids", "generated")} for run in rs
            ]
            for e, rs in runs.items()
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if against:
        ours, ref = summary["datashark"], summary[against]
        report["ratios"] = {
            "load_s": ours["load_s"] / ref["load_s"],
            "prefill_tok_s": ours["prefill_tok_s"] / ref["prefill_tok_s"],
            "decode_tok_s": ours["decode_tok_s"] / ref["decode_tok_s"],
            "peak_rss_mb": ours["peak_rss_mb"] / ref["peak_rss_mb"],
        }
        a, b = runs["datashark"][0], runs[against][0]
        report["same_prompt_ids"] = a["prompt_ids"] == b["prompt_ids"]
        report["same_greedy_tokens"] = sum(
            1 for _ in _common_prefix(a["generated"], b["generated"])
        )
    report["import_rss_mb"] = measure_import_rss()
    return report


def _common_prefix(a: list[int], b: list[int]):
    for x, y in zip(a, b, strict=False):
        if x != y:
            return
        yield x


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    s = report["summary"]
    engines = list(s)
    table = Table(
        title=f"bench engine: {report['model']}",
        caption=f"{report['threads']} threads, {report['prompt_tokens']}-token prompt, "
        f"{report['gen_tokens']} decoded tokens, median of {report['rounds']} rounds",
    )
    table.add_column("metric")
    for e in engines:
        table.add_column(e, justify="right")
    if "ratios" in report:
        table.add_column("ratio (ours / llama.cpp)", justify="right")
    rows = [
        ("load (s)", "load_s", "{:.2f}"),
        ("prefill (tok/s)", "prefill_tok_s", "{:.0f}"),
        ("decode (tok/s)", "decode_tok_s", "{:.1f}"),
        ("peak RSS (MiB)", "peak_rss_mb", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(s[e][key]) for e in engines]
        if "ratios" in report:
            cells.append(f"{report['ratios'][key]:.2f}x")
        table.add_row(label, *cells)
    console = Console()
    console.print(table)
    imp = report["import_rss_mb"]
    console.print(
        f"import datashark.engine: +{imp['import_datashark_engine']:.1f} MiB RSS over bare Python "
        f"({imp['bare_python']:.1f} MiB); with `from datashark.engine import Model`: "
        f"+{imp['import_engine_model']:.1f} MiB"
    )
    if "same_prompt_ids" in report:
        console.print(
            f"same prompt ids: {report['same_prompt_ids']}; greedy tokens equal for the first "
            f"{report['same_greedy_tokens']} of {report['gen_tokens']}"
        )


def register(app: Any, groups: dict[str, Any]) -> None:
    import typer

    def bench_engine(
        model: str = typer.Option("smollm2", "--model", "-m", help="Cache name or GGUF path."),
        against: str | None = typer.Option(
            None, "--against", help="Also run this reference engine: llama.cpp."
        ),
        threads: int = typer.Option(2, "--threads", min=1, help="Threads for both engines."),
        rounds: int = typer.Option(3, "--rounds", min=1, help="Alternating rounds."),
        prompt_tokens: int = typer.Option(200, "--prompt-tokens", min=1, max=600),
        gen_tokens: int = typer.Option(128, "--gen-tokens", min=1, max=1024),
        json_out: Path | None = typer.Option(
            None, "--json", help="Output JSON (default bench/results/engine-<model>.json)."
        ),
    ) -> None:
        """Load time, prefill and decode tok/s, peak RSS (optionally vs llama.cpp)."""
        if against is not None and against not in ENGINES[1:]:
            typer.echo(f"error: --against must be one of {', '.join(ENGINES[1:])}", err=True)
            raise typer.Exit(2)
        from datashark.registry import ModelNotFoundError, PullError

        try:
            report = run_bench(
                model,
                against,
                threads,
                rounds,
                prompt_tokens,
                gen_tokens,
                log=lambda m: typer.echo(m, err=True),
            )
        except (ModelNotFoundError, PullError, RuntimeError, subprocess.TimeoutExpired) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        print_report(report)
        name = Path(model).stem if Path(model).suffix == ".gguf" else model
        out = json_out or Path("bench/results") / f"engine-{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")

    groups["bench"].command("engine")(bench_engine)
