"""Summaries and reports of an evaluation run: per provider pass@1, compile rate, clarification
rate, median latency and failures by reason; per category pass rates; as a Markdown table, a
standalone HTML page and JSON.

pass@1: share of tasks whose first answer passed the behaviour check. Compile rate: share of
tasks that got scripts which all compile. Clarification rate: share of tasks where the provider
asked questions first. Median latency: over tasks that got an HTTP answer, questions included.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from datashark.evaluation.runner import TaskResult
from datashark.evaluation.tasks import CATEGORIES


@dataclass(frozen=True)
class ProviderSummary:
    provider: str
    tasks: int
    passed: int
    pass_at_1: float
    compile_rate: float
    clarify_rate: float
    median_latency_ms: float | None
    failures: dict[str, int]
    by_category: dict[str, tuple[int, int]]  # category -> (passed, tasks)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["by_category"] = {
            k: {"passed": p, "tasks": n} for k, (p, n) in self.by_category.items()
        }
        return out


def summarize(provider: str, results: list[TaskResult]) -> ProviderSummary:
    n = len(results)
    passed = sum(r.passed for r in results)
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    failures = Counter(r.reason for r in results if r.reason)
    by_category: dict[str, tuple[int, int]] = {}
    for category in CATEGORIES:
        rows = [r for r in results if r.category == category]
        if rows:
            by_category[category] = (sum(r.passed for r in rows), len(rows))
    return ProviderSummary(
        provider=provider,
        tasks=n,
        passed=passed,
        pass_at_1=passed / n if n else 0.0,
        compile_rate=sum(r.compiled for r in results) / n if n else 0.0,
        clarify_rate=sum(r.clarified for r in results) / n if n else 0.0,
        median_latency_ms=round(statistics.median(latencies), 1) if latencies else None,
        failures=dict(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_category=by_category,
    )


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def _failures(f: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in f.items()) or "none"


def _latency(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:.0f} ms"


HEADER = ("provider", "tasks", "pass@1", "compile", "clarify", "median latency", "failures")


def rows(summaries: list[ProviderSummary]) -> list[tuple[str, ...]]:
    return [
        (
            s.provider,
            str(s.tasks),
            f"{_pct(s.pass_at_1)} ({s.passed}/{s.tasks})",
            _pct(s.compile_rate),
            _pct(s.clarify_rate),
            _latency(s.median_latency_ms),
            _failures(s.failures),
        )
        for s in summaries
    ]


def markdown(summaries: list[ProviderSummary]) -> str:
    """The summary table, then pass counts per category, in GitHub Markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(summaries)]
    categories = [c for c in CATEGORIES if any(c in s.by_category for s in summaries)]
    if categories:
        lines += ["", "| category | " + " | ".join(s.provider for s in summaries) + " |"]
        lines.append("|" + "---|" * (len(summaries) + 1))
        for c in categories:
            cells = []
            for s in summaries:
                p, n = s.by_category.get(c, (0, 0))
                cells.append(f"{p}/{n}" if n else "-")
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_json(
    summaries: list[ProviderSummary], results: dict[str, list[TaskResult]], meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "meta": meta,
        "summary": [s.as_dict() for s in summaries],
        "results": {p: [r.as_dict() for r in rs] for p, rs in results.items()},
    }


def to_html(
    summaries: list[ProviderSummary], results: dict[str, list[TaskResult]], meta: dict[str, Any]
) -> str:
    """A standalone page: the summary table and, per provider, every task with its outcome."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>DataShark Luau eval</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        ".pass{color:#070}.fail{color:#a00}code{font-size:90%}</style></head><body>",
        "<h1>DataShark Luau evaluation</h1>",
        f"<p>{esc(str(meta.get('command', '')))} &middot; {esc(str(meta.get('finished', '')))}</p>",
        "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in HEADER) + "</tr>",
    ]
    for r in rows(summaries):
        parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    parts.append("</table>")
    for provider, rs in results.items():
        parts.append(
            f"<h2>{esc(provider)}</h2><table><tr><th>task</th><th>category</th>"
            "<th>result</th><th>latency</th><th>detail</th></tr>"
        )
        for r in rs:
            cls, word = ("pass", "pass") if r.passed else ("fail", r.reason or "fail")
            parts.append(
                f"<tr><td>{esc(r.task_id)}</td><td>{esc(r.category)}</td>"
                f"<td class='{cls}'>{esc(word)}</td><td>{esc(_latency(r.latency_ms))}</td>"
                f"<td><code>{esc(r.detail)}</code></td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
