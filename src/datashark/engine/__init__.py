"""DataShark's inference engine: GGUF models run from their quantized blocks, NumPy + C kernels.

Never imports torch, fastapi or httpx. Names are resolved lazily so `import datashark.engine`
stays cheap in memory.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Model": "datashark.engine.model",
    "Sequence": "datashark.engine.model",
    "SamplingParams": "datashark.engine.sampling",
    "Sampler": "datashark.engine.sampling",
    "Generation": "datashark.engine.generate",
    "ModelFormatError": "datashark.engine.errors",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'datashark.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
