"""The generation prompt: system rules and answer format, Studio context, examples, the task."""

from __future__ import annotations

from datashark.roblox.prompts import SYSTEM_PROMPT, build_messages, task_text
from datashark.roblox.protocol import Context
from datashark.roblox.templates import get_template


def test_prompt_carries_context_examples_and_answers() -> None:
    context = Context(
        selection=[{"path": "Workspace.Lava", "className": "Part"}],
        scripts=[
            {"path": "ServerScriptService.Old", "className": "Script", "source": "print('old')"}
        ],
    )
    task = task_text("make it kill players", {"damage": "all of it"})
    system, user = build_messages(task, context, [get_template("kill_brick")], None)
    assert system.role == "system" and system.content == SYSTEM_PROMPT
    assert "-- ScriptName (Script|LocalScript|ModuleScript) in Parent.Path" in SYSTEM_PROMPT
    assert "- Workspace.Lava (Part)" in user.content
    assert "print('old')" in user.content  # selected scripts are shown for reference
    assert "Example: Kill brick (Script in Workspace.KillBrick)" in user.content
    assert get_template("kill_brick").source.strip().splitlines()[0] in user.content
    assert user.content.endswith("Task: make it kill players\nDetails: damage: all of it")


def test_no_selection_says_so() -> None:
    _, user = build_messages("make a kill brick", None, [], None)
    assert "Nothing is selected" in user.content and "Example" not in user.content
