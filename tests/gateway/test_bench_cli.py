"""`datashark bench gateway` end to end on a small load: it measures the gateway against a real
loopback upstream (direct vs through the gateway, failover from a refused port, concurrent
/api/generate on the templates provider), prints the table and writes JSON with every field.
The speed targets themselves are benchmark results, never asserted here."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from datashark.cli.app import build_app


def test_bench_gateway_prints_table_and_writes_json(tmp_path) -> None:
    out = tmp_path / "gateway.json"
    args = ["bench", "gateway", "-n", "40", "--failover-requests", "10", "-c", "20"]
    result = CliRunner().invoke(build_app(), [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "added latency (ms)" in result.output and "failover" in result.output
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "gateway"
    for side in ("direct", "gateway"):
        assert saved[side]["p50_ms"] > 0 and saved[side]["p50_ms"] <= saved[side]["p95_ms"]
    for state in ("breaker_closed", "breaker_open"):
        assert saved["failover_ms"][state]["p50_ms"] > 0
    assert saved["load"]["errors"] == 0 and saved["load"]["requests"] == 20
    assert set(saved["met"]) == {"added_p50", "failover_p50", "load_errors"}
