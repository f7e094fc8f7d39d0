"""Compile check for Luau source with the real Luau compiler (via pluau).

`compile_check(source)` runs Luau's own parser and bytecode compiler, the same front end Roblox
uses, and reports the first syntax error with its line number. It runs in process (about 75 µs
for a 120-line script): compiling never executes the code.

Does not handle: type checking (Luau's type checker is not part of pluau), Roblox API misuse
(see `datashark.luau.sandbox` for a behavioural run), or more than the first error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datashark.luau.pluau_loader import load_pluau

# pluau reports compile failures as "syntax error: <line>: <message>".
_ERROR_RE = re.compile(r"^(?:syntax error:\s*)?(?:[^:\n]*:)?\s*(\d+):\s*(.*)$", re.DOTALL)
MAX_SOURCE_CHARS = 1_000_000


@dataclass(frozen=True)
class CompileResult:
    """Outcome of a compile check: `error` is "<chunkname>:<line>: <message>" when not ok."""

    ok: bool
    error: str | None = None
    line: int | None = None


def compile_check(source: str, chunkname: str = "script") -> CompileResult:
    """Compile `source` with the Luau compiler; never raises for bad input."""
    if not isinstance(source, str):
        return CompileResult(False, f"{chunkname}: source must be a string", None)
    if len(source) > MAX_SOURCE_CHARS:
        return CompileResult(False, f"{chunkname}: source is longer than {MAX_SOURCE_CHARS}", None)
    if "\x00" in source:
        return CompileResult(False, f"{chunkname}: source contains a NUL character", None)
    pluau = load_pluau()
    compiler = pluau.Compiler(1, 1, 0, 0)
    try:
        compiler.compile(source)
    except BaseException as exc:  # pluau's errors may derive from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        text = str(exc).strip()
        match = _ERROR_RE.match(text)
        if match:
            line = int(match.group(1))
            return CompileResult(False, f"{chunkname}:{line}: {match.group(2).strip()}", line)
        return CompileResult(False, f"{chunkname}: {text}", None)
    return CompileResult(True)
