"""Training commands: `data build`, `train`, `export`, `eval lm`, `bench train`, `models import`.

Every command imports `datashark.train` (and with it torch) inside its function body, so
`datashark --help` and the serving commands never load torch. See docs/training.md.
"""

from __future__ import annotations

from pathlib import Path

import typer


def data_build(
    out: Path = typer.Option(Path("data/luau"), "--out", help="Output folder of the corpus."),
    from_dirs: list[Path] = typer.Option(  # noqa: B006
        [], "--from", help="Local folder of Luau files to add (repeatable)."
    ),
    npm: bool | None = typer.Option(
        None,
        "--npm/--no-npm",
        help="Fetch the npm packages of luau_packages.toml (default: on unless --from is given).",
    ),
    packages: Path | None = typer.Option(None, help="Another package list (TOML)."),
    near_threshold: float = typer.Option(0.8, help="Jaccard similarity that counts as duplicate."),
    split: str = typer.Option("90,5,5", help="train,val,test percentages (by file hash)."),
) -> None:
    """Build the Luau corpus: fetch, extract, dedup, compile-check, split, write a manifest."""
    from datashark.train.corpus import BuildOptions, build

    try:
        percent = tuple(int(x) for x in split.split(","))
    except ValueError:
        percent = ()
    if len(percent) != 3 or min(percent) < 0 or sum(percent) == 0:
        raise typer.BadParameter("--split must be three non-negative integers, e.g. 90,5,5")
    use_npm = npm if npm is not None else not from_dirs
    if not use_npm and not from_dirs:
        raise typer.BadParameter("nothing to build from: give --from DIR or leave npm on")
    manifest = build(
        BuildOptions(
            out=out,
            local_dirs=tuple(from_dirs),
            use_npm=use_npm,
            packages_file=packages,
            near_threshold=near_threshold,
            split_percent=percent,  # type: ignore[arg-type]
        )
    )
    st = manifest["stages"]
    typer.echo(f"corpus written to {out}")
    for name, s in st.items():
        typer.echo(f"  {name:<22} {s['files']:>6} files {s['bytes'] / 1e6:>8.2f} MB")
    for name, s in manifest["splits"].items():
        typer.echo(f"  split {name:<16} {s['files']:>6} files {s['bytes'] / 1e6:>8.2f} MB")


def parse_duration(text: str) -> float:
    """Seconds in "90", "90s", "45m", "1.5h"."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"not a duration: {text!r} (use e.g. 90s, 60m, 1h)") from None


def train(
    preset: str = typer.Option("tiny", help="Model/optimiser preset: tiny, beta-10m, beta-50m."),
    data: Path = typer.Option(..., help="Corpus folder written by `datashark data build`."),
    init: str | None = typer.Option(
        None, help="Start from a model: a llama GGUF file or name (smollm2) or a .pt checkpoint."
    ),
    max_steps: int | None = typer.Option(None, help="Stop after this many optimizer steps."),
    time: str | None = typer.Option(None, "--time", help="Stop after this long, e.g. 60m."),
    out: Path = typer.Option(Path("runs/latest"), help="Run folder (checkpoints, metrics)."),
    resume: Path | None = typer.Option(None, help="Checkpoint to resume exactly (last.pt)."),
    batch_size: int | None = typer.Option(None, help="Global batch (sequences per step)."),
    grad_accum: int | None = typer.Option(None, help="Micro-steps per optimizer step."),
    lr: float | None = typer.Option(None, help="Peak learning rate."),
    min_lr: float | None = typer.Option(None, help="Final learning rate of the cosine."),
    warmup_steps: int | None = typer.Option(None, help="Linear warmup steps."),
    eval_every: int | None = typer.Option(None, help="Evaluate every N steps."),
    eval_batches: int | None = typer.Option(None, help="Micro-batches per evaluation."),
    patience: int | None = typer.Option(None, help="Evaluations without improvement to stop."),
    seed: int | None = typer.Option(None, help="Random seed."),
    tokenizer: str | None = typer.Option(None, help="bpe (byte-level BPE) or char (bytes)."),
    vocab_size: int | None = typer.Option(None, help="BPE vocabulary size."),
    checkpoint_every: int | None = typer.Option(None, help="Also save ckpt-N.pt every N steps."),
    dropout: float | None = typer.Option(None, help="Dropout probability."),
    seq_len: int | None = typer.Option(None, help="Training window (default: model context)."),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
    compile: bool | None = typer.Option(None, "--compile/--no-compile", help="torch.compile."),
    threads: int | None = typer.Option(None, help="torch CPU threads (default: all cores)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Train a model on a Luau corpus (runs under torchrun for DDP)."""
    import torch

    from datashark.train.ddp import DistEnv
    from datashark.train.trainer import RunOptions, build_run

    if threads:
        torch.set_num_threads(threads)
    named = {
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "lr": lr,
        "min_lr": min_lr,
        "warmup_steps": warmup_steps,
        "eval_every": eval_every,
        "eval_batches": eval_batches,
        "patience": patience,
        "seed": seed,
        "tokenizer": tokenizer,
        "vocab_size": vocab_size,
        "checkpoint_every": checkpoint_every,
    }
    overrides = {k: v for k, v in named.items() if v is not None}
    model_overrides = {"dropout": dropout} if dropout is not None else {}
    opts = RunOptions(
        data=data,
        out=out,
        max_steps=max_steps,
        time_s=parse_duration(time) if time else None,
        seq_len=seq_len,
        resume=resume,
        progress=progress,
        compile=compile,
    )
    dist = DistEnv.from_env(device)
    try:
        trainer = build_run(preset, opts, overrides, model_overrides, init=init, dist=dist)
        if dist.is_main:
            n = trainer.raw_model.num_params()
            typer.echo(
                f"preset {preset}: {n / 1e6:.2f}M parameters, vocab {trainer.tok.vocab_size}, "
                f"{len(trainer.train_data):,} train tokens, {len(trainer.val_data):,} val tokens, "
                f"device {dist.device}, {dist.world_size} process(es)"
            )
        summary = trainer.fit()
    finally:
        dist.close()
    if dist.is_main:
        typer.echo(
            f"stopped ({summary['reason']}) at step {summary['step']} after "
            f"{summary['tokens']:,} tokens, {summary['elapsed']:.0f}s; best val loss "
            f"{summary['best_val']:.4f}; checkpoints in {out}"
        )


