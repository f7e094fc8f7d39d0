"""The Luau evaluation suite's tasks: a user prompt, the place it runs in, a behaviour check, and
a known-good and a known-bad solution that prove the check can pass and can fail.

Tasks live in `suite/<category>.toml`, one `[[task]]` table each:

    [[task]]
    id = "kill-brick"                      # unique, kebab-case
    prompt = "Make a kill brick ..."        # what the user types in the plugin
    selection = "Workspace.KillBrick"       # optional: the selected instance (created by setup)
    setup = '''...'''                       # optional Luau: builds the place before the scripts run
    support = '''...'''                     # optional: a server Script the place already has
    check = '''...'''                       # Luau: returns true, or errors saying what is wrong
    good = '''...'''                        # a script that passes the check
    bad = '''...'''                         # a plausible script that fails it
    class_name = "Script"                   # class of the good/bad solutions (default Script)
    script_name = "Solution"                # their script's name (a module's name matters)

Categories (the file names): parts_physics, players_characters, gui, data_persistence,
tweening_effects, remote_events, game_loops, module_patterns.

Not handled: tasks that need several returned scripts to cooperate in a fixed layout beyond
"each script goes under the selection, else where the provider put it".
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

CATEGORIES = (
    "parts_physics",
    "players_characters",
    "gui",
    "data_persistence",
    "tweening_effects",
    "remote_events",
    "game_loops",
    "module_patterns",
)
SCRIPT_CLASSES = ("Script", "LocalScript", "ModuleScript")
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class TaskFileError(ValueError):
    """A task file is malformed: names the file, the task and what is wrong."""


@dataclass(frozen=True)
class EvalTask:
    """One evaluation task (see the module docstring for the fields)."""

    id: str
    category: str
    prompt: str
    check: str
    good: str
    bad: str
    setup: str = ""
    support: str = ""  # source of a Script already in the place (ServerScriptService.PlaceSupport)
    selection: str | None = None
    class_name: str = "Script"
    selection_class: str = "Part"
    script_name: str = "Solution"  # name of the good/bad solution's script (modules need theirs)

    @property
    def default_parent(self) -> str:
        """Where this task's own solutions go: the selection, else the conventional service."""
        if self.selection:
            return self.selection
        return {
            "Script": "ServerScriptService",
            "LocalScript": "StarterPlayer.StarterPlayerScripts",
            "ModuleScript": "ReplicatedStorage",
        }[self.class_name]


_REQUIRED = ("id", "prompt", "check", "good", "bad")
_OPTIONAL = ("setup", "support", "selection", "class_name", "selection_class", "script_name")


def _parse(category: str, text: str, origin: str) -> list[EvalTask]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaskFileError(f"{origin}: not valid TOML: {exc}") from None
    tasks = []
    for index, raw in enumerate(data.get("task", [])):
        where = f"{origin} task #{index + 1} ({raw.get('id', '?')})"
        missing = [k for k in _REQUIRED if not str(raw.get(k, "")).strip()]
        if missing:
            raise TaskFileError(f"{where}: missing {', '.join(missing)}")
        unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
        if unknown:
            raise TaskFileError(f"{where}: unknown keys {sorted(unknown)}")
        if not _ID_RE.match(raw["id"]):
            raise TaskFileError(f"{where}: id must be kebab-case")
        if raw.get("class_name", "Script") not in SCRIPT_CLASSES:
            raise TaskFileError(f"{where}: class_name must be one of {SCRIPT_CLASSES}")
        if raw["good"].strip() == raw["bad"].strip():
            raise TaskFileError(f"{where}: good and bad solutions are the same")
        tasks.append(EvalTask(category=category, **{k: raw[k] for k in raw}))
    return tasks


@functools.cache
def load_tasks() -> tuple[EvalTask, ...]:
    """Every task of the suite, by category then file order. Raises TaskFileError."""
    folder = resources.files("datashark.evaluation") / "suite"
    tasks: list[EvalTask] = []
    for category in CATEGORIES:
        entry = folder / f"{category}.toml"
        if not entry.is_file():
            raise TaskFileError(f"missing task file {category}.toml")
        tasks.extend(_parse(category, entry.read_text(encoding="utf-8"), f"{category}.toml"))
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TaskFileError(f"duplicate task ids: {duplicates}")
    return tuple(tasks)


def select_tasks(tasks: tuple[EvalTask, ...], pattern: str | None) -> list[EvalTask]:
    """Tasks whose id or category contains any comma-separated part of `pattern` (all if None)."""
    if not pattern:
        return list(tasks)
    parts = [p.strip().lower() for p in pattern.split(",") if p.strip()]
    return [t for t in tasks if any(p in t.id or p in t.category for p in parts)]
