"""`datashark eval luau`: run the Luau evaluation suite against one provider or all of them and
print the results table (Markdown); optionally write JSON and HTML reports."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer


def eval_luau(
    provider: list[str] = typer.Option(
        [], "--provider", "-p", help="Provider to evaluate (repeat for several), e.g. templates."
    ),
    all_providers: bool = typer.Option(
        False, "--all", help="Evaluate every provider of the configured chain."
    ),
    tasks: str | None = typer.Option(
        None, "--tasks", help="Only tasks whose id or category contains one of these (comma list)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full results as JSON."),
    html_out: Path | None = typer.Option(None, "--html", help="Write an HTML report."),
    url: str | None = typer.Option(
        None, "--url", help="Evaluate through a running server (default: the flow in process)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="DATASHARK_API_KEY", help="Bearer key for --url."
    ),
    list_only: bool = typer.Option(False, "--list", help="List the selected tasks and exit."),
) -> None:
    """Evaluate providers on Roblox tasks: pass@1, compile rate, clarification rate, latency."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from datashark.evaluation.report import markdown, summarize, to_html, to_json
    from datashark.evaluation.runner import run_suite
    from datashark.evaluation.tasks import TaskFileError, load_tasks, select_tasks

    try:
        selected = select_tasks(load_tasks(), tasks)
    except TaskFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not selected:
        typer.echo(f"error: no task matches {tasks!r}", err=True)
        raise typer.Exit(2)
    if list_only:
        for t in selected:
            typer.echo(f"{t.id:32} {t.category:20} {t.prompt}")
        return
    if bool(provider) == all_providers:
        typer.echo("error: give --provider NAME (one or more) or --all", err=True)
        raise typer.Exit(2)

    if url:
        from datashark.evaluation.client import HttpClient

        client = HttpClient(url, api_key)
        if all_providers:
            typer.echo("error: --all needs the in-process flow (drop --url)", err=True)
            raise typer.Exit(2)
        providers = list(provider)
    else:
        from datashark.evaluation.client import FlowClient

        try:
            client = FlowClient(None if all_providers else list(provider))
        except Exception as exc:  # settings or provider construction errors, shown plainly
            typer.echo(f"error: cannot build the provider chain: {exc}", err=True)
            raise typer.Exit(2) from None
        providers = client.order() if all_providers else list(provider)

    started = time.time()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=None,
        transient=False,
    )
    try:
        with progress:
            bars = {p: progress.add_task(p, total=len(selected), last="") for p in providers}

            def step(result) -> None:
                mark = "pass" if result.passed else result.reason
                progress.update(bars[result.provider], advance=1, last=f"{result.task_id}: {mark}")

            results = run_suite(client, providers, selected, step)
    finally:
        client.close()

    summaries = [summarize(p, results[p]) for p in providers]
    table = markdown(summaries)
    typer.echo(table)
    meta = {
        "command": "datashark eval luau " + " ".join(sys.argv[3:]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tasks": [t.id for t in selected],
        "via": url or "in-process flow",
    }
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(to_json(summaries, results, meta), indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
    if html_out:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(to_html(summaries, results, meta))
        typer.echo(f"wrote {html_out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["eval"].command("luau")(eval_luau)
