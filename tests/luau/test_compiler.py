"""compile_check uses the real Luau compiler: Luau syntax passes, errors carry line numbers."""

from __future__ import annotations

import sys

from datashark.luau import CompileResult, compile_check

LUAU_ONLY = """
local Players = game:GetService("Players")
type Stats = { coins: number }
local function add(a: number, b: number): number
	return a + b
end
local x = if add(1, 2) > 2 then "big" else "small"
local t: Stats = { coins = 0 }
t.coins += 5
print(`value {x} {t.coins}`)
for _, p in Players:GetPlayers() do
	continue
end
"""


def test_luau_syntax_compiles() -> None:
    assert compile_check(LUAU_ONLY) == CompileResult(True, None, None)


def test_syntax_error_reports_line_and_chunkname() -> None:
    result = compile_check("local a = 1\nlocal b = 2\nif a then\n  b = = 3\nend\n", "KillBrick")
    assert not result.ok
    assert result.line == 4
    assert result.error is not None and result.error.startswith("KillBrick:4: ")


def test_unclosed_block_is_reported() -> None:
    result = compile_check("for i = 1, 10 do\n  print(i)\n")
    assert not result.ok and "Expected 'end'" in (result.error or "")


def test_bad_input_gets_a_result_not_an_exception() -> None:
    assert not compile_check(None).ok  # type: ignore[arg-type]
    assert not compile_check("print(1)\x00").ok
    assert not compile_check("x" * 2_000_000).ok


def test_importing_luau_does_not_import_pluau_package() -> None:
    # `import pluau` fails on Python 3.11 (its args.py needs 3.12); we load the .so directly.
    compile_check("print(1)")
    if sys.version_info < (3, 12):
        assert "pluau" not in sys.modules
