"""Template parameters read from the request: "a kill brick that does 25 damage" -> damage = 25.

Conservative on purpose: only numeric parameters, only when the parameter's name (underscores
as spaces, e.g. "sprint speed", "heal amount") stands next to a number ("25 damage",
"damage of 25", "damage: 25") or, failing that, within three words of one, and only when exactly
one such number is found. Anything else keeps the template's default. The values
render the templates provider's answer (`Template.render`) and bind the behaviour check that
validates any provider's answer (`Template.check_for`), so a request for 25 damage is neither
answered nor judged with the default of 100.

Not handled: units ("2 minutes" for a parameter in seconds), words for numbers ("ten"), strings
and booleans.
"""

from __future__ import annotations

import re
from typing import Any

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_GAP = r"(?:\W+\w+){0,3}?\W+"  # up to three words between the name and the number


def infer_params(template: Any, prompt: str) -> dict[str, Any]:
    """Values for the template's numeric parameters that the prompt states unambiguously."""
    text = prompt.lower()
    values: dict[str, Any] = {}
    for param in getattr(template, "params", ()):
        default = param.default
        if isinstance(default, bool) or not isinstance(default, int | float):
            continue
        name = re.escape(param.name.replace("_", " ").lower())
        found = set(re.findall(rf"(?<![\w.]){_NUMBER}\s+{name}\b", text))
        found |= set(re.findall(rf"\b{name}\s*(?:of|=|:|to|is|at)?\s*{_NUMBER}(?![\w.])", text))
        if not found:
            found = set(re.findall(rf"\b{name}{_GAP}{_NUMBER}(?![\w.])", text))
            found |= set(re.findall(rf"(?<![\w.]){_NUMBER}{_GAP}{name}\b", text))
        if len(found) != 1:
            continue
        number = float(found.pop())
        values[param.name] = (
            int(number) if isinstance(default, int) and number.is_integer() else number
        )
    return values
