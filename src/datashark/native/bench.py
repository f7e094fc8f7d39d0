"""Kernel micro-benchmark: matvec / matmul speed on a real model's tensors vs memory bandwidth.

For every group of weight matrices of one type and shape in a GGUF file it times `native.matmul`
with T = 1 (decode matvec) and T = `prefill_t` (prefill), and reports GB/s of weights read and
GMAC/s. It also times one "token": every matrix once, as a decode step reads them (the output
projection included; a tied embedding counts as the output), next to a plain read of the same
bytes by the same threads (`read_bytes`, the bandwidth roofline on this machine, now). Timings are
wall-clock medians, so they include the machine's noise; report the machine's load with them.

Run: `datashark bench kernels --model smollm2 --threads 2` or
`python -m datashark.native.bench --model smollm2`. Not handled: attention and the other
non-matmul steps (see `datashark bench engine` for whole-model decode speed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from datashark import native
from datashark.engine.gguf_file import GGUFFile
from datashark.engine.tensor import QTensor


def _median_time(fn: Callable[[], object], min_seconds: float, min_reps: int = 5) -> float:
    """Median wall time of fn() over at least min_reps calls and min_seconds in total."""
    fn()  # warm up: page the weights in, grow scratch buffers
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _matrices(f: GGUFFile) -> list[QTensor]:
    """The 2-D weight matrices a decode step multiplies by (token_embd only when it is the output)."""
    mats = [t for n, t in f.tensors.items() if len(t.shape) == 2 and n != "token_embd.weight"]
    if "output.weight" not in f.tensors and "token_embd.weight" in f.tensors:
        mats.append(f.tensors["token_embd.weight"])  # tied output projection
    return mats


def bench_kernels(
    path: str | Path,
    threads: int | None = None,
    prefill_t: int = 64,
    min_seconds: float = 0.3,
) -> dict[str, object]:
    """Run the benchmark on the GGUF at `path`; returns a JSON-ready dict (see module doc)."""
    f = GGUFFile.open(path)
    before = native.get_threads()
    native.set_threads(threads)
    try:
        mats = _matrices(f)
        rng = np.random.default_rng(0)
        xs = {
            c: rng.standard_normal((prefill_t, c)).astype(np.float32)
            for c in {m.cols for m in mats}
        }
        outs = {m.name: np.empty((prefill_t, m.rows), np.float32) for m in mats}
        token_bytes = sum(m.nbytes for m in mats)

        def token() -> None:
            for m in mats:
                native.matmul(m, xs[m.cols][:1], outs[m.name][:1])

        result: dict[str, object] = {
            "model": str(path),
            "threads": native.get_threads(),
            "native": native.available,
            "simd": native.simd_name(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "token_matrices": len(mats),
            "token_weight_bytes": token_bytes,
        }
        t_token = _median_time(token, min_seconds)
        result["token_matvec_ms"] = t_token * 1e3
        result["token_matvec_gb_s"] = token_bytes / t_token / 1e9
        if native._lib is not None:
            lib = native._lib
            t_read = _median_time(lambda: [lib.read_bytes(m.data) for m in mats], min_seconds)
            result["token_read_ms"] = t_read * 1e3
            result["read_gb_s"] = token_bytes / t_read / 1e9

        groups: dict[tuple[str, tuple[int, ...]], list[QTensor]] = {}
        for m in mats:
            groups.setdefault((m.qtype.name, m.shape), []).append(m)
        rows = []
        for (qname, shape), members in sorted(
            groups.items(), key=lambda kv: -sum(m.nbytes for m in kv[1])
        ):
            m = members[0]
            entry: dict[str, object] = {"type": qname, "shape": list(shape), "count": len(members)}
            for T in (1, prefill_t):
                x, out = xs[m.cols][:T], outs[m.name][:T]
                dt = _median_time(
                    lambda m=m, x=x, out=out: native.matmul(m, x, out), min_seconds / 4
                )
                entry[f"t{T}_us"] = dt * 1e6
                entry[f"t{T}_gb_s"] = m.nbytes / dt / 1e9
                entry[f"t{T}_gmac_s"] = m.rows * m.cols * T / dt / 1e9
            rows.append(entry)
        result["groups"] = rows
        return result
    finally:
        native.set_threads(before)


def format_table(result: dict[str, object]) -> str:
    """The result as a fixed-width text table."""
    pt = next((k[1:-3] for k in result["groups"][0] if k.endswith("_us") and k != "t1_us"), "?")  # type: ignore[index]
    lines = [
        f"model {result['model']}  threads {result['threads']}  simd {result['simd']}  "
        f"load {result['load_avg_1m']:.1f}",
        f"one token of matvecs: {result['token_matrices']} matrices, "
        f"{result['token_weight_bytes'] / 1e6:.1f} MB in {result['token_matvec_ms']:.2f} ms "
        f"= {result['token_matvec_gb_s']:.1f} GB/s",
    ]
    if "read_gb_s" in result:
        lines.append(
            f"plain read of the same bytes: {result['token_read_ms']:.2f} ms = {result['read_gb_s']:.1f} GB/s"
        )
    lines.append(
        f"{'type':6} {'shape':>14} {'n':>3} {'T=1 us':>9} {'GB/s':>6} {'GMAC/s':>7} "
        f"{'T=' + pt + ' us':>10} {'GMAC/s':>7}"
    )
    for g in result["groups"]:  # type: ignore[union-attr]
        lines.append(
            f"{g['type']:6} {str(tuple(g['shape'])):>14} {g['count']:>3} {g['t1_us']:>9.1f} "
            f"{g['t1_gb_s']:>6.1f} {g['t1_gmac_s']:>7.1f} {g[f't{pt}_us']:>10.1f} {g[f't{pt}_gmac_s']:>7.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="cache name or GGUF path")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=Path("bench/results/kernels.json"))
    args = parser.parse_args(argv)
    from datashark.registry import resolve_model

    result = bench_kernels(resolve_model(args.model), threads=args.threads)
    print(format_table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
