"""Load pluau's compiled extension module directly.

pluau 0.1.2 embeds the real Luau compiler and VM, but `import pluau` raises SyntaxError on
Python 3.11 because its pure-Python `args.py` uses 3.12 syntax. The compiled module
`_pluau*.so` inside the installed `pluau` folder works on every supported Python, so we find
that file without importing the package and load it with an `ExtensionFileLoader`.

Does not handle: a pluau installed somewhere other than an importable `pluau` folder.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType


class PluauNotFoundError(RuntimeError):
    """pluau is not installed in this environment (it is a core dependency)."""


@functools.cache
def load_pluau() -> ModuleType:
    """Return pluau's `_pluau` extension module, loaded once per process."""
    spec = importlib.util.find_spec("pluau")  # finds the folder without executing __init__
    if spec is None or not spec.submodule_search_locations:
        raise PluauNotFoundError("pluau is not installed: pip install pluau==0.1.2")
    for folder in spec.submodule_search_locations:
        for so in sorted(Path(folder).glob("_pluau*")):
            if so.suffix in (".so", ".pyd"):
                loader = importlib.machinery.ExtensionFileLoader("pluau._pluau", str(so))
                mod_spec = importlib.util.spec_from_loader("pluau._pluau", loader)
                assert mod_spec is not None
                module = importlib.util.module_from_spec(mod_spec)
                loader.exec_module(module)
                return module
    raise PluauNotFoundError(f"no _pluau extension module in {spec.submodule_search_locations}")
