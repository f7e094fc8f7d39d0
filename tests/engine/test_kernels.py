"""Kernels: native (SIMD and scalar C) and NumPy matmul agree with a float64 reference.

What the kernels compute: for quantized weights the activations are first rounded to int8 in
llama.cpp's format for that weight type (`quantize_activations`: Q8_0 or Q8_K), so the
float64 reference is the dequantized weights (float64) times exactly those rounded activations
(q * d in float64), not the raw float x; the rounding itself is checked separately (bit-identical
in C and NumPy, error about half a step). Float weights (F32, F16, BF16) use x unchanged and are
compared with float64 of x directly.
"Relative error" is max |y - ref| / max |ref| over the whole output.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import quants as gq

from datashark import native
from datashark.engine.quants import FORMATS, dequantize
from datashark.engine.tensor import QTensor
from datashark.native.fallback import (
    FLOAT_TYPES,
    get_rows_numpy,
    matmul_numpy,
    quantize_activations,
    split_offsets,
)

ALL_TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q4_K, QT.Q6_K]
TOL = 1e-5

needs_native = pytest.mark.skipif(
    os.environ.get("DATASHARK_NO_NATIVE", "") not in ("", "0"),
    reason="DATASHARK_NO_NATIVE is set: the C kernels are deliberately off",
)


def make_weight(rng: np.random.Generator, qtype: QT, rows: int, cols: int) -> QTensor:
    """A random weight matrix in `qtype`: quantized by gguf-py where it can, else random blocks."""
    fmt = FORMATS[qtype]
    if qtype in (QT.Q4_K, QT.Q6_K):
        raw = rng.integers(
            0, 256, size=(rows * cols // fmt.block_size, fmt.type_size), dtype=np.uint8
        )
        for off in (0, 2) if qtype == QT.Q4_K else (208,):
            scale = (rng.standard_normal(raw.shape[0]) * 0.01).astype(np.float16)
            raw[:, off : off + 2] = scale.view(np.uint8).reshape(-1, 2)
    else:
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        raw = np.ascontiguousarray(gq.quantize(w, qtype)).view(np.uint8)
    return QTensor.from_bytes("w", qtype, (rows, cols), raw)


def reference(w: QTensor, x: np.ndarray) -> np.ndarray:
    """float64 of exactly what the kernels compute: dequantized weights x (rounded) activations;
    for Q4_1 the offset term is m times the activations' float16 s, as in llama.cpp."""
    if int(w.qtype) in FLOAT_TYPES:
        w64 = dequantize(w.data, w.qtype).astype(np.float64).reshape(w.rows, w.cols)
        return x.astype(np.float64) @ w64.T
    blocks, m = split_offsets(w.row_bytes(), w.qtype)
    w64 = dequantize(blocks, w.qtype).astype(np.float64).reshape(w.rows, w.cols)
    q, d, s = quantize_activations(x, w.qtype)
    T = x.shape[0]
    x64 = (q.reshape(T, -1, 32).astype(np.float64) * d[..., None].astype(np.float64)).reshape(T, -1)
    ref = x64 @ w64.T
    if m is not None:
        ref += s.astype(np.float64) @ m.astype(np.float64).T
    return ref


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(y.astype(np.float64) - ref).max() / np.abs(ref).max())


def shapes(qtype: QT) -> list[tuple[int, int, int]]:
    """(T, rows, cols): odd T, odd rows, cols an odd number of blocks (odd cols for floats)."""
    block = FORMATS[qtype].block_size
    cols = 37 if block == 1 else 3 * block if block == 256 else 7 * block
    return [(1, 37, cols), (3, 129, cols), (7, 131, 5 * block if block > 1 else 301)]


@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_numpy_matmul_matches_float64(qtype: QT, rng: np.random.Generator) -> None:
    for T, rows, cols in shapes(qtype):
        w = make_weight(rng, qtype, rows, cols)
        x = rng.standard_normal((T, cols)).astype(np.float32)
        y = matmul_numpy(w, x)
        assert y.shape == (T, rows)
        assert rel_err(y, reference(w, x)) < TOL, (T, rows, cols)


@needs_native
@pytest.mark.parametrize("simd", [True, False], ids=["simd", "scalar"])
@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_native_matmul_matches_float64_and_numpy(
    qtype: QT, simd: bool, rng: np.random.Generator
) -> None:
    lib = native._lib
    assert lib is not None
    lib.set_simd(simd)
    if not simd:
        assert lib.simd_name() == "scalar"
    try:
        for T, rows, cols in shapes(qtype):
            w = make_weight(rng, qtype, rows, cols)
            x = (rng.standard_normal((T, cols)) * 3).astype(np.float32)
            ref = reference(w, x)
            y = native.matmul(w, x)
            assert y.shape == (T, rows)
            assert rel_err(y, ref) < TOL, (T, rows, cols)
            assert rel_err(y, matmul_numpy(w, x).astype(np.float64)) < TOL  # native == fallback
            if T == 1:  # the 1-D form is the same matvec
                np.testing.assert_array_equal(native.matmul(w, x[0]), y[0])
    finally:
        lib.set_simd(True)