def export(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.pt) written by `datashark train`."),
    out: Path = typer.Option(..., "--out", help="GGUF file to write."),
    quant: str = typer.Option("f32", help="f32, f16, q8_0 or q4_0."),
    name: str = typer.Option("datashark-luau", help="general.name stored in the file."),
) -> None:
    """Export a checkpoint to a llama-architecture GGUF file."""
    from datashark.train.checkpoint import load_model
    from datashark.train.export import QUANT_RULES, export_gguf

    if quant not in QUANT_RULES:
        raise typer.BadParameter(f"--quant must be one of {', '.join(QUANT_RULES)}")
    try:
        model, tok, _ = load_model(checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    path = export_gguf(model, tok, out, quant=quant, name=name)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {quant})")


def eval_lm(
    model: str = typer.Option(..., help="GGUF file, cached model name, or a .pt checkpoint."),
    data: Path = typer.Option(..., help="Corpus folder written by `datashark data build`."),
    split: str = typer.Option("test", help="train, val or test."),
    samples: int = typer.Option(20, help="Sampled generations to compile-check."),
    max_new_tokens: int = typer.Option(256, help="Token limit per sample."),
    max_bytes: int | None = typer.Option(None, help="Score only the first N bytes of files."),
    seed: int = typer.Option(0, help="Sampling seed."),
    temperature: float = typer.Option(0.8, min=0.0, help="Sampling temperature (0 = greedy)."),
    top_k: int = typer.Option(40, min=0, help="Sample among the k best tokens (0 = all)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """Bits per byte on held-out Luau vs xz -9e, and the compile rate of samples."""
    import json

    from datashark.train.evaluate import eval_lm as run

    if split not in ("train", "val", "test"):
        raise typer.BadParameter("--split must be train, val or test")
    r = run(model, data, split, samples, max_new_tokens, max_bytes, seed, temperature, top_k)
    typer.echo(
        f"model {r.model} on {split}: {r.files} files, {r.bytes:,} bytes, {r.tokens:,} tokens"
    )
    typer.echo(f"{'metric':<28}{'value':>10}")
    typer.echo(f"{'bits per byte (model)':<28}{r.bpb:>10.4f}")
    typer.echo(f"{'bits per byte (xz -9e)':<28}{r.xz_bpb:>10.4f}")
    typer.echo(f"{'nats per token':<28}{r.nll_per_token:>10.4f}")
    typer.echo(
        f"{'samples compiling':<28}{r.compiled:>7}/{r.samples}"
        f"  (temperature {r.temperature:g}, top-k {r.top_k})"
    )
    typer.echo(f"{'real text, same budget':<28}{r.reference_compiled:>7}/{r.samples}")
    typer.echo(f"{'samples ending with EOS':<28}{r.ended:>7}/{r.samples}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(r.to_dict(), indent=2) + "\n")


def bench_train(
    preset: str = typer.Option("beta-10m", help="Model preset."),
    data: Path = typer.Option(..., help="Corpus folder."),
    steps: int = typer.Option(5, help="Optimizer steps per round."),
    rounds: int = typer.Option(3, help="Rounds (bare and trainer alternate)."),
    batch_size: int | None = typer.Option(None, help="Sequences per step (default: preset)."),
    out: Path = typer.Option(Path("out/bench-train"), help="Folder for bench_train.json."),
    threads: int | None = typer.Option(None, help="torch CPU threads."),
) -> None:
    """Trainer throughput vs a bare PyTorch loop, same model and batch, same run."""
    import torch

    from datashark.train.bench import bench_train as run

    if threads:
        torch.set_num_threads(threads)
    r = run(preset, data, out, steps=steps, rounds=rounds, batch_size=batch_size)
    typer.echo(
        f"preset {r.preset}, batch {r.batch_size} x {r.seq_len} tokens, "
        f"{r.rounds} rounds x {r.steps_per_round} steps (median)"
    )
    typer.echo(f"{'loop':<12}{'tokens/s':>12}")
    typer.echo(f"{'bare':<12}{r.bare_tok_s:>12,.0f}")
    typer.echo(f"{'trainer':<12}{r.trainer_tok_s:>12,.0f}")
    typer.echo(f"{'ratio':<12}{r.ratio:>12.3f}   (target >= 0.95)")
    typer.echo(f"wrote {out / 'bench_train.json'}")


def models_import(
    file: Path = typer.Argument(..., help="GGUF file (e.g. from `datashark export`)."),
    name: str = typer.Option(..., "--name", help="Name to serve it under."),
) -> None:
    """Copy a GGUF file into the model cache so `serve --model NAME` finds it."""
    from datashark.registry import import_model

    try:
        path = import_model(file, name)
    except (LookupError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"imported {file} as {name!r}: {path}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["data"].command("build")(data_build)
    app.command("train")(train)
    app.command("export")(export)
    groups["eval"].command("lm")(eval_lm)
    groups["bench"].command("train")(bench_train)
    groups["models"].command("import")(models_import)
