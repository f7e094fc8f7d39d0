"""`datashark bench gateway`: the gateway's added latency, failover time and load on /api/generate.

Prints a table and writes JSON (`--json`, default bench/results/gateway.json). Targets from
issue 5: added latency p50 < 2 ms, failover from a refused provider < 50 ms, 200 concurrent
/api/generate on the templates provider with 0 errors.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import typer

TARGETS = {"added_p50_ms": 2.0, "failover_p50_ms": 50.0, "load_errors": 0}


def bench_gateway(
    requests: int = typer.Option(500, "--requests", "-n", help="Calls per side for added latency."),
    failover_n: int = typer.Option(100, "--failover-requests", help="Calls for failover timing."),
    concurrent: int = typer.Option(
        200, "--concurrent", "-c", help="Concurrent /api/generate calls."
    ),
    json_out: Path = typer.Option(
        Path("bench/results/gateway.json"), "--json", help="Write results as JSON here."
    ),
) -> None:
    """Added latency (p50, p95) over a direct call, failover time, concurrent load (errors)."""
    from rich.console import Console
    from rich.table import Table

    from datashark.gateway.bench import run_gateway_bench
    from datashark.gateway.settings import GatewaySettings
    from datashark.roblox.api import build_flow
    from datashark.roblox.bench import run_load_bench
    from datashark.server.app import create_app
    from datashark.server.settings import ServerSettings

    console = Console()
    console.print(
        f"gateway: {requests} direct + {requests} gateway calls to a loopback upstream ..."
    )
    gateway = run_gateway_bench(requests, failover_n)
    console.print(f"load: {concurrent} concurrent POST /api/generate (templates provider) ...")
    settings = GatewaySettings(providers="templates", cache_ttl_s=0.0)
    app = create_app(ServerSettings(model="smollm2", api_key=None))
    app.state.roblox_flow = build_flow(settings)
    load = run_load_bench(app, concurrent)

    added = gateway["added_latency_ms"]
    fo = gateway["failover_ms"]
    table = Table(title="datashark bench gateway")
    for column in ("measure", "p50", "p95", "target"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    d, g = gateway["direct"], gateway["gateway"]
    table.add_row("direct call to upstream (ms)", f"{d['p50_ms']:.3f}", f"{d['p95_ms']:.3f}", "")
    table.add_row("through the gateway (ms)", f"{g['p50_ms']:.3f}", f"{g['p95_ms']:.3f}", "")
    table.add_row("added latency (ms)", f"{added['p50']:.3f}", f"{added['p95']:.3f}", "p50 < 2")
    closed, opened = fo["breaker_closed"], fo["breaker_open"]
    table.add_row(
        "failover, refused provider (ms)",
        f"{closed['p50_ms']:.2f}",
        f"{closed['p95_ms']:.2f}",
        "< 50",
    )
    table.add_row(
        "failover, breaker open (ms)", f"{opened['p50_ms']:.2f}", f"{opened['p95_ms']:.2f}", ""
    )
    table.add_row(
        f"{concurrent} concurrent /api/generate (ms)", f"{load['p50_ms']:.1f}", f"{load['p95_ms']:.1f}",
        f"errors {load['errors']} (0)",
    )  # fmt: skip
    console.print(table)
    console.print(
        f"load: {load['requests_per_s']} req/s, wall {load['wall_s']} s, errors {load['errors']}"
    )
    result = {
        "benchmark": "gateway",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "targets": TARGETS,
        "met": {
            "added_p50": added["p50"] < TARGETS["added_p50_ms"],
            "failover_p50": closed["p50_ms"] < TARGETS["failover_p50_ms"],
            "load_errors": load["errors"] == TARGETS["load_errors"],
        },
        **gateway,
        "load": load,
    }
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {json_out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("gateway")(bench_gateway)
