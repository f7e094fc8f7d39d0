"""Model families by GGUF `general.architecture`: each a Transformer subclass.

`ARCHS` maps the architecture name to its class (STYLE rule 5: variants are named classes).
"""

from __future__ import annotations

from datashark.engine.arch.gemma3 import Gemma3
from datashark.engine.arch.llama import Llama
from datashark.engine.arch.transformer import Transformer

ARCHS: dict[str, type[Transformer]] = {"llama": Llama, "gemma3": Gemma3}

__all__ = ["ARCHS", "Gemma3", "Llama", "Transformer"]