@needs_native
@pytest.mark.parametrize("qtype", [QT.Q4_1, QT.Q4_K, QT.F16], ids=lambda t: t.name)
def test_threads_do_not_change_results(qtype: QT, rng: np.random.Generator) -> None:
    """Each output is one dot product in one thread: any thread count gives identical bits."""
    w = make_weight(rng, qtype, 517, 4 * 256)
    x = rng.standard_normal((9, 4 * 256)).astype(np.float32)
    before = native.get_threads()
    try:
        native.set_threads(1)
        one = native.matmul(w, x)
        native.set_threads(3)
        three = native.matmul(w, x)
        out = np.full((9, 517), np.nan, dtype=np.float32)
        native.matmul(w, x, out=out)
    finally:
        native.set_threads(before)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_array_equal(one, out)


@needs_native
@pytest.mark.parametrize("simd", [True, False], ids=["simd", "scalar"])
@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_a_row_is_the_same_alone_or_in_a_batch(
    qtype: QT, simd: bool, rng: np.random.Generator
) -> None:
    """Batch invariance: each output row has the same bits whatever rows share the call (the
    4-row kernels do each row's operations in the single-row order), so a sequence decodes the
    same alone or batched with others."""
    lib = native._lib
    block = FORMATS[qtype].block_size
    cols = 4 * 256 if block > 1 else 301
    w = make_weight(rng, qtype, 67, cols)
    x = (rng.standard_normal((11, cols)) * 2).astype(np.float32)
    try:
        lib.set_simd(simd)
        batched = native.matmul(w, x)
        for t in range(11):
            np.testing.assert_array_equal(native.matmul(w, x[t : t + 1])[0], batched[t])
        np.testing.assert_array_equal(native.matmul(w, x[3:9]), batched[3:9])
    finally:
        lib.set_simd(True)


ACT_KINDS = {QT.Q8_0: 0, QT.Q4_K: 1}  # one weight type per activation format


