"""Training commands: `data build`, `train`, `export`, `eval lm`, `bench train`, `models import`.

Every command imports `datashark.train` (and with it torch) inside its function body, so
`datashark --help` and the serving commands never load torch. See docs/training.md.
"""

from __future__ import annotations

import os
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
) -> None:
    """Build the Luau corpus: fetch, extract, dedup, compile-check, split, write a manifest."""
    from datashark.train.corpus import BuildOptions, build

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
        )
    )
    st = manifest["stages"]
    typer.echo(f"corpus written to {out}")
    for name, s in st.items():
        typer.echo(f"  {name:<22} {s['files']:>6} files {s['bytes'] / 1e6:>8.2f} MB")
    for name, s in manifest["splits"].items():
        typer.echo(f"  split {name:<16} {s['files']:>6} files {s['bytes'] / 1e6:>8.2f} MB")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["data"].command("build")(data_build)
    _ = os  # keep the import for the commands added below
