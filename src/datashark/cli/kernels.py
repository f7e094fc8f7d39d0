"""`datashark bench kernels`: quantized matvec/matmul speed on a model's tensors vs memory bandwidth.

The work is in `datashark.native.bench`; this module only parses arguments, prints and writes JSON.
"""

from __future__ import annotations

from pathlib import Path

import typer


def bench_kernels_cmd(
    model: str = typer.Option(
        "smollm2", "--model", help="Model name from the cache or a GGUF path."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Kernel threads (default: all cores)."
    ),
    prefill_t: int = typer.Option(
        64, "--prefill-t", help="Rows of activations for the matmul column."
    ),
    json_path: Path = typer.Option(
        Path("bench/results/kernels.json"), "--json", help="Write results as JSON here."
    ),
) -> None:
    """Time each weight type/shape at T=1 and T=prefill, one token of matvecs, and a plain read."""
    import json

    from datashark.native.bench import bench_kernels, format_table
    from datashark.registry import resolve_model

    result = bench_kernels(resolve_model(model), threads=threads, prefill_t=prefill_t)
    typer.echo(format_table(result))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"wrote {json_path}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("kernels")(bench_kernels_cmd)
