"""KVCache: one sequence's keys and values for every layer, allocated once.

Layout: k and v are (n_layers, n_kv_heads, max_tokens, head_dim) IEEE float16, so one head's
history is contiguous (the attention loop reads it front to back). float16 like llama.cpp's
default cache: half the bytes to read per decoded token, and the same rounding of keys and values
as the reference engine; attention itself computes in float32. `np.zeros` maps the memory lazily: pages
are only resident once tokens are written, so a long `max_tokens` costs address space, not RSS.

Does not handle: sharing a prefix between sequences, ring buffers for the
sliding-window layers (they keep every position like the global ones), float32 caches.
"""

from __future__ import annotations

import numpy as np


class KVCache:
    """Keys and values of one sequence; `n_tokens` positions are filled."""

    __slots__ = ("k", "v", "k_p", "v_p", "layer_bytes", "max_tokens", "n_tokens")

    def __init__(self, n_layers: int, n_kv_heads: int, head_dim: int, max_tokens: int) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        shape = (n_layers, n_kv_heads, max_tokens, head_dim)
        self.k: np.ndarray | None = np.zeros(shape, dtype=np.float16)
        self.v: np.ndarray | None = np.zeros(shape, dtype=np.float16)
        self.k_p = int(self.k.ctypes.data)
        self.v_p = int(self.v.ctypes.data)
        self.layer_bytes = n_kv_heads * max_tokens * head_dim * 2
        self.max_tokens = max_tokens
        self.n_tokens = 0

    @property
    def nbytes(self) -> int:
        return 0 if self.k is None or self.v is None else self.k.nbytes + self.v.nbytes

    def layer(self, il: int) -> tuple[np.ndarray, np.ndarray]:
        """(k, v) of layer il, each (n_kv_heads, max_tokens, head_dim)."""
        if self.k is None or self.v is None:
            raise RuntimeError("this sequence was freed")
        return self.k[il], self.v[il]

    def free(self) -> None:
        """Release the memory; the cache cannot be used afterwards."""
        self.k = self.v = None
        self.k_p = self.v_p = 0
        self.n_tokens = 0
