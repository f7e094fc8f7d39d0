"""Report numbers from task results: pass@1, compile rate, clarification rate, median latency,
failures by reason, per-category counts; the Markdown, HTML and JSON renderings agree."""

from __future__ import annotations

import json

from datashark.evaluation.report import markdown, summarize, to_html, to_json
from datashark.evaluation.runner import TaskResult


def result(task_id, category, passed, reason=None, latency=100.0, clarified=False, compiled=True):
    return TaskResult(
        task_id, category, "p", passed, reason, "", latency, clarified, compiled, 1, "p", "m"
    )


RESULTS = [
    result("a", "gui", True, latency=100.0),
    result("b", "gui", False, "check", latency=300.0, clarified=True),
    result("c", "game_loops", False, "compile", latency=200.0, compiled=False),
    result("d", "game_loops", False, "error", latency=None, compiled=False),
]


def test_summary_numbers():
    s = summarize("p", RESULTS)
    assert (s.tasks, s.passed) == (4, 1)
    assert s.pass_at_1 == 0.25
    assert s.compile_rate == 0.5
    assert s.clarify_rate == 0.25
    assert s.median_latency_ms == 200.0  # over the three answered tasks
    assert s.failures == {"check": 1, "compile": 1, "error": 1}
    assert s.by_category == {"gui": (1, 2), "game_loops": (0, 2)}


def test_markdown_json_and_html_agree():
    s = summarize("p", RESULTS)
    table = markdown([s])
    assert "| p | 4 | 25.0% (1/4) | 50.0% | 25.0% | 200 ms | check 1, compile 1, error 1 |" in table
    assert "| gui | 1/2 |" in table and "| game_loops | 0/2 |" in table
    data = to_json([s], {"p": RESULTS}, {"command": "x"})
    json.dumps(data)  # serialisable
    assert data["summary"][0]["pass_at_1"] == 0.25
    assert [r["task_id"] for r in data["results"]["p"]] == ["a", "b", "c", "d"]
    page = to_html([s], {"p": RESULTS}, {"command": "x"})
    assert page.startswith("<!doctype html>") and page.count("<tr>") == 2 + 1 + 4
    assert "25.0% (1/4)" in page


def test_empty_results_do_not_divide_by_zero():
    s = summarize("p", [])
    assert s.pass_at_1 == 0.0 and s.median_latency_ms is None and s.failures == {}
