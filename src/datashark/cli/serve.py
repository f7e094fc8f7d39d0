"""`datashark serve` (the OpenAI-compatible server with the Roblox /api) and `datashark bench
server` (throughput, time to first token and memory under concurrent clients, optionally
against llama-cpp-python's own server).

Flags override environment variables and `.env` (see `.env.example`); a flag left out keeps the
setting from there. The server's layer is imported inside the commands so `datashark --help`
stays light.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer


def configure_logging(level: str) -> None:
    """Plain lines for the server's own messages; the access logger's lines are already JSON."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    plain = logging.StreamHandler()
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    plain.addFilter(lambda record: record.name != "datashark.server.access")
    access = logging.StreamHandler()
    access.setFormatter(logging.Formatter("%(message)s"))
    access.addFilter(lambda record: record.name == "datashark.server.access")
    root.handlers[:] = [plain, access]


def serve(
    model: str | None = typer.Option(
        None, "--model", "-m", help="Registry name (smollm2, gemma3-270m) or GGUF path."
    ),
    host: str | None = typer.Option(None, "--host", help="Interface to bind (127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", "-p", help="TCP port (8000)."),
    threads: int | None = typer.Option(None, "--threads", "-t", help="Engine threads."),
    max_running: int | None = typer.Option(
        None, "--max-running", help="Sequences decoded together (8)."
    ),
    log_level: str | None = typer.Option(None, "--log-level", help="debug|info|warning|error."),
) -> None:
    """Serve a model over an OpenAI-compatible API (default: SmolLM2, pulled on first run)."""
    import uvicorn
    from pydantic import ValidationError

    from datashark.server.app import create_app
    from datashark.server.settings import ServerSettings

    flags = {
        "model": model,
        "host": host,
        "port": port,
        "threads": threads,
        "max_running": max_running,
        "log_level": log_level,
    }
    try:
        settings = ServerSettings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        typer.echo(f"error: invalid settings:\n{exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    app = create_app(settings)
    typer.echo(
        f"DataShark serving {settings.model} on http://{settings.host}:{settings.port} "
        f"(OpenAI base_url http://{settings.host}:{settings.port}/v1, docs at /docs)",
        err=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
    )


def bench_server(
    clients: int = typer.Option(8, "--clients", "-c", help="Concurrent streaming clients."),
    requests: int = typer.Option(16, "--requests", "-r", help="Requests in all (>= clients)."),
    max_tokens: int = typer.Option(128, "--max-tokens", help="Completion tokens per request."),
    model: str = typer.Option("smollm2", "--model", "-m", help="Registry name or GGUF path."),
    threads: int = typer.Option(2, "--threads", "-t", help="Threads for each server."),
    against: str | None = typer.Option(
        None, "--against", help="Also run a reference server: llama.cpp (llama-cpp-python)."
    ),
    single: bool = typer.Option(
        True, "--single/--no-single", help="Also measure one stream alone (for the ratio)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write results as JSON here."),
) -> None:
    """Aggregate completion tok/s, TTFT p50/p95 and peak server RSS under concurrent clients."""
    from datashark.server.bench import BenchConfig, run_bench

    if against not in (None, "llama.cpp"):
        typer.echo("error: --against supports only llama.cpp", err=True)
        raise typer.Exit(2)
    config = BenchConfig(
        model=model,
        clients=clients,
        requests=max(requests, clients),
        max_tokens=max_tokens,
        threads=threads,
        against_llama_cpp=against == "llama.cpp",
        single=single,
    )
    run_bench(config, json_out)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    app.command("serve")(serve)
    groups["bench"].command("server")(bench_server)
