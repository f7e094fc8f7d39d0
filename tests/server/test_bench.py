"""`datashark bench server --against llama.cpp` end to end on a tiny load: it starts our server
and llama-cpp-python's own server as child processes on the same model, measures both, prints a
table with ratios and writes JSON with the promised fields. The speed targets themselves are
benchmark results, never asserted here."""

from __future__ import annotations

import json

from datashark.server.bench import BenchConfig, run_bench


def test_bench_server_writes_json(tmp_path, smollm2_path, capsys) -> None:
    out = tmp_path / "bench.json"
    config = BenchConfig(
        model=str(smollm2_path),
        clients=2,
        requests=3,
        max_tokens=6,
        threads=2,
        against_llama_cpp=True,
    )
    report = run_bench(config, out)
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(report))
    phases = {(row["server"], row["phase"]): row for row in saved["rows"]}
    servers = ("datashark", "llama.cpp")
    assert set(phases) == {(s, p) for s in servers for p in ("single", "load")}
    for server in servers:
        load = phases[(server, "load")]
        assert load["requests"] == 3 and load["clients"] == 2 and load["errors"] == 0
        assert 3 <= load["completion_tokens"] <= 3 * 6
        assert load["tok_per_s"] > 0 and load["ttft_p50_ms"] <= load["ttft_p95_ms"]
        assert load["peak_rss_mib"] > 50  # the model's pages at least
    ratios = saved["ratios"]
    for name in (
        "datashark_load_vs_single_stream",
        "tok_per_s_vs_llama_cpp",
        "peak_rss_vs_llama_cpp",
    ):
        assert ratios[name] > 0
    printed = capsys.readouterr().out
    assert "tok/s" in printed and "TTFT p50 ms" in printed
