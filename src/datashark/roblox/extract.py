"""Parse a model's reply into Roblox scripts: code blocks -> {name, className, parent, source}.

Each fenced block (```lua, ```luau or bare ```) is one script. Its name and class come from, in
order: a header comment on its first line (`-- KillBrick (Script) in Workspace.KillBrick`, the
shape the system prompt asks for), a Rojo-style file name on the line before the block
(`KillBrick.server.lua`), the edited script, else a name derived from the request and a class
inferred from the code (LocalScript when it uses client-only APIs, ModuleScript when it returns a
value at the end). The parent is the header's, else the selected object, else the class's
conventional service. The text outside the blocks, shortened, is the explanation.

Not handled: several scripts in one block; non-Lua blocks (ignored); instances other than scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCRIPT_CLASSES = ("Script", "LocalScript", "ModuleScript")

CONVENTIONAL_PARENT = {
    "Script": "ServerScriptService",
    "LocalScript": "StarterPlayer.StarterPlayerScripts",
    "ModuleScript": "ReplicatedStorage",
}

_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_HEADER = re.compile(
    r"^\s*--\s*(?:name\s*:\s*)?([A-Za-z_][\w]*)\s*\(\s*(Script|LocalScript|ModuleScript)\s*\)"
    r"(?:\s*(?:in|parent\s*:)\s*([A-Za-z_][\w.]*))?",
    re.IGNORECASE,
)
_ROJO_NAME = re.compile(r"([A-Za-z_][\w]*)\.(server|client)?\.?(?:lua|luau)\b")
_LUA_LANGS = {"", "lua", "luau", "rbxlua", "roblox"}

# Client-only APIs: a script that touches them must be a LocalScript.
_CLIENT_ONLY = re.compile(
    r"\bLocalPlayer\b|UserInputService|ContextActionService|\bGetMouse\s*\(|CurrentCamera"
    r"|RenderStepped|BindToRenderStep|StarterGui\s*:\s*SetCore|\bPlayerGui\b.*LocalPlayer"
)
_RETURNS_VALUE = re.compile(r"\n\s*return\s+[A-Za-z_{][^\n]*\s*$")


@dataclass(frozen=True)
class ExtractedScript:
    name: str
    class_name: str
    parent: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "className": self.class_name,
            "parent": self.parent,
            "source": self.source,
        }


@dataclass(frozen=True)
class Extraction:
    scripts: tuple[ExtractedScript, ...]
    explanation: str


@dataclass(frozen=True)
class Target:
    """Where scripts go by default: the selected non-script object, or the script being edited."""

    parent: str | None = None
    edit_name: str | None = None
    edit_class: str | None = None
    edit_parent: str | None = None


def infer_class(source: str) -> str:
    if _CLIENT_ONLY.search(source):
        return "LocalScript"
    if _RETURNS_VALUE.search("\n" + source.rstrip()) and "script.Parent" not in source:
        return "ModuleScript"
    return "Script"


def name_from_task(task: str) -> str:
    """A PascalCase script name from the first few meaningful words of the request."""
    stop = {
        "a",
        "an",
        "the",
        "make",
        "create",
        "write",
        "add",
        "me",
        "please",
        "that",
        "which",
        "when",
        "to",
        "for",
        "with",
        "of",
        "it",
        "i",
        "want",
        "script",
        "build",
        "can",
        "you",
    }
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", task) if w.lower() not in stop]
    name = "".join(w[:1].upper() + w[1:].lower() for w in words[:3])
    return name or "GeneratedScript"


def _explanation(text: str) -> str:
    prose = _BLOCK.sub(" ", text)
    prose = re.sub(r"\s+", " ", prose).strip()
    return prose[:600]


def extract_scripts(text: str, task: str, target: Target) -> Extraction:
    """All Lua code blocks of `text` as scripts (empty when there are none)."""
    scripts: list[ExtractedScript] = []
    used: set[str] = set()
    for match in _BLOCK.finditer(text):
        lang, body = match.group(1).lower(), match.group(2)
        if lang not in _LUA_LANGS or not body.strip():
            continue
        source = body.rstrip() + "\n"
        name = class_name = parent = None
        header = _HEADER.match(source.split("\n", 1)[0])
        if header:
            name, parent = header.group(1), header.group(3)
            class_name = next(c for c in SCRIPT_CLASSES if c.lower() == header.group(2).lower())
        else:
            before = text[max(0, match.start() - 160) : match.start()].rsplit("\n", 2)
            rojo = _ROJO_NAME.search(" ".join(before[-2:]))
            if rojo:
                name = rojo.group(1)
                class_name = {"server": "Script", "client": "LocalScript"}.get(
                    rojo.group(2) or "", "ModuleScript"
                )
        if target.edit_name and not scripts:
            # The first script of an edit answer is the new version of the edited script.
            name, class_name, parent = target.edit_name, target.edit_class, target.edit_parent
        class_name = class_name or infer_class(source)
        name = name or name_from_task(task)
        if name in used:
            name = f"{name}{len(scripts) + 1}"
        used.add(name)
        parent = parent or target.parent or CONVENTIONAL_PARENT[class_name]
        scripts.append(ExtractedScript(name, class_name, parent, source))
    return Extraction(tuple(scripts), _explanation(text))
