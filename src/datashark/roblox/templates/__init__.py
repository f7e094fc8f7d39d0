"""Hand-written Roblox script templates with parameters and sandbox behaviour checks.

`load_templates()` reads the library (`library/<id>.luau` + `<id>.toml`); `search(prompt)`
ranks templates for a request with a confidence in [0, 1] (see `search.py`).
"""

from datashark.roblox.templates.search import CONFIDENCE_THRESHOLD, best_match, search
from datashark.roblox.templates.templates import (
    Template,
    TemplateError,
    TemplateParam,
    get_template,
    load_templates,
)

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "Template",
    "TemplateError",
    "TemplateParam",
    "best_match",
    "get_template",
    "load_templates",
    "search",
]
