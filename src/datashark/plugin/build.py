"""Build the Studio plugin model file (`.rbxmx`) from the Luau sources in `plugin/`.

Layout: `plugin/<Name>.server.luau` is the entry Script (exactly one); every other
`plugin/<Name>.luau` becomes a ModuleScript child of it, so the entry requires `script.<Name>` and
modules require `script.Parent.<Name>`. Each Source goes into a `ProtectedString` in a CDATA
section, which is how Studio itself saves scripts in the XML model format (version 4).

Not handled: sub-folders of modules, non-script instances (images, values) and the binary
`.rbxm` format.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ENTRY_SUFFIX = ".server.luau"
MODULE_SUFFIX = ".luau"


@dataclass(frozen=True)
class PluginModule:
    """One script of the plugin: its instance name, Roblox class and Luau source."""

    name: str
    class_name: str  # "Script" for the entry, "ModuleScript" for the rest
    source: str
    path: Path


def default_source_dir() -> Path:
    """`plugin/` at the repository root (this package is installed editable from there)."""
    return Path(__file__).resolve().parents[3] / "plugin"


def collect_modules(source_dir: Path | None = None) -> list[PluginModule]:
    """The entry Script first, then the ModuleScripts sorted by name.

    Raises FileNotFoundError when the folder is missing and ValueError when it does not hold
    exactly one `*.server.luau` entry.
    """
    folder = Path(source_dir) if source_dir is not None else default_source_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"plugin source folder not found: {folder}")
    entries: list[PluginModule] = []
    modules: list[PluginModule] = []
    for path in sorted(folder.glob(f"*{MODULE_SUFFIX}")):
        source = path.read_text(encoding="utf-8")
        if path.name.endswith(ENTRY_SUFFIX):
            name = path.name[: -len(ENTRY_SUFFIX)]
            entries.append(PluginModule(name, "Script", source, path))
        else:
            name = path.name[: -len(MODULE_SUFFIX)]
            modules.append(PluginModule(name, "ModuleScript", source, path))
    if len(entries) != 1:
        found = ", ".join(m.path.name for m in entries) or "none"
        raise ValueError(
            f"{folder}: expected exactly one *{ENTRY_SUFFIX} entry script, found {found}"
        )
    return entries + modules


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section before ">" and open a new one.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _item(module: PluginModule, referent: str, children: list[str]) -> str:
    name = ET.Element("string", {"name": "Name"})
    name.text = module.name
    disabled = ""
    if module.class_name == "Script":
        disabled = '<bool name="Disabled">false</bool>'
    props = (
        f"<Properties>{ET.tostring(name, encoding='unicode')}{disabled}"
        f'<ProtectedString name="Source">{_cdata(module.source)}</ProtectedString>'
        "</Properties>"
    )
    return (
        f'<Item class="{module.class_name}" referent="{referent}">{props}{"".join(children)}</Item>'
    )


def build_rbxmx(modules: list[PluginModule]) -> str:
    """The XML text of a model holding the entry Script with every ModuleScript under it."""
    if not modules or modules[0].class_name != "Script":
        raise ValueError("the first module must be the entry Script")
    children = [_item(m, f"RBX{i}", []) for i, m in enumerate(modules[1:], start=1)]
    root = _item(modules[0], "RBX0", children)
    return (
        '<roblox xmlns:xmime="http://www.w3.org/2005/05/xmlmime" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="http://www.roblox.com/roblox.xsd" version="4">\n'
        f"{root}\n</roblox>\n"
    )


def write_plugin(out: Path, source_dir: Path | None = None) -> list[PluginModule]:
    """Collect, build and write the plugin file; returns the modules written."""
    modules = collect_modules(source_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_rbxmx(modules), encoding="utf-8")
    return modules
