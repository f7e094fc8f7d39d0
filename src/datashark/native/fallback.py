"""The NumPy path of datashark.native: the same results as the C kernels, computed plainly.

This is also the executable specification of what the C kernels compute: activations rounded to
int8 in llama.cpp's format for the weight type (`quantize_activations`), times the dequantized
weights. Weight matrices are expanded to float32 only a chunk of rows at a time, never as a whole.
Not handled: speed (this path is for machines without a C compiler and for tests).
"""

from __future__ import annotations

import numpy as np
from gguf import GGMLQuantizationType as QT

from datashark.engine.quants import FORMATS, dequantize
from datashark.engine.tensor import QTensor

QK8 = 32  # activations: one scale per 32 values
QK_K = 256
FLOAT_TYPES = frozenset(int(t) for t in FORMATS if FORMATS[t].block_size == 1)
CHUNK_ELEMENTS = 1 << 22  # dequantize at most 4M weights (16 MB of float32) at a time

# ggml's vec_dot_type: the activation format each quantized weight type is multiplied with
# (Q4_1 takes ggml's Q8_1: Q8_0's values plus s = fp16(d * sum(q)) for its offset term)
ACT_Q8_0, ACT_Q8_K = 0, 1
ACT_FORMAT = {
    QT.Q4_0: ACT_Q8_0,
    QT.Q5_0: ACT_Q8_0,
    QT.Q8_0: ACT_Q8_0,
    QT.Q4_1: ACT_Q8_0,
    QT.Q4_K: ACT_Q8_K,
    QT.Q6_K: ACT_Q8_K,
}


def _f16_round(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16).astype(np.float32)


def quantize_activations(
    x: np.ndarray, qtype: int = QT.Q8_0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (T, cols) float32 -> (q int8 (T, cols), d, s float32 (T, cols // 32)); x ~ q * d.

    The format is llama.cpp's for weights of `qtype` (see quantize.c), bit-identical to the C
    kernels: Q8_0 scales each 32 values by max|x| / 127 rounded to float16 (q = round(x * 127 /
    max|x|)); Q8_K scales each 256 values by -x[argmax |x|] / 127 (float32), repeated for its 8
    blocks of 32. s per 32: Q8_0 fp16(max|x| / 127 * sum(q)) (ggml's Q8_1 s, read only by Q4_1
    weights), Q8_K d * sum(q).
    """
    act = ACT_FORMAT[QT(int(qtype))]
    x = np.ascontiguousarray(x, dtype=np.float32)
    T, cols = x.shape
    block = QK_K if act == ACT_Q8_K else QK8
    if cols % block:
        raise ValueError(f"activations: {cols} columns is not a multiple of {block}")
    if act == ACT_Q8_K:
        xb = x.reshape(T, cols // QK_K, QK_K)
        idx = np.abs(xb).argmax(axis=-1)[..., None]
        mx = np.take_along_axis(xb, idx, axis=-1)  # the signed value of largest magnitude
        with np.errstate(divide="ignore", invalid="ignore"):
            iscale = np.where(mx == 0, np.float32(0), np.float32(-127) / mx).astype(np.float32)
            dk = np.where(mx == 0, np.float32(0), np.float32(1) / iscale).astype(np.float32)
        q = np.minimum(np.rint(iscale * xb), np.float32(127)).astype(np.int8)
        q = q.reshape(T, cols)
        d = np.repeat(dk[..., 0], QK_K // QK8, axis=-1)
        sums = q.reshape(T, -1, QK8).sum(axis=-1, dtype=np.int32).astype(np.float32)
        return q, d, (d * sums).astype(np.float32)
    xb = x.reshape(T, cols // QK8, QK8)
    amax = np.abs(xb).max(axis=-1)
    d32 = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(amax == 0, np.float32(0), np.float32(127) / amax).astype(np.float32)
    q = np.rint(xb * inv[..., None]).astype(np.int8)
    sums = q.sum(axis=-1, dtype=np.int32).astype(np.float32)
    return q.reshape(T, cols), _f16_round(d32), _f16_round(d32 * sums)


def split_offsets(raw: np.ndarray, qtype: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Weight rows (rows, row_bytes) -> (the same blocks with their offset m zeroed, m (rows, nb)).

    Q4_1 weights are d q + m; the kernels multiply d q by the activations and add m * s per block
    (s rounded to float16, as llama.cpp does), so the offset is computed apart. Other types have
    no separate offset: (raw, None)."""
    if int(qtype) != QT.Q4_1:
        return raw, None
    rows = raw.shape[0]
    blocks = raw.reshape(rows, -1, 20).copy()
    m = blocks[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)  # (rows, nb)
    blocks[:, :, 2:4] = 0
    return blocks.reshape(rows, -1), m


def _scaled(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The float32 values the kernels actually multiply by: q * d per block (T, cols)."""
    T, cols = q.shape
    return (q.reshape(T, -1, QK8).astype(np.float32) * d[..., None]).reshape(T, cols)


def matmul_numpy(w: QTensor, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x (T, cols) @ w.T -> (T, rows) float32, weights dequantized a chunk of rows at a time.

    Computes what the C kernels compute (same int8 activations and scales); only the order of
    the float32 sums differs."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, w.cols)
    T, rows = x.shape[0], w.rows
    if out is None:
        out = np.empty((T, rows), dtype=np.float32)
    out2 = out.reshape(T, rows)
    s = None
    if int(w.qtype) in FLOAT_TYPES:
        xa = x
    else:
        q, d, s = quantize_activations(x, w.qtype)
        xa = _scaled(q, d)
    raw = w.row_bytes()
    step = max(1, CHUNK_ELEMENTS // w.cols)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        blocks, m = split_offsets(raw[r0:r1], w.qtype)
        wc = dequantize(blocks, w.qtype).reshape(r1 - r0, w.cols)
        np.matmul(xa, wc.T, out=out2[:, r0:r1])
        if m is not None:  # Q4_1: + sum over blocks of m * s
            out2[:, r0:r1] += s @ m.T
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
