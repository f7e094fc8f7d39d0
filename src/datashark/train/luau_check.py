"""Compile-only Luau check for the corpus builder and the sample evaluation.

Uses `datashark.luau.compile_check` (the Luau layer) when it is importable. Until that layer
exists, it loads pluau's compiled extension `_pluau*.so` directly, because `import pluau` fails on
Python 3.11 (its `args.py` uses 3.12 syntax). What it does not handle: type checking.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path


@functools.cache
def _checker() -> Callable[[str, str], bool]:
    try:
        from datashark.luau import compile_check  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        return lambda source, name: bool(compile_check(source, name).ok)
    spec = importlib.util.find_spec("pluau")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pluau is not installed: pip install pluau==0.1.2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    so = next(folder.glob("_pluau*.so"), None) or next(folder.glob("_pluau*.pyd"), None)
    if so is None:
        raise RuntimeError(f"no compiled _pluau module in {folder}")
    mod_spec = importlib.util.spec_from_file_location("_pluau", so)
    module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
    mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
    compiler = module.Compiler(1, 1, 0, 0)

    def check(source: str, name: str) -> bool:
        try:
            compiler.compile(source)
        except BaseException as exc:  # pluau's errors include BaseException subclasses
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return False
        return True

    return check


def compiles(source: str, name: str = "script") -> bool:
    """True when the Luau compiler accepts `source`."""
    return _checker()(source, name)
