"""The Luau evaluation suite: Roblox tasks with behaviour checks run in the sandbox, a runner
that asks a provider through `/api/generate`, and reports (Markdown, HTML, JSON).

`datashark eval luau` is the command; tests/evaluation proves every check passes on its
known-good solution and fails on its known-bad one.
"""

from datashark.evaluation.tasks import CATEGORIES, EvalTask, load_tasks, select_tasks

__all__ = ["CATEGORIES", "EvalTask", "load_tasks", "select_tasks"]