@needs_native
@pytest.mark.parametrize("qtype", list(ACT_KINDS), ids=lambda t: t.name)
def test_native_activation_rounding_is_bit_identical_to_numpy(
    qtype: QT, rng: np.random.Generator
) -> None:
    lib = native._lib
    n = 256 * 9
    x = (rng.standard_normal(n) * rng.uniform(1e-6, 100, n)).astype(np.float32)
    x[:256] = 0.0  # a zero block: scale 0, all q 0
    x[256:288] = 0.5  # ties round half to even
    x[288:320] = 1e-7  # a float16 scale that underflows
    q_ref, d_ref, s_ref = quantize_activations(x.reshape(1, -1), qtype)
    try:
        for simd in (True, False):
            lib.set_simd(simd)
            q = np.empty(n, np.int8)
            d = np.empty(n // 32, np.float32)
            s = np.empty(n // 32, np.float32)
            lib.quantize_q8(x, q, d, s, ACT_KINDS[qtype])
            np.testing.assert_array_equal(q, q_ref[0])
            np.testing.assert_array_equal(d.view(np.uint32), d_ref[0].view(np.uint32))
            np.testing.assert_array_equal(s.view(np.uint32), s_ref[0].view(np.uint32))
    finally:
        lib.set_simd(True)


@pytest.mark.parametrize("qtype", list(ACT_KINDS), ids=lambda t: t.name)
def test_activation_rounding_error_is_about_half_a_step(
    qtype: QT, rng: np.random.Generator
) -> None:
    x = (rng.standard_normal((5, 512)) * 7).astype(np.float32)
    q, d, s = quantize_activations(x, qtype)
    assert q.dtype == np.int8 and np.abs(q.astype(np.int32)).max() <= 127
    back = q.reshape(5, -1, 32).astype(np.float64) * d[..., None]
    err = np.abs(back - x.reshape(5, -1, 32))
    # half a step, plus (Q8_0) the float16 rounding of the scale: 127 * 2**-12 steps
    slack = 0.5 + (0 if qtype == QT.Q4_K else 127 * 2.0**-12) + 1e-6
    assert (err <= np.abs(d[..., None]) * slack).all()
    sums = q.reshape(5, -1, 32).sum(axis=-1)
    if qtype == QT.Q4_K:
        np.testing.assert_array_equal(s, (d * sums).astype(np.float32))
    else:  # ggml's Q8_1 s: the unrounded scale times the sum, rounded to float16
        amax = np.abs(x.reshape(5, -1, 32)).max(axis=-1)
        exact = (amax / np.float32(127)) * sums.astype(np.float32)
        np.testing.assert_array_equal(s, exact.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("qtype", ALL_TYPES, ids=lambda t: t.name)
def test_get_rows_dequantizes_the_rows(qtype: QT, rng: np.random.Generator) -> None:
    block = FORMATS[qtype].block_size
    w = make_weight(rng, qtype, 23, 2 * max(block, 32))
    ids = np.array([5, 0, 22, 5])
    full = w.dequantize()
    for fn in (native.get_rows, get_rows_numpy):
        rows = fn(w, ids)
        assert rows.dtype == np.float32 and rows.shape == (4, w.cols)
        np.testing.assert_array_equal(rows, full[ids])
    with pytest.raises(IndexError, match=r"\[0, 23\)"):
        native.get_rows(w, np.array([23]))


def test_matmul_rejects_bad_shapes(rng: np.random.Generator) -> None:
    w = make_weight(rng, QT.Q8_0, 8, 64)
    with pytest.raises(ValueError, match="shape"):
        native.matmul(w, np.zeros((2, 63), np.float32))
    with pytest.raises(ValueError):
        native.matmul(w, np.zeros((2, 64), np.float32), out=np.zeros((2, 7), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        native.matmul(w, np.zeros((2, 64), np.float32), out=np.zeros((2, 8), np.float64))
    assert native.matmul(w, np.zeros((0, 64), np.float32)).shape == (0, 8)
    # float64 or non-contiguous activations are converted, not rejected
    x = rng.standard_normal((64, 3)).T
    np.testing.assert_allclose(
        native.matmul(w, x), native.matmul(w, np.ascontiguousarray(x, np.float32)), rtol=0, atol=0
    )


@needs_native
def test_extension_is_built() -> None:
    """CI compiles the kernels; a silently missing extension would hide behind the fallback."""
    assert native.available, "datashark.native._kernels did not build (see the pip install log)"
    assert native.simd_name() in ("avx2", "scalar")


def test_no_native_env_gives_the_same_results() -> None:
    """DATASHARK_NO_NATIVE=1 switches to NumPy with the same signatures and the same numbers."""
    code = (
        "import numpy as np, sys\n"
        "from gguf import GGMLQuantizationType as QT, quants as gq\n"
        "from datashark import native\n"
        "from datashark.engine.tensor import QTensor\n"
        "rng = np.random.default_rng(7)\n"
        "w = QTensor.from_bytes('w', QT.Q4_1, (33, 96), gq.quantize(rng.standard_normal((33, 96)).astype(np.float32), QT.Q4_1))\n"
        "x = rng.standard_normal((3, 96)).astype(np.float32)\n"
        "sys.stdout.buffer.write(bytes([native.available]) + native.matmul(w, x).tobytes())\n"
    )
    outs = {}
    for flag in ("1", "0"):
        env = dict(os.environ, DATASHARK_NO_NATIVE=flag)
        res = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=120
        )
        assert res.returncode == 0, res.stderr.decode()
        outs[flag] = (res.stdout[0], np.frombuffer(res.stdout[1:], np.float32))
    assert outs["1"][0] == 0
    assert outs["1"][1].shape == (99,)
    if outs["0"][0]:  # the extension exists: it must agree with the fallback
        assert rel_err(outs["0"][1], outs["1"][1].astype(np.float64)) < TOL


def test_kernel_bench_reports_every_group(tmp_path, rng: np.random.Generator) -> None:
    """The micro-benchmark runs on a small GGUF and reports each type/shape group once."""
    import gguf

    from datashark.native.bench import bench_kernels, format_table

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(path, arch="llama")
    for name, qtype, shape in [
        ("blk.0.attn_q.weight", QT.Q4_1, (64, 96)),
        ("blk.1.attn_q.weight", QT.Q4_1, (64, 96)),
        ("blk.0.ffn_down.weight", QT.Q8_0, (96, 64)),
        ("token_embd.weight", QT.Q8_0, (100, 96)),
    ]:
        raw = gq.quantize(rng.standard_normal(shape).astype(np.float32), qtype)
        writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = bench_kernels(path, threads=1, prefill_t=5, min_seconds=0.01)
    assert result["token_matrices"] == 4  # tied output: token_embd counts as the output
    groups = {(g["type"], tuple(g["shape"])): g for g in result["groups"]}
    assert set(groups) == {("Q4_1", (64, 96)), ("Q8_0", (96, 64)), ("Q8_0", (100, 96))}
    assert groups[("Q4_1", (64, 96))]["count"] == 2
    assert all(g["t1_us"] > 0 and g["t5_gmac_s"] > 0 for g in groups.values())
    assert "Q4_1" in format_table(result)


@needs_native
def test_concurrent_callers_and_forked_child(rng: np.random.Generator) -> None:
    """The thread pool serves one caller at a time (others run inline) and survives fork()."""
    import threading

    w = make_weight(rng, QT.Q4_1, 1024, 512)
    x = rng.standard_normal((3, 512)).astype(np.float32)
    before = native.get_threads()
    native.set_threads(2)
    try:
        ref = native.matmul(w, x)
        same = [False] * 4

        def run(i: int) -> None:
            same[i] = all(np.array_equal(native.matmul(w, x), ref) for _ in range(30))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert same == [True] * 4
        pid = os.fork()
        if pid == 0:  # child: the pool's workers do not exist here; the kernels must still work
            os._exit(0 if np.array_equal(native.matmul(w, x), ref) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        native.set_threads(before)
