"""Acceptance 1 (issue 7), the suite's own guarantee: every task's behaviour check passes on its
known-good solution and fails on its known-bad one, in the real sandbox. A check that cannot fail
(or cannot pass) is caught here."""

from __future__ import annotations

import pytest

from datashark.evaluation.runner import judge, solution
from datashark.evaluation.tasks import CATEGORIES, load_tasks

TASKS = load_tasks()


def test_suite_has_40_tasks_across_the_8_categories(tasks):
    assert len(tasks) >= 40
    for category in CATEGORIES:
        assert sum(t.category == category for t in tasks) >= 5, category
    assert len({t.id for t in tasks}) == len(tasks)
    assert len({t.prompt for t in tasks}) == len(tasks)


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_check_passes_on_good_and_fails_on_bad(task):
    reason, detail, compiled = judge(task, solution(task, "good"))
    assert reason is None, f"known-good solution failed ({reason}): {detail}"
    assert compiled

    reason, detail, compiled = judge(task, solution(task, "bad"))
    # The known-bad solution compiles and runs; it must fail on behaviour, not on a technicality.
    assert compiled, detail
    assert reason in ("check", "run"), f"known-bad solution: {reason}: {detail}"
