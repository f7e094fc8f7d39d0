"""GGML quantization formats: one table of block facts and one small dequantizer per type.

Where it comes from: the block layouts of ggml (`ggml-common.h`) as mirrored by gguf-py's
`gguf.quants`; every dequantizer here is written to be bit-exact with `gguf.quants.dequantize`
(same float32 operations in the same order; tested in tests/engine/test_quants.py).

Supported types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K. Not handled: the other GGML
types (Q5_1, Q2_K, Q3_K, Q5_K, IQ*, TQ*, MXFP4, ...): `FORMATS` has no entry for them, so a file
that uses them is rejected by the GGUF reader with a ModelFormatError naming the type. This module
only dequantizes (for embeddings, tests and the NumPy fallback); the fast paths that never expand a
matrix to float32 live in `datashark.native`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from gguf import GGMLQuantizationType as QT

QK_K = 256  # elements per K-quant super-block
K_SCALE_SIZE = 12  # bytes of packed 6-bit scales/mins in Q4_K

Dequantizer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QuantFormat:
    """Facts of one GGML type: `block_size` elements are stored in `type_size` bytes."""

    qtype: QT
    block_size: int
    type_size: int
    dequantize_blocks: Dequantizer  # (n_blocks, type_size) uint8 -> (n_blocks, block_size) f32

    @property
    def name(self) -> str:
        return self.qtype.name

    def row_nbytes(self, n_elements: int) -> int:
        """Bytes used by `n_elements` values (must be a multiple of block_size)."""
        if n_elements % self.block_size:
            raise ValueError(
                f"{self.name}: {n_elements} elements is not a multiple of the block size "
                f"{self.block_size}"
            )
        return n_elements // self.block_size * self.type_size


def _f16(b: np.ndarray) -> np.ndarray:
    """Little-endian float16 bytes (..., 2) -> float32 (..., 1)."""
    return b.view(np.float16).astype(np.float32)


def _nibbles(qs: np.ndarray, n_blocks: int, group: int) -> np.ndarray:
    """Split bytes into (low nibbles, high nibbles) per `group` bytes: (n_blocks, -1) uint8."""
    qs = qs.reshape((n_blocks, -1, 1, group)) >> np.array([0, 4], dtype=np.uint8).reshape(
        (1, 1, 2, 1)
    )
    return (qs & np.uint8(0x0F)).reshape((n_blocks, -1))


def dequantize_f32(blocks: np.ndarray) -> np.ndarray:
    return blocks.view(np.float32).copy()


def dequantize_f16(blocks: np.ndarray) -> np.ndarray:
    return blocks.view(np.float16).astype(np.float32)


def dequantize_bf16(blocks: np.ndarray) -> np.ndarray:
    # bf16 is the high half of a float32
    return (blocks.view(np.int16).astype(np.int32) << 16).view(np.float32)


def dequantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    # block: d (f16) | 32 x int8;  x = q * d
    d, x = np.split(blocks, [2], axis=1)
    return x.view(np.int8).astype(np.float32) * _f16(d)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    # block: d (f16) | 16 bytes; low nibble = element j, high nibble = element j + 16; x = d(q - 8)
    n = blocks.shape[0]
    d, qs = np.hsplit(blocks, [2])
    q = _nibbles(qs, n, 16).astype(np.int8) - np.int8(8)
    return _f16(d) * q.astype(np.float32)


def dequantize_q4_1(blocks: np.ndarray) -> np.ndarray:
    # block: d (f16) | m (f16) | 16 bytes of nibbles as Q4_0;  x = d q + m
    n = blocks.shape[0]
    d, m, qs = np.hsplit(blocks, [2, 4])
    q = _nibbles(qs, n, 16).astype(np.float32)
    return (_f16(d) * q) + _f16(m)


def dequantize_q5_0(blocks: np.ndarray) -> np.ndarray:
    # block: d (f16) | qh (u32: bit i = 5th bit of element i) | 16 bytes of low nibbles as Q4_0
    n = blocks.shape[0]
    d, qh, qs = np.hsplit(blocks, [2, 6])
    qh = qh.copy().view(np.uint32).reshape((n, 1)) >> np.arange(32, dtype=np.uint32).reshape(
        (1, 32)
    )
    hi = (qh & np.uint32(1)).astype(np.uint8)
    q = (_nibbles(qs, n, 16) | (hi << np.uint8(4))).astype(np.int8) - np.int8(16)
    return _f16(d) * q.astype(np.float32)


def q4_k_scale_min(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unpack Q4_K's 12 bytes into 8 six-bit scales and 8 six-bit mins, each (n_blocks, 8)."""
    n = scales.shape[0]
    d, m, m_d = np.split(scales.reshape((n, 3, 4)), 3, axis=-2)
    sc = np.concatenate([d & 0x3F, (m_d & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    mn = np.concatenate([m & 0x3F, (m_d >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return sc.reshape((n, 8)), mn.reshape((n, 8))


def dequantize_q4_k(blocks: np.ndarray) -> np.ndarray:
    # super-block of 256: d (f16) | dmin (f16) | 12 bytes scales/mins | 128 bytes nibbles;
    # sub-block j (32 values) = bytes 32*(j//2).. low (j even) or high (j odd) nibbles;
    # x = d*sc[j]*q - dmin*m[j]
    n = blocks.shape[0]
    d, dmin, scales, qs = np.hsplit(blocks, [2, 4, 4 + K_SCALE_SIZE])
    sc, mn = q4_k_scale_min(scales)
    ds = (_f16(d) * sc.astype(np.float32)).reshape((n, -1, 1))
    dm = (_f16(dmin) * mn.astype(np.float32)).reshape((n, -1, 1))
    q = _nibbles(qs, n, 32).reshape((n, -1, 32)).astype(np.float32)
    return (ds * q - dm).reshape((n, QK_K))


def dequantize_q6_k(blocks: np.ndarray) -> np.ndarray:
    # super-block of 256: ql (128 bytes, low 4 bits) | qh (64 bytes, high 2 bits) |
    # 16 int8 scales (one per 16 values) | d (f16);  x = d*scale*(q - 32)
    n = blocks.shape[0]
    ql, qh, scales, d = np.hsplit(
        blocks, [QK_K // 2, QK_K // 2 + QK_K // 4, QK_K // 2 + QK_K // 4 + 16]
    )
    ds = (_f16(d) * scales.view(np.int8).astype(np.float32)).reshape((n, QK_K // 16, 1))
    lo = _nibbles(ql, n, 64).reshape((n, -1, 32))
    hi = qh.reshape((n, -1, 1, 32)) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape((1, 1, 4, 1))
    hi = (hi & np.uint8(0x03)).reshape((n, -1, 32))
    q = (lo | (hi << np.uint8(4))).astype(np.int8) - np.int8(32)
    q = q.reshape((n, QK_K // 16, -1)).astype(np.float32)
    return (ds * q).reshape((n, QK_K))


FORMATS: dict[int, QuantFormat] = {
    f.qtype: f
    for f in (
        QuantFormat(QT.F32, 1, 4, dequantize_f32),
        QuantFormat(QT.F16, 1, 2, dequantize_f16),
        QuantFormat(QT.BF16, 1, 2, dequantize_bf16),
        QuantFormat(QT.Q8_0, 32, 2 + 32, dequantize_q8_0),
        QuantFormat(QT.Q4_0, 32, 2 + 16, dequantize_q4_0),
        QuantFormat(QT.Q4_1, 32, 2 + 2 + 16, dequantize_q4_1),
        QuantFormat(QT.Q5_0, 32, 2 + 4 + 16, dequantize_q5_0),
        QuantFormat(QT.Q4_K, QK_K, 2 + 2 + K_SCALE_SIZE + QK_K // 2, dequantize_q4_k),
        QuantFormat(QT.Q6_K, QK_K, QK_K // 2 + QK_K // 4 + QK_K // 16 + 2, dequantize_q6_k),
    )
}


def quant_format(qtype: int) -> QuantFormat:
    """The table entry for `qtype`; KeyError names the type when it is not supported."""
    fmt = FORMATS.get(int(qtype))
    if fmt is None:
        try:
            name = QT(int(qtype)).name
        except ValueError:
            name = f"unknown type {int(qtype)}"
        supported = ", ".join(f.name for f in FORMATS.values())
        raise KeyError(f"{name} is not supported (supported: {supported})")
    return fmt


def dequantize(data: np.ndarray, qtype: int, n_elements: int | None = None) -> np.ndarray:
    """Raw bytes of a tensor (any shape, uint8) -> flat float32 array of its values."""
    fmt = quant_format(qtype)
    raw = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    if raw.size % fmt.type_size:
        raise ValueError(f"{fmt.name}: {raw.size} bytes is not a whole number of blocks")
    out = fmt.dequantize_blocks(raw.reshape((-1, fmt.type_size))).reshape(-1)
    if n_elements is not None and out.size != n_elements:
        raise ValueError(f"{fmt.name}: {raw.size} bytes hold {out.size} values, not {n_elements}")
    return out
