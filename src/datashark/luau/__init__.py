"""Luau tooling: the real Luau compiler (compile check) and a sandbox with a fake Roblox API.

`compile_check` runs in process; `datashark.luau.sandbox.run_sandbox` runs scripts in a child
process (`python -m datashark.luau.runner`) with time and memory limits. Both use pluau, loaded
through `pluau_loader` (see FACTS.md for its quirks).
"""

from datashark.luau.compiler import CompileResult, compile_check

__all__ = ["CompileResult", "compile_check"]
