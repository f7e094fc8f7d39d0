"""The template library: hand-written Roblox scripts with parameters and behaviour checks.

Each template is two files in `library/`: `<id>.luau` (the script, idiomatic Roblox Luau that
compiles as is) and `<id>.toml` (metadata):

    title, description, keywords = [...], class_name, parent  # where the script goes
    examples = [...]            # requests this template answers (used to test retrieval)
    check = '''...'''           # Luau behaviour check for datashark.luau.sandbox; it builds
                                # any world the script expects (WaitForChild resumes then)
    [params.<name>]             # default, description; the .luau marks the line `-- @param <name>`
                                # cues = ["every {n} seconds", ...]: phrases that state the
                                # value in a request (read by datashark.roblox.params)

`Template.render(values)` rewrites the marked lines' literal values; `Template.check` is the
check with `local PARAMS = {...}` bound to the defaults, `Template.check_for(values)` binds other
values, so checks follow the chosen parameters.

Does not handle: templates made of several scripts (each template is one script), per-template
licences (all are original to this project).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

LIBRARY = "library"
_PARAM_LINE = re.compile(
    r"^(?P<head>.*?=\s*)(?P<value>.+?)(?P<tail>,?\s*--\s*@param\s+(?P<name>\w+).*)$"
)


class TemplateError(ValueError):
    """A template file is malformed, or a parameter value is invalid."""


@dataclass(frozen=True)
class TemplateParam:
    """One tunable value of a template (number, string or boolean)."""

    name: str
    default: Any
    description: str = ""
    cues: tuple[str, ...] = ()  # request phrases with {n} (number) or {name}; see params.py


@dataclass(frozen=True)
class Template:
    """A hand-written script with metadata (see the module docstring)."""

    id: str
    title: str
    description: str
    keywords: tuple[str, ...]
    class_name: str
    parent: str
    source: str
    params: tuple[TemplateParam, ...]
    check: str  # ready to run: PARAMS bound to the defaults
    check_source: str = ""  # the check as written, using PARAMS
    examples: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """Script name: the id in PascalCase (kill_brick -> KillBrick)."""
        return "".join(part.capitalize() for part in self.id.split("_"))

    def values(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with `overrides`; unknown names or wrong types are errors."""
        values = {p.name: p.default for p in self.params}
        for key, value in (overrides or {}).items():
            if key not in values:
                raise TemplateError(f"template {self.id!r} has no parameter {key!r}")
            if not _same_kind(values[key], value):
                raise TemplateError(
                    f"parameter {key!r} of {self.id!r} must be {type(values[key]).__name__}"
                )
            values[key] = value
        return values

    def render(self, overrides: dict[str, Any] | None = None) -> str:
        """The source with parameter values substituted on their `-- @param` lines."""
        values = self.values(overrides)
        lines = []
        for line in self.source.splitlines():
            match = _PARAM_LINE.match(line)
            if match and match.group("name") in values:
                literal = luau_literal(values[match.group("name")])
                line = f"{match.group('head')}{literal}{match.group('tail')}"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def check_for(self, overrides: dict[str, Any] | None = None) -> str:
        """The check with `PARAMS` bound to the values the script was rendered with."""
        values = self.values(overrides)
        return _bind_params(self.check_source, values)


def _bind_params(check: str, values: dict[str, Any]) -> str:
    fields = ", ".join(f"{k} = {luau_literal(v)}" for k, v in values.items())
    return f"local PARAMS = {{ {fields} }}; {check}"  # one line: error lines match the check


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def luau_literal(value: Any) -> str:
    """A Luau literal for a parameter value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    raise TemplateError(f"unsupported parameter value {value!r}")


def _load_one(template_id: str, meta_text: str, source: str) -> Template:
    try:
        meta = tomllib.loads(meta_text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{template_id}.toml: {exc}") from exc
    missing = [
        k
        for k in ("title", "description", "keywords", "class_name", "parent", "check")
        if k not in meta
    ]
    if missing:
        raise TemplateError(f"{template_id}.toml lacks {', '.join(missing)}")
    params = tuple(
        TemplateParam(
            name, spec["default"], spec.get("description", ""), tuple(spec.get("cues") or ())
        )
        for name, spec in (meta.get("params") or {}).items()
    )
    marked = {m.group("name") for m in map(_PARAM_LINE.match, source.splitlines()) if m}
    unmarked = [p.name for p in params if p.name not in marked]
    if unmarked:
        raise TemplateError(f"{template_id}.luau has no '-- @param' line for {unmarked}")
    return Template(
        id=template_id,
        title=meta["title"],
        description=meta["description"],
        keywords=tuple(meta["keywords"]),
        class_name=meta["class_name"],
        parent=meta["parent"],
        source=source,
        params=params,
        check=_bind_params(meta["check"], {p.name: p.default for p in params}),
        check_source=meta["check"],
        examples=tuple(meta.get("examples") or ()),
    )


@functools.cache
def _load_all() -> tuple[Template, ...]:
    folder = resources.files("datashark.roblox.templates") / LIBRARY
    templates = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            template_id = entry.name[: -len(".toml")]
            source = (folder / f"{template_id}.luau").read_text(encoding="utf-8")
            templates.append(_load_one(template_id, entry.read_text(encoding="utf-8"), source))
    return tuple(templates)


def load_templates() -> list[Template]:
    """All templates in the library, sorted by id."""
    return list(_load_all())


def get_template(template_id: str) -> Template:
    """One template by id; KeyError if there is none."""
    for t in _load_all():
        if t.id == template_id:
            return t
    raise KeyError(template_id)
