"""Quantized matrix products: C kernels (`_kernels`, built by setup.py) with a NumPy fallback.

`matmul(w, x)` multiplies a QTensor (rows, cols) by float32 activations x (T, cols) -> (T, rows)
without expanding the weight matrix to float32. For quantized weights the activations are first
rounded to int8 exactly as llama.cpp rounds them for that weight type (Q8_0: per 32 values, scale
max|x| / 127 kept as float16; Q8_K for K-quants: per 256 values; see quantize.c), so the kernels
use integer dot products and greedy decoding tracks llama.cpp's; float weights (F32, F16, BF16)
use the float activations unchanged. The NumPy fallback computes exactly the same quantity (same
int8 activations; it dequantizes the weights a chunk of rows at a time), so both paths agree to
float32 rounding. `get_rows(w, ids)` gathers and dequantizes rows (embedding lookup).
Threads: `set_threads(n)` (default os.cpu_count()); a thread pool in the extension (pool.c).

The fallback is used when the extension did not build or DATASHARK_NO_NATIVE=1 is set at import.
Not handled: weight types outside datashark.engine.quants.FORMATS.
"""

from __future__ import annotations

import os

import numpy as np

from datashark.native.fallback import (
    get_rows_numpy,
    matmul_numpy,
    quantize_activations,
)

__all__ = [
    "available",
    "matmul",
    "get_rows",
    "set_threads",
    "get_threads",
    "simd_name",
    "quantize_activations",
    "matmul_numpy",
    "get_rows_numpy",
]

_lib = None
if os.environ.get("DATASHARK_NO_NATIVE", "") in ("", "0"):
    try:
        from datashark.native import _kernels as _lib  # type: ignore[no-redef]
    except ImportError:
        _lib = None

available: bool = _lib is not None
_threads: int = os.cpu_count() or 1


def set_threads(n: int | None) -> None:
    """Threads used by the kernels (None or 0: os.cpu_count())."""
    global _threads
    n = int(n or os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _threads = n
    if _lib is not None:
        _lib.set_threads(n)


def get_threads() -> int:
    return _threads


def simd_name() -> str:
    """Which kernels run: "avx2", "scalar" (C without SIMD) or "numpy" (no extension)."""
    return _lib.simd_name() if _lib is not None else "numpy"


def _prepare(w, x: np.ndarray) -> np.ndarray:
    """The slow path of matmul's argument checks: convert x, or raise a clear ValueError."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim not in (1, 2) or x.shape[-1] != w.cols:
        raise ValueError(f"matmul: x has shape {x.shape}, weight {w.name!r} has shape {w.shape}")
    return x


def _check_out(out: np.ndarray, size: int) -> None:
    if (
        out.dtype != np.float32
        or not out.flags.c_contiguous
        or not out.flags.writeable
        or out.size != size
    ):
        raise ValueError(
            f"matmul: out must be a writable C-contiguous float32 array of {size} values, "
            f"got {out.dtype} {out.shape}"
        )


def matmul(w, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x (T, cols) float32 times w.T -> (T, rows) float32 (x (cols,) -> (rows,)).

    T == 1 takes the matvec path. `out`, when given, must be a writable C-contiguous float32
    array of T * rows values; it is returned as given. The checks here are kept to a minimum
    (the forward pass calls this a few hundred times per token); the C side checks sizes.
    """
    if x.shape[-1] != w.cols or x.ndim > 2:
        x = _prepare(w, x)
    if out is None:
        out = np.empty((w.rows,) if x.ndim == 1 else (x.shape[0], w.rows), dtype=np.float32)
    if x.size == 0:
        return out
    if _lib is None:
        if x.dtype != np.float32 or not x.flags.c_contiguous:
            x = _prepare(w, x)
        _check_out(out, x.size // w.cols * w.rows)
        matmul_numpy(w, x, out)
        return out
    try:
        _lib.matmul(*w.kernel_args, x, out)
    except (BufferError, TypeError, ValueError):
        x = _prepare(w, x)
        _check_out(out, x.size // w.cols * w.rows)
        _lib.matmul(*w.kernel_args, x, out)
    return out


def get_rows(w, ids: np.ndarray) -> np.ndarray:
    """Rows `ids` of w, dequantized: (len(ids), cols) float32 (the embedding lookup)."""
    return get_rows_numpy(w, ids)


if _lib is not None:
    _lib.set_threads(_threads)
