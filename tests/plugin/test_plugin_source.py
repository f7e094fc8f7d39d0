"""Acceptance 1: every plugin file compiles with the real Luau compiler, is --!strict, and StyLua's
--check passes on plugin/ (the StyLua binary comes from scripts/setup.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from datashark.luau import compile_check

REPO = Path(__file__).resolve().parents[2]
STYLUA = REPO / ".tools" / "node_modules" / ".bin" / "stylua"


def test_every_plugin_file_compiles_and_is_strict(plugin_modules):
    assert len(plugin_modules) >= 7
    for module in plugin_modules:
        result = compile_check(module.source, module.path.name)
        assert result.ok, result.error
        assert module.source.startswith("--!strict\n"), f"{module.path.name} is not --!strict"


def test_compile_check_catches_a_broken_plugin_file(plugin_modules):
    # The check above must be able to fail: a plugin file with one `end` removed does not compile.
    source = plugin_modules[1].source
    broken = source[: source.rindex("end")] + source[source.rindex("end") + 3 :]
    assert not compile_check(broken, "broken.luau").ok


def _stylua() -> str:
    if not STYLUA.exists():
        pytest.fail(f"StyLua missing at {STYLUA}: run scripts/setup.sh test")
    return str(STYLUA)


def test_stylua_check_passes_on_plugin_folder():
    proc = subprocess.run(
        [_stylua(), "--syntax", "Luau", "--check", "plugin/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stylua_check_fails_on_badly_formatted_luau(tmp_path):
    bad = tmp_path / "Bad.luau"
    bad.write_text("--!strict\nlocal   x =  {1,2 , 3}\nreturn x\n")
    proc = subprocess.run(
        [_stylua(), "--syntax", "Luau", "--check", str(bad)], capture_output=True, timeout=60
    )
    assert proc.returncode != 0
