"""The NumPy path of datashark.native: the same results as the C kernels, computed plainly.

This is also the executable specification of what the C kernels compute: activations rounded to
int8 per block of 32 (`quantize_activations`), times the dequantized weights. Weight matrices are
expanded to float32 only a chunk of rows at a time, never as a whole.
Not handled: speed (this path is for machines without a C compiler and for tests).
"""

from __future__ import annotations

import numpy as np

from datashark.engine.quants import FORMATS, dequantize
from datashark.engine.tensor import QTensor

QK8 = 32  # activation block: one int8 scale per 32 values
FLOAT_TYPES = frozenset(int(t) for t in FORMATS if FORMATS[t].block_size == 1)
CHUNK_ELEMENTS = 1 << 22  # dequantize at most 4M weights (16 MB of float32) at a time


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (T, cols) float32 -> (q int8 (T, cols), d float32 (T, cols // 32)), x ~ q * d.

    d = max|x| / 127 per block of 32; q = round-half-even(x * (1 / d)) in float32, bit-identical
    to the C kernels' quantize_row_q8. cols must be a multiple of 32.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    T, cols = x.shape
    if cols % QK8:
        raise ValueError(f"activations: {cols} columns is not a multiple of {QK8}")
    xb = x.reshape(T, cols // QK8, QK8)
    d = np.abs(xb).max(axis=-1) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = np.rint(xb * inv[..., None]).astype(np.int8)
    return q.reshape(T, cols), d.astype(np.float32)


def dequantized_activations(x: np.ndarray) -> np.ndarray:
    """The float32 values the kernels actually multiply by: q * d per block (T, cols)."""
    q, d = quantize_activations(x)
    T, cols = q.shape
    return (q.reshape(T, -1, QK8).astype(np.float32) * d[..., None]).reshape(T, cols)


def matmul_numpy(w: QTensor, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x (T, cols) @ w.T -> (T, rows) float32, weights dequantized a chunk of rows at a time."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, w.cols)
    T, rows = x.shape[0], w.rows
    if out is None:
        out = np.empty((T, rows), dtype=np.float32)
    out2 = out.reshape(T, rows)
    xa = x if int(w.qtype) in FLOAT_TYPES else dequantized_activations(x)
    raw = w.row_bytes()
    step = max(1, CHUNK_ELEMENTS // w.cols)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        wc = dequantize(raw[r0:r1], w.qtype).reshape(r1 - r0, w.cols)
        np.matmul(xa, wc.T, out=out2[:, r0:r1])
    return out


def get_rows_numpy(w: QTensor, ids: np.ndarray) -> np.ndarray:
    """Rows `ids` of w dequantized to float32: (len(ids), cols). Raises IndexError when out of range."""
    ids = np.asarray(ids).reshape(-1)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"get_rows: ids must be integers, got {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= w.rows):
        raise IndexError(f"get_rows: ids must be in [0, {w.rows}) for {w.name!r}")
    rows = w.row_bytes()[ids.astype(np.intp)]
    return dequantize(rows, w.qtype).reshape(ids.size, w.cols)
