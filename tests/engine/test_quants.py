"""Quant formats: our dequantizers are bit-exact with gguf-py's `gguf.quants.dequantize`.

Blocks come from `gguf.quants.quantize` where gguf-py can quantize the type, and from random
valid bytes (finite float16 scales, every other bit random) for every type, which also covers bit
patterns a quantizer never writes (Q8_0 -128, all 6-bit scale values, ...).
"""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as QT
from gguf import quants as gq

from datashark.engine.quants import FORMATS, dequantize, quant_format
from datashark.engine.tensor import QTensor

ALL_TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q4_K, QT.Q6_K]
GGUF_QUANTIZES = [QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0]
# byte offsets of float16 scale fields inside one block, which must hold finite values
F16_FIELDS = {
    QT.Q8_0: [0],
    QT.Q4_0: [0],
    QT.Q4_1: [0, 2],
    QT.Q5_0: [0],
    QT.Q4_K: [0, 2],
    QT.Q6_K: [208],
}


def random_blocks(rng: np.random.Generator, qtype: QT, n_blocks: int) -> np.ndarray:
    """n_blocks of random but valid bytes of `qtype`: (n_blocks, type_size) uint8."""
    fmt = FORMATS[qtype]
    if fmt.block_size == 1:  # float types: random finite values
        values = (rng.standard_normal(n_blocks) * 10).astype(np.float32)
        if qtype == QT.F32:
            return values.view(np.uint8).reshape(n_blocks, 4)
        if qtype == QT.F16:
            return values.astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
        return (values.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(n_blocks, 2)
    raw = rng.integers(0, 256, size=(n_blocks, fmt.type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        scale = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        raw[:, off : off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    raw[0, :] = 0  # an all-zero block (zero scale) too
    return raw


def assert_bit_exact(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ref.dtype == np.float32
    assert ours.shape == ref.shape
    diff = np.flatnonzero(ours.view(np.uint32) != ref.view(np.uint32))
    assert diff.size == 0, (
        f"{diff.size} values differ, first at {diff[0]}: {ours.flat[diff[0]]} vs {ref.flat[diff[0]]}"
    )


def test_table_matches_ggml_sizes() -> None:
    for qtype, fmt in FORMATS.items():
        assert (fmt.block_size, fmt.type_size) == GGML_QUANT_SIZES[qtype], fmt.name
    assert sorted(FORMATS) == sorted(ALL_TYPES)


@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_dequantize_random_blocks_bit_exact(qtype: QT, rng: np.random.Generator) -> None:
    raw = random_blocks(rng, qtype, 257)
    ref = gq.dequantize(raw, qtype).reshape(-1)
    assert_bit_exact(dequantize(raw, qtype), ref.astype(np.float32, copy=False))


@pytest.mark.parametrize("qtype", GGUF_QUANTIZES, ids=lambda t: t.name)
def test_dequantize_quantized_data_bit_exact(qtype: QT, rng: np.random.Generator) -> None:
    rows, cols = 7, 96
    x = (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 5, size=(rows, 1))).astype(
        np.float32
    )
    x[0, :32] = 0.0  # a zero block
    raw = gq.quantize(x, qtype)
    raw = np.ascontiguousarray(raw).view(np.uint8).reshape(rows, -1)
    ref = gq.dequantize(raw, qtype).astype(np.float32, copy=False).reshape(-1)
    ours = dequantize(raw, qtype)
    assert_bit_exact(ours, ref)
    # and the values are close to what was quantized (the formats are what they claim to be)
    assert np.abs(ours.reshape(rows, cols) - x).max() <= 0.2 * np.abs(x).max()


def test_qtensor_shape_is_row_major(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 64)).astype(np.float32)
    raw = gq.quantize(x, QT.Q8_0)
    t = QTensor.from_bytes("w", QT.Q8_0, (3, 64), raw)
    assert (t.rows, t.cols, t.row_nbytes) == (3, 64, 68)
    w = t.dequantize()
    assert w.shape == (3, 64)
    np.testing.assert_allclose(w, x, atol=np.abs(x).max() / 100)


def test_qtensor_rejects_wrong_sizes() -> None:
    with pytest.raises(ValueError, match="needs 136"):
        QTensor.from_bytes("w", QT.Q8_0, (4, 32), np.zeros(100, np.uint8))
    with pytest.raises(ValueError, match="not a multiple of the block size"):
        QTensor.from_bytes("w", QT.Q4_K, (1, 100), np.zeros(144, np.uint8))


def test_unsupported_types_are_named() -> None:
    with pytest.raises(KeyError, match="Q5_K is not supported"):
        quant_format(QT.Q5_K)
    with pytest.raises(KeyError, match="unknown type 99"):
        quant_format(99)
    with pytest.raises(ValueError, match="whole number of blocks"):
        dequantize(np.zeros(33, np.uint8), QT.Q8_0)
