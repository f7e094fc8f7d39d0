"""The fused C ops (native/ops.c) against the NumPy ops, op by op, on awkward inputs.

Covers the vectorised exp (GLU activations at +-100, softmax tails far below the max), RMSNorm
with and without weights, the residual + post-norm step, and attention with GQA groups of 1-5
heads, head sizes on and off the register-blocked path, RoPE in both layouts, sliding windows,
and segments that start mid-cache. Float32 on both sides: agreement to 1e-5 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from datashark.engine.arch.kv_cache import KVCache
from datashark.engine.arch.ops import (
    GELU,
    SILU,
    AttnSpec,
    Buf,
    NativeOps,
    NumpyOps,
    native_ops_available,
)

TOL = 1e-5


@pytest.fixture(scope="module")
def ops() -> tuple[NativeOps, NumpyOps]:
    if not native_ops_available():
        pytest.fail("the native kernels are not built: run `pip install -e .` (setup.py)")
    return NativeOps(threads=2), NumpyOps()


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("kind", [SILU, GELU])
def test_glu(ops, kind: int, rng: np.random.Generator):
    gate = rng.standard_normal((3, 203)).astype(np.float32) * 6
    gate[0, :8] = [-100, -30, -10, -1e-3, 0, 1e-3, 30, 100]
    up = rng.standard_normal((3, 203)).astype(np.float32)
    outs = []
    for op in ops:
        out = Buf.zeros(3, 203)
        op.glu(Buf(gate.copy()), Buf(up.copy()), out, 3, kind)
        outs.append(out.a)
    assert np.isfinite(outs[0]).all() and rel(outs[0], outs[1]) < TOL


def test_norms(ops, rng: np.random.Generator):
    x = rng.standard_normal((4, 96)).astype(np.float32) * 50
    y = rng.standard_normal((4, 96)).astype(np.float32)
    w = Buf(rng.standard_normal((1, 96)).astype(np.float32))
    w2 = Buf(rng.standard_normal((1, 96)).astype(np.float32))
    res = []
    for op in ops:
        out, xs = Buf.zeros(4, 96), Buf(x.copy())
        op.rmsnorm(xs, w, out, 3, 1e-5)  # the 4th row stays untouched
        plain = Buf.zeros(4, 96)
        op.rmsnorm(xs, None, plain, 4, 1e-6)
        nxt = Buf.zeros(4, 96)
        op.residual_norm(xs, Buf(y.copy()), w2, w, nxt, 4, 1e-6)
        res.append((out.a, plain.a, xs.a, nxt.a))
    for a, b in zip(*res, strict=True):
        assert rel(a, b) < TOL
    assert not res[0][0][3].any()


@pytest.mark.parametrize(
    ("n_heads", "n_kv", "hd", "rope_dim", "neox", "window"),
    [
        (9, 3, 64, 64, False, 0),  # SmolLM2's layout
        (4, 1, 256, 256, True, 5),  # Gemma 3's local layers
        (5, 5, 24, 16, False, 0),  # partial RoPE, head size off the 16-float blocks
        (10, 2, 32, 32, True, 3),  # groups of 5 heads: two passes per KV head
    ],
)
def test_attention(ops, rng: np.random.Generator, n_heads, n_kv, hd, rope_dim, neox, window):
    spec_args = dict(
        n_heads=n_heads, n_kv_heads=n_kv, head_dim=hd, rope_dim=rope_dim, rope_base=10000.0,
        rope_scale=0.5, neox=neox, window=window, scale=hd**-0.5, eps=1e-6,
    )  # fmt: skip
    qn = Buf(rng.standard_normal((1, hd)).astype(np.float32))
    kn = Buf(rng.standard_normal((1, hd)).astype(np.float32))
    n_rows, segs = 7, [(0, 4, 0), (4, 3, 9)]  # (first row, rows, start position) per segment
    q = rng.standard_normal((n_rows, n_heads * hd)).astype(np.float32) * 3
    k = rng.standard_normal((n_rows, n_kv * hd)).astype(np.float32) * 3
    v = rng.standard_normal((n_rows, n_kv * hd)).astype(np.float32)
    history = rng.standard_normal((2, 1, n_kv, 16, hd)).astype(np.float32)
    results = []
    for op in ops:
        for norms in (False, True):
            spec = AttnSpec(**spec_args, q_norm=qn if norms else None, k_norm=kn if norms else None)
            caches = [KVCache(1, n_kv, hd, 16) for _ in segs]
            for cache in caches:  # earlier positions already in the cache
                cache.k[:], cache.v[:] = history[0], history[1]
            qb, kb, vb, out = (
                Buf(q.copy()),
                Buf(k.copy()),
                Buf(v.copy()),
                Buf.zeros(n_rows, n_heads * hd),
            )
            for cache, (row, n, pos0) in zip(caches, segs, strict=True):
                op.attention(spec, qb, kb, vb, row, n, cache, 0, pos0, out)
            results.append((out.a, caches[1].k[0, :, 9:12], caches[1].v[0, :, 9:12]))
    for native, numpy in zip(results[:2], results[2:], strict=True):
        for a, b in zip(native, numpy, strict=True):
            assert rel(a, b) < TOL
