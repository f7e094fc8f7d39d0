"""Template parameters read from the request: "a kill brick that does 25 damage" -> damage = 25.

Two general rules, conservative on purpose (a value is set only when the request states exactly
one; anything else keeps the template's default):

1. Cues. A template parameter may list request phrases that state its value (`cues` in the
   template's toml), with placeholders:
   - `{n}`: a number ("every {n} seconds", "for {n} seconds", "{n} studs", "adds {n}");
   - `{name}`: a Roblox name, either quoted (`"Levels"`, `'Coins'`) or a bare PascalCase word
     ("named {name}", "called {name}", "{name} IntValue", "DataStore named {name}");
     bare lower-case words are not names ("a leaderstats folder" names nothing);
   - no placeholder: a boolean phrase; the parameter becomes true when the phrase occurs
     ("full health").
   The cue's words match case-insensitively with any whitespace between them. String
   parameters take `{name}`, numeric ones `{n}`, booleans a bare phrase.
2. The parameter's own name (numeric parameters without a cue that matched): the name with
   underscores as spaces ("sprint speed", "heal amount") next to a number ("25 damage",
   "damage of 25", "damage: 25") or, failing that, within three words of one.

The values render the templates provider's answer (`Template.render`) and bind the behaviour
check that validates any provider's answer (`Template.check_for`), so a request for 25 damage is
neither answered nor judged with the default of 100.

Not handled: units ("2 minutes" for a parameter in seconds), words for numbers ("ten"),
derived values ("one turn every 2 s" for a parameter in degrees per second).
"""

from __future__ import annotations

import functools
import re
from typing import Any

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_GAP = r"(?:\W+\w+){0,3}?\W+"  # up to three words between the name and the number
# a quoted name, or a bare name that starts with a capital letter (PascalCase, Roblox style)
_NAME = r"(?:\"([^\"\n]{1,60})\"|'([^'\n]{1,60})'|\b([A-Z][A-Za-z0-9_]*)\b)"
_PLACEHOLDER = re.compile(r"\{(n|name)\}")


@functools.cache
def cue_pattern(cue: str) -> re.Pattern[str]:
    """The regular expression for a cue: its words case-insensitive, placeholders captured."""
    parts = []
    for i, piece in enumerate(_PLACEHOLDER.split(cue.strip())):
        if i % 2 == 1:
            parts.append(_NUMBER if piece == "n" else _NAME)
        elif piece:
            words = [re.escape(w) for w in piece.split()]
            text = r"\s+".join(words)
            if piece[:1].isspace():
                text = r"\s+" + text
            if piece[-1:].isspace():
                text += r"\s+"
            parts.append(f"(?i:{text})")
    body = "".join(parts)
    return re.compile(rf"(?<![\w.]){body}(?![\w])")


def _cue_values(cues: tuple[str, ...], prompt: str, kind: str) -> set[Any]:
    found: set[Any] = set()
    for cue in cues:
        has_n, has_name = "{n}" in cue, "{name}" in cue
        if (kind == "number") != has_n or (kind == "string") != has_name:
            continue
        for match in cue_pattern(cue).finditer(prompt):
            if kind == "bool":
                found.add(True)
            elif kind == "number":
                found.add(float(match.group(1)))
            else:
                found.add(next(g for g in match.groups() if g is not None))
    return found


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int | float):
        return "number"
    return "string" if isinstance(default, str) else ""


def _named_numbers(name: str, text: str) -> set[float]:
    name = re.escape(name.replace("_", " ").lower())
    found = set(re.findall(rf"(?<![\w.]){_NUMBER}\s+{name}\b", text))
    found |= set(re.findall(rf"\b{name}\s*(?:of|=|:|to|is|at)?\s*{_NUMBER}(?![\w.])", text))
    if not found:
        found = set(re.findall(rf"\b{name}{_GAP}{_NUMBER}(?![\w.])", text))
        found |= set(re.findall(rf"(?<![\w.]){_NUMBER}{_GAP}{name}\b", text))
    return {float(n) for n in found}


def infer_params(template: Any, prompt: str) -> dict[str, Any]:
    """Values for the template's parameters that the prompt states unambiguously."""
    values: dict[str, Any] = {}
    for param in getattr(template, "params", ()):
        default = param.default
        kind = _kind(default)
        if not kind:
            continue
        found = _cue_values(tuple(getattr(param, "cues", ()) or ()), prompt, kind)
        if not found and kind == "number":
            found = _named_numbers(param.name, prompt.lower())
        if len(found) != 1:
            continue
        value = found.pop()
        if kind == "number":
            value = int(value) if isinstance(default, int) and value.is_integer() else value
        values[param.name] = value
    return values
