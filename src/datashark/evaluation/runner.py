"""Run evaluation tasks against a provider and judge the code it returns.

For each task: send the prompt (with the task's selection as Studio context) restricted to one
provider; if the provider asks clarifying questions, count it and answer each with its first
option, once; then compile every returned script with the Luau compiler and run them in the
sandbox (the task's setup builds the world first), followed by the task's behaviour check.
Scripts go where the plugin would put them: a Script under the task's selection when it has
one, otherwise where the provider said.

Failure reasons. When the flow answered with an error, the provider's last attempt outcome (the
flow validates before it answers): `no_code`, `compile`, `sandbox` (failed the flow's own
sandbox run), `no_match` (templates: nothing close enough), `provider_timeout`, `connect`,
`rate_limited`, `server_error`, `client_error`, `malformed`, `empty`, `provider_error`, or
`error` when no attempt says. Otherwise: `clarify` (questions again after answers),
`no_scripts`, `compile`, and our sandbox run's stages `run`, `check`, `timeout`, `memory`,
`crash`.

Not handled: pass@k for k > 1 (one sample per task), parallel runs (the machine has 2 cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from datashark.evaluation.client import GenerateClient
from datashark.evaluation.tasks import EvalTask

SUPPORT_NAME = "PlaceSupport"
# Gateway outcomes whose names would clash with the sandbox stages of our own run.
PROVIDER_REASONS = {"timeout": "provider_timeout", "error": "provider_error"}


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one task for one provider."""

    task_id: str
    category: str
    provider: str
    passed: bool
    reason: str | None  # None when passed
    detail: str
    latency_ms: float | None
    clarified: bool
    compiled: bool
    n_scripts: int
    served_by: str | None = None
    model: str | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def context_for(task: EvalTask) -> dict[str, Any] | None:
    """The Studio context the plugin would send: the task's selected instance."""
    if not task.selection:
        return None
    name = task.selection.rsplit(".", 1)[-1]
    return {
        "selection": [{"path": task.selection, "className": task.selection_class, "name": name}],
        "scripts": [],
    }


def sandbox_scripts(task: EvalTask, scripts: list[dict[str, Any]]) -> list[Any]:
    """The place's own support script, then the returned scripts placed as the plugin would."""
    from datashark.luau.sandbox import SandboxScript

    out = []
    if task.support.strip():
        out.append(SandboxScript(SUPPORT_NAME, "Script", "ServerScriptService", task.support))
    for index, s in enumerate(scripts):
        class_name = str(s.get("className") or "Script")
        parent = str(s.get("parent") or task.default_parent)
        if task.selection and class_name == "Script":
            parent = task.selection
        name = str(s.get("name") or f"Generated{index + 1}").replace(".", "_")
        out.append(SandboxScript(name, class_name, parent, str(s.get("source") or "")))
    return out


def judge(
    task: EvalTask, scripts: list[dict[str, Any]], timeout_s: float = 5.0
) -> tuple[str | None, str, bool]:
    """Compile and run `scripts` for `task`: (failure reason or None, detail, all compiled)."""
    from datashark.luau import compile_check
    from datashark.luau.sandbox import run_sandbox

    if not scripts:
        return "no_scripts", "the reply holds no scripts", False
    for s in scripts:
        result = compile_check(str(s.get("source") or ""), str(s.get("name") or "script"))
        if not result.ok:
            return "compile", result.error or "compile error", False
    outcome = run_sandbox(
        sandbox_scripts(task, scripts),
        check=task.check,
        timeout_s=timeout_s,
        setup=task.setup or None,
    )
    if outcome.ok:
        return None, "passed", True
    return outcome.stage, (outcome.error or "")[:500], True


def solution(task: EvalTask, which: str) -> list[dict[str, Any]]:
    """The task's known-good ("good") or known-bad ("bad") solution as a reply's scripts."""
    return [
        {
            "name": task.script_name,
            "className": task.class_name,
            "parent": task.default_parent,
            "source": task.good if which == "good" else task.bad,
        }
    ]


def _first_options(questions: Iterable[dict[str, Any]]) -> dict[str, str]:
    answers = {}
    for q in questions:
        options = q.get("options") or []
        answers[str(q.get("id"))] = str(options[0]) if options else "yes"
    return answers


def _provider_outcome(body: dict[str, Any], provider: str) -> str | None:
    """The last attempt outcome of `provider` in an error body (gateway FailureReason names)."""
    outcomes = [
        str(a.get("outcome"))
        for a in body.get("attempts") or []
        if isinstance(a, dict) and a.get("provider") == provider and a.get("outcome")
    ]
    if not outcomes:
        return None
    return PROVIDER_REASONS.get(outcomes[-1], outcomes[-1])


def _error_text(body: dict[str, Any], fallback: str) -> str:
    """The error message, with each attempt's detail (why the provider failed) when given."""
    err = body.get("error")
    text = str(err["message"]) if isinstance(err, dict) and err.get("message") else fallback
    details = [
        f"{a.get('provider')}: {a.get('detail')}"
        for a in body.get("attempts") or []
        if isinstance(a, dict) and a.get("detail")
    ]
    if details:
        text += " [" + "; ".join(details) + "]"
    return text[:500]


def evaluate_task(client: GenerateClient, provider: str, task: EvalTask) -> TaskResult:
    """Ask `provider` for `task` through `client` and judge the answer."""
    payload: dict[str, Any] = {"prompt": task.prompt, "providers": [provider]}
    context = context_for(task)
    if context:
        payload["context"] = context
    started = time.perf_counter()
    reply = client.generate(payload)
    clarified = False
    if reply.status_code == 200 and reply.body.get("status") == "clarify":
        clarified = True
        payload["answers"] = _first_options(reply.body.get("questions") or [])
        reply = client.generate(payload)
    latency_ms = round((time.perf_counter() - started) * 1000.0, 1)

    def result(reason: str | None, detail: str, compiled: bool, n: int) -> TaskResult:
        return TaskResult(
            task.id,
            task.category,
            provider,
            reason is None,
            reason,
            detail,
            latency_ms if reply.status_code else None,
            clarified,
            compiled,
            n,
            reply.body.get("provider"),
            reply.body.get("model"),
            bool(reply.body.get("cached")),
        )

    if reply.status_code != 200:
        text = reply.error or _error_text(reply.body, f"HTTP {reply.status_code}")
        outcome = _provider_outcome(reply.body, provider)
        # The flow validates before answering: output that did not compile or failed its sandbox
        # run comes back as an error whose attempt says why.
        return result(outcome or "error", text, outcome == "sandbox", 0)
    if reply.body.get("status") == "clarify":
        return result("clarify", "asked again after its questions were answered", False, 0)
    scripts = [s for s in reply.body.get("scripts") or [] if isinstance(s, dict)]
    reason, detail, compiled = judge(task, scripts)
    return result(reason, detail, compiled, len(scripts))


def run_suite(
    client: GenerateClient,
    providers: list[str],
    tasks: list[EvalTask],
    on_result: Callable[[TaskResult], None] | None = None,
) -> dict[str, list[TaskResult]]:
    """Every task for every provider, in order; `on_result` sees each result (progress bars)."""
    results: dict[str, list[TaskResult]] = {p: [] for p in providers}
    for provider in providers:
        for task in tasks:
            outcome = evaluate_task(client, provider, task)
            results[provider].append(outcome)
            if on_result is not None:
                on_result(outcome)
    return results
