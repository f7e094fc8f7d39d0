"""Task files are validated on load: a malformed task names the file, the task and the problem."""

from __future__ import annotations

import pytest

from datashark.evaluation.tasks import TaskFileError, _parse, select_tasks

GOOD = """
[[task]]
id = "a-task"
prompt = "do a thing"
check = "return true"
good = "print(1)"
bad = "print(2)"
"""


def test_parses_a_minimal_task():
    (task,) = _parse("gui", GOOD, "gui.toml")
    assert task.id == "a-task" and task.category == "gui" and task.class_name == "Script"
    assert task.default_parent == "ServerScriptService"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('check = "return true"\n', ""), "missing check"),
        (GOOD.replace('id = "a-task"', 'id = "A Task"'), "kebab-case"),
        (GOOD + 'colour = "red"\n', "unknown keys"),
        (GOOD.replace('bad = "print(2)"', 'bad = "print(1)"'), "the same"),
        (GOOD + 'class_name = "Part"\n', "class_name"),
        ("[[task]\n", "not valid TOML"),
    ],
)
def test_malformed_tasks_are_rejected_with_the_reason(text, message):
    with pytest.raises(TaskFileError, match=message) as info:
        _parse("gui", text, "gui.toml")
    assert "gui.toml" in str(info.value)


def test_select_by_id_or_category(tasks):
    assert [t.id for t in select_tasks(tasks, "kill-brick")] == ["kill-brick"]
    gui = select_tasks(tasks, "gui")
    assert gui and all(t.category == "gui" for t in gui)
    both = select_tasks(tasks, "kill-brick, gui")
    assert len(both) == len(gui) + 1
    assert select_tasks(tasks, None) == list(tasks)
    assert select_tasks(tasks, "no-such-task") == []
