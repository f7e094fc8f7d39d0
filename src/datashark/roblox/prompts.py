"""The prompt for script generation: a Roblox system prompt, the Studio context, examples, the task.

The system prompt fixes the answer format that `extract.py` parses (one fenced `lua` block per
script, headed `-- Name (ClassName) in Parent.Path`). The closest templates go in as worked
examples (their source, shortened); the selected scripts' source goes in so that an edit request
returns the new version of that script; answers to clarifying questions are folded into the task.

Not handled: token budgeting beyond fixed character caps (long sources are cut, and marked so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datashark.gateway.provider import Message
from datashark.roblox.protocol import Context, SelectedScript

MAX_EXAMPLE_CHARS = 2500
MAX_SCRIPT_CHARS = 12000

SYSTEM_PROMPT = """You are DataShark, an expert Roblox engineer writing Luau for Roblox Studio.
Write complete, working scripts that follow Roblox conventions:
- Get services with game:GetService("..."); use task.wait/task.spawn/task.delay, never wait/spawn.
- Server logic goes in a Script; input, camera and GUI code in a LocalScript; shared code in a ModuleScript.
- Use :Connect for events, check that a touching part belongs to a character with a Humanoid, and
  guard against nil with FindFirstChild / FindFirstChildOfClass.
- No require of asset ids, no HttpService calls, no loadstring.
Answer format: one fenced ```lua block per script. The first line of each block is a comment
naming the script: -- ScriptName (Script|LocalScript|ModuleScript) in Parent.Path
After the code, explain in one to three sentences what it does and where it goes."""


def task_text(prompt: str, answers: Mapping[str, str] | None) -> str:
    """The request with clarifying answers folded in (what retrieval and the model both read)."""
    text = prompt.strip()
    if answers:
        details = "; ".join(
            f"{key.replace('_', ' ')}: {value.strip()}" for key, value in sorted(answers.items())
        )
        text = f"{text}\nDetails: {details}"
    return text  # details_of() in flow.py gives the same lines one by one


def _cut(source: str, limit: int) -> str:
    return source if len(source) <= limit else source[:limit] + "\n-- (cut)\n"


def context_text(context: Context | None) -> str:
    if context is None or not (context.selection or context.scripts):
        return "Nothing is selected in Studio; new scripts go in their conventional service."
    lines = []
    if context.selection:
        lines.append("Selected in Studio:")
        lines += [f"- {item.path} ({item.className})" for item in context.selection[:20]]
    return "\n".join(lines)


def example_text(template: Any) -> str:
    title = getattr(template, "title", getattr(template, "id", "example"))
    cls = getattr(template, "class_name", "Script")
    parent = getattr(template, "parent", "ServerScriptService")
    source = _cut(str(getattr(template, "source", "")), MAX_EXAMPLE_CHARS)
    return f"Example: {title} ({cls} in {parent})\n```lua\n{source.rstrip()}\n```"


def edit_text(script: SelectedScript) -> str:
    note = " (the editor cut it)" if script.truncated else ""
    return (
        f"Change this existing {script.className} {script.path}{note}. Return its complete new "
        f"version as one block headed -- {script.script_name} ({script.className}) in "
        f"{script.parent_path}\n```lua\n{_cut(script.source, MAX_SCRIPT_CHARS).rstrip()}\n```"
    )


def build_messages(
    task: str,
    context: Context | None,
    examples: Sequence[Any],
    edit: SelectedScript | None,
) -> tuple[Message, ...]:
    parts = [context_text(context)]
    if context:
        others = [s for s in context.scripts if s is not edit]
        for script in others[:3]:
            parts.append(
                f"Selected script {script.path} ({script.className}), for reference:\n```lua\n"
                f"{_cut(script.source, MAX_EXAMPLE_CHARS).rstrip()}\n```"
            )
    if examples:
        parts.append("Closest examples from DataShark's library (adapt, do not copy blindly):")
        parts += [example_text(t) for t in examples]
    if edit is not None:
        parts.append(edit_text(edit))
    parts.append(f"Task: {task}")
    return (Message("system", SYSTEM_PROMPT), Message("user", "\n\n".join(parts)))
