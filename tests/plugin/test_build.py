"""Acceptance 2: the built .rbxmx parses as XML and holds every plugin module with its source;
`plugin build` and `plugin install` work from the CLI."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from datashark.cli.app import build_app
from datashark.plugin.build import build_rbxmx, collect_modules
from datashark.plugin.install import plugins_dir


def _items(path) -> list[tuple[str, str, str, int]]:
    """(class, Name, Source, depth) for every Item in an .rbxmx file."""
    root = ET.parse(path).getroot()
    assert root.tag == "roblox" and root.get("version") == "4"
    out = []

    def walk(element, depth):
        for item in element.findall("Item"):
            props = item.find("Properties")
            name = props.find("string[@name='Name']").text
            source = props.find("ProtectedString[@name='Source']").text
            out.append((item.get("class"), name, source, depth))
            walk(item, depth + 1)

    walk(root, 0)
    return out


def test_cli_build_holds_every_module_with_its_source(tmp_path, plugin_modules):
    out = tmp_path / "DataShark.rbxmx"
    result = CliRunner().invoke(build_app(), ["plugin", "build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    items = _items(out)
    assert items[0][:2] == ("Script", "DataShark") and items[0][3] == 0
    by_name = {name: (cls, source, depth) for cls, name, source, depth in items}
    assert len(items) == len(plugin_modules)
    for module in plugin_modules:
        cls, source, depth = by_name[module.name]
        assert cls == module.class_name
        assert source == module.source
        assert depth == (0 if module.class_name == "Script" else 1)
    assert "<![CDATA[" in out.read_text()


def test_source_with_cdata_terminator_survives(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "Main.server.luau").write_text('local s = "a]]>b"\nprint(s)\n')
    (src / "Helper.luau").write_text("return { text = [[x]]..']]>' }\n")
    out = tmp_path / "p.rbxmx"
    out.write_text(build_rbxmx(collect_modules(src)))
    sources = {name: source for _, name, source, _ in _items(out)}
    assert sources == {
        "Main": 'local s = "a]]>b"\nprint(s)\n',
        "Helper": "return { text = [[x]]..']]>' }\n",
    }


def test_build_rejects_a_folder_without_one_entry(tmp_path):
    (tmp_path / "A.luau").write_text("return 1\n")
    with pytest.raises(ValueError, match="exactly one"):
        collect_modules(tmp_path)
    result = CliRunner().invoke(
        build_app(), ["plugin", "build", "--src", str(tmp_path), "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 1 and "exactly one" in result.output


def test_install_copies_into_the_given_folder(tmp_path):
    target = tmp_path / "Plugins"
    result = CliRunner().invoke(build_app(), ["plugin", "install", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    installed = target / "DataShark.rbxmx"
    assert installed.is_file() and str(installed) in result.output
    assert _items(installed)[0][1] == "DataShark"


def test_plugins_dir_per_platform(tmp_path):
    win = plugins_dir("win32", {"LOCALAPPDATA": r"C:\Users\a\AppData\Local"})
    assert str(win).replace("\\", "/").endswith("AppData/Local/Roblox/Plugins")
    mac = plugins_dir("darwin", {"HOME": "/Users/a"})
    assert str(mac) == "/Users/a/Documents/Roblox/Plugins"
    assert plugins_dir("linux", {}) is None


def test_install_on_linux_says_studio_is_not_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.platform", "linux")
    result = CliRunner().invoke(build_app(), ["plugin", "install"])
    assert result.exit_code == 0
    assert "Windows and macOS only" in result.output
    assert (tmp_path / "DataShark.rbxmx").is_file()
