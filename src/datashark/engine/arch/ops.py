"""The steps of the forward pass other than the block layout: two interchangeable backends.

`NumpyOps` is the reference (plain NumPy, float32); `NativeOps` calls the fused C functions of
`datashark/native/ops.c` (loaded with ctypes from the `_kernels` shared object) and the quantized
matmul kernels directly with precomputed addresses, so a decode step costs few Python calls. Both
compute the same equations; tests hold them to float32 rounding of each other.

Buffers are `Buf`s: a preallocated 2-D float32 array with its address, allocated once in RunState
(STYLE rule 4); every op works on the first `n` rows. Attention runs per segment (one sequence's
new tokens) against that sequence's KV cache.

Does not handle: float32 KV caches, attention logit softcapping.
"""

from __future__ import annotations

import ctypes
import importlib.util
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from datashark import native
from datashark.engine.arch.kv_cache import KVCache
from datashark.engine.tensor import QTensor
from datashark.native.fallback import matmul_numpy

OPS_ABI_VERSION = 4  # must equal dsops_abi_version() in native/ops.c
SILU, GELU = 0, 1  # GLU kinds: SwiGLU (llama), GeGLU with the tanh form of GELU (gemma3)
_SQRT_2_OVER_PI = np.float32(0.7978845608028654)


class Buf:
    """A preallocated 2-D float32 array `a`, the address `p` of its first value and the distance
    between its rows in bytes; `rows[n]` is the view of the first n rows (made once: slicing
    costs more than a lookup). A Buf is C-contiguous, or a block of columns of one (`columns`),
    as when one fused matmul writes q, k and v side by side."""

    __slots__ = ("a", "p", "row_bytes", "rows")

    def __init__(self, a: np.ndarray, p: int | None = None, row_bytes: int | None = None) -> None:
        if a.dtype != np.float32 or (p is None and not a.flags.c_contiguous):
            raise ValueError("Buf needs a C-contiguous float32 array")
        self.a = a if a.ndim == 2 else a.reshape(1, -1)
        self.p = int(self.a.ctypes.data) if p is None else p
        self.row_bytes = self.a.shape[1] * 4 if row_bytes is None else row_bytes
        self.rows = [self.a[:n] for n in range(self.a.shape[0] + 1)]

    @classmethod
    def zeros(cls, rows: int, cols: int) -> Buf:
        return cls(np.zeros((rows, cols), dtype=np.float32))

    def columns(self, start: int, width: int) -> Buf:
        """Columns start .. start+width of every row (a view sharing this Buf's memory)."""
        return Buf(self.a[:, start : start + width], self.p + 4 * start, self.row_bytes)

    @property
    def contiguous(self) -> bool:
        return self.row_bytes == self.a.shape[1] * 4


@dataclass(frozen=True)
class AttnSpec:
    """How one layer attends: head layout, RoPE form and base, window, scale, optional QK norm."""

    n_heads: int
    n_kv_heads: int
    head_dim: int
    rope_dim: int
    rope_base: float
    rope_scale: float  # positions are multiplied by this (linear RoPE scaling)
    neox: bool  # rotate (i, i + rope_dim/2) pairs (gemma3) instead of (2i, 2i+1) (llama)
    window: int  # 0: full causal attention
    scale: float
    eps: float
    q_norm: Buf | None = None
    k_norm: Buf | None = None


@dataclass(frozen=True)
class DecodeBatch:
    """The caches of one batched decode step (one new token per sequence, rows in this order),
    with their addresses gathered once per step for `attention_decode`."""

    caches: tuple[KVCache, ...]
    k: np.ndarray  # uint64 address of each cache's K (layer 0)
    v: np.ndarray
    layer_bytes: np.ndarray  # uint64: bytes from one layer's K (or V) to the next
    max_t: np.ndarray  # int32 positions each cache holds
    pos0: np.ndarray  # int32 position of each new token

    @classmethod
    def of(cls, caches: list[KVCache]) -> DecodeBatch:
        if not all(c.k_p for c in caches):
            raise RuntimeError("a sequence of this batch was freed")
        return cls(
            caches=tuple(caches),
            k=np.array([c.k_p for c in caches], dtype=np.uint64),
            v=np.array([c.v_p for c in caches], dtype=np.uint64),
            layer_bytes=np.array([c.layer_bytes for c in caches], dtype=np.uint64),
            max_t=np.array([c.max_tokens for c in caches], dtype=np.int32),
            pos0=np.array([c.n_tokens for c in caches], dtype=np.int32),
        )


class Ops(Protocol):
    native: bool

    def embed(self, w: QTensor, ids: np.ndarray, out: Buf, scale: float) -> None: ...
    def matmul(self, w: QTensor, x: Buf, out: Buf, n: int) -> None: ...
    def rmsnorm(self, x: Buf, w: Buf | None, out: Buf, n: int, eps: float) -> None: ...
    def residual_norm(
        self, x: Buf, y: Buf, post_w: Buf | None, next_w: Buf, out: Buf, n: int, eps: float
    ) -> None: ...
    def glu(self, gate: Buf, up: Buf, out: Buf, n: int, kind: int) -> None: ...
    def attention(
        self,
        spec: AttnSpec,
        q: Buf,
        k: Buf,
        v: Buf,
        row0: int,
        n: int,
        cache: KVCache,
        layer: int,
        pos0: int,
        out: Buf,
    ) -> None: ...
    def attention_decode(
        self, spec: AttnSpec, q: Buf, k: Buf, v: Buf, batch: DecodeBatch, layer: int, out: Buf
    ) -> None: ...


class NumpyOps:
    """Plain NumPy float32: the reference the C path is tested against (DATASHARK_NO_NATIVE=1)."""

    native = False

    def embed(self, w: QTensor, ids: np.ndarray, out: Buf, scale: float) -> None:
        rows = out.a[: len(ids)]
        rows[:] = native.get_rows_numpy(w, ids)
        if scale != 1.0:
            rows *= np.float32(scale)

    def matmul(self, w: QTensor, x: Buf, out: Buf, n: int) -> None:
        matmul_numpy(w, x.a[:n], out.a[:n])

    @staticmethod
    def _norm(x: np.ndarray, w: np.ndarray | None, eps: float) -> np.ndarray:
        ms = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
        y = x * (1.0 / np.sqrt(ms + eps)).astype(np.float32)
        return y * w if w is not None else y

    def rmsnorm(self, x: Buf, w: Buf | None, out: Buf, n: int, eps: float) -> None:
        out.a[:n] = self._norm(x.a[:n], w.a[0] if w is not None else None, eps)

    def residual_norm(
        self, x: Buf, y: Buf, post_w: Buf | None, next_w: Buf, out: Buf, n: int, eps: float
    ) -> None:
        ya = y.a[:n]
        if post_w is not None:
            ya = self._norm(ya, post_w.a[0], eps)
        x.a[:n] += ya
        out.a[:n] = self._norm(x.a[:n], next_w.a[0], eps)

    def glu(self, gate: Buf, up: Buf, out: Buf, n: int, kind: int) -> None:
        g = gate.a[:n]
        with np.errstate(over="ignore"):  # exp(-g) = inf for g << 0 gives silu(g) = -0, right
            if kind == SILU:
                act = g / (np.float32(1.0) + np.exp(-g))
            else:
                inner = _SQRT_2_OVER_PI * (g + np.float32(0.044715) * g**3)
                act = 0.5 * g * (1.0 + np.tanh(inner))
        np.multiply(act, up.a[:n], out=out.a[:n])

    def attention(
        self,
        spec: AttnSpec,
        q: Buf,
        k: Buf,
        v: Buf,
        row0: int,
        n: int,
        cache: KVCache,
        layer: int,
        pos0: int,
        out: Buf,
    ) -> None:
        kc, vc = cache.layer(layer)  # (Hkv, max_t, hd) each
        H, Hkv, hd = spec.n_heads, spec.n_kv_heads, spec.head_dim
        qs = q.a[row0 : row0 + n].reshape(n, H, hd)  # (n, H, hd), a view: changed in place
        ks = k.a[row0 : row0 + n].reshape(n, Hkv, hd)
        vs = v.a[row0 : row0 + n].reshape(n, Hkv, hd)
        if spec.q_norm is not None:
            qs[:] = self._norm(qs, spec.q_norm.a[0], spec.eps)
        if spec.k_norm is not None:
            ks[:] = self._norm(ks, spec.k_norm.a[0], spec.eps)
        pos = np.arange(pos0, pos0 + n, dtype=np.float64) * spec.rope_scale
        _rope(qs, pos, spec)
        _rope(ks, pos, spec)
        kc[:, pos0 : pos0 + n] = ks.transpose(1, 0, 2)  # float16 cache (Hkv, max_t, hd)
        vc[:, pos0 : pos0 + n] = vs.transpose(1, 0, 2)
        P = pos0 + n
        keys = kc[:, :P].astype(np.float32)  # (Hkv, P, hd)
        values = vc[:, :P].astype(np.float32)
        G = H // Hkv
        qh = qs.reshape(n, Hkv, G, hd).transpose(1, 2, 0, 3)  # (Hkv, G, n, hd)
        scores = np.matmul(qh, keys[:, None].transpose(0, 1, 3, 2)) * np.float32(spec.scale)
        qpos = np.arange(pos0, P)[:, None]  # (n, 1)
        kpos = np.arange(P)[None, :]  # (1, P)
        visible = kpos <= qpos
        if spec.window > 0:
            visible &= qpos - kpos < spec.window
        scores = np.where(visible, scores, -np.inf)  # (Hkv, G, n, P)
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        y = np.matmul(probs, values[:, None])  # (Hkv, G, n, hd)
        out.a[row0 : row0 + n] = y.transpose(2, 0, 1, 3).reshape(n, H * hd)

    def attention_decode(
        self, spec: AttnSpec, q: Buf, k: Buf, v: Buf, batch: DecodeBatch, layer: int, out: Buf
    ) -> None:
        for row, cache in enumerate(batch.caches):
            self.attention(spec, q, k, v, row, 1, cache, layer, int(batch.pos0[row]), out)


def _rope(x: np.ndarray, pos: np.ndarray, spec: AttnSpec) -> None:
    """Rotate the first rope_dim channels of x (n, heads, hd) in place; pos (n,) already scaled."""
    half = spec.rope_dim // 2
    inv_freq = spec.rope_base ** (-2.0 * np.arange(half) / spec.rope_dim)
    theta = pos[:, None] * inv_freq[None, :]  # (n, half)
    cos = np.cos(theta).astype(np.float32)[:, None, :]
    sin = np.sin(theta).astype(np.float32)[:, None, :]
    if spec.neox:
        a, b = x[..., :half], x[..., half : spec.rope_dim]
    else:
        a, b = x[..., 0 : spec.rope_dim : 2], x[..., 1 : spec.rope_dim : 2]
    a0, b0 = a.copy(), b.copy()
    a[...] = a0 * cos - b0 * sin
    b[...] = a0 * sin + b0 * cos


def _load_library() -> ctypes.CDLL | None:
    """The `_kernels` shared object (matmul kernels + ops.c), or None when it is not built."""
    if not native.available:
        return None
    spec = importlib.util.find_spec("datashark.native._kernels")
    if spec is None or not spec.origin:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        if lib.dsops_abi_version() != OPS_ABI_VERSION:
            return None  # built from an older ops.c: rebuild (pip install -e .)
        fns = (
            lib.dsops_rmsnorm,
            lib.dsops_residual_norm,
            lib.dsops_glu,
            lib.dsops_attention,
            lib.dsops_attention_decode,
        )
    except (OSError, AttributeError):
        return None
    p, i, f, d, L = ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_double, ctypes.c_long
    fns[0].argtypes = [p, p, p, i, i, f]
    fns[1].argtypes = [p, p, p, p, p, i, i, f]
    fns[2].argtypes = [p, p, p, i, i, L, L, i]
    fns[3].argtypes = [p, L, p, L, p, L, i, p, p, i, i, p, i, i, i, i, d, d, i, i, f, p, p, f, i]
    fns[4].argtypes = [i, p, L, p, L, p, L, p, p, p, p, p, i, i, i, i, d, d, i, i, f, p, p, f, i]
    for fn in fns:
        fn.restype = None
    return lib


_LIB: ctypes.CDLL | None | bool = False  # False: not looked up yet


def native_ops_available() -> bool:
    global _LIB
    if _LIB is False:
        _LIB = _load_library()
    return _LIB is not None


class NativeOps:
    """The C path: ops.c via ctypes, the matmul kernels called with precomputed arguments."""

    native = True

    def __init__(self, threads: int) -> None:
        if not native_ops_available():
            raise RuntimeError("the native kernels are not built (see setup.py)")
        assert isinstance(_LIB, ctypes.CDLL)
        self._rmsnorm = _LIB.dsops_rmsnorm
        self._residual_norm = _LIB.dsops_residual_norm
        self._glu = _LIB.dsops_glu
        self._attention = _LIB.dsops_attention
        self._attention_decode = _LIB.dsops_attention_decode
        self._matmul = native._lib.matmul  # type: ignore[attr-defined]
        self._wargs: dict[QTensor, tuple[int, int, int, int]] = {}
        self.threads = threads

    def embed(self, w: QTensor, ids: np.ndarray, out: Buf, scale: float) -> None:
        rows = out.a[: len(ids)]
        rows[:] = native.get_rows(w, ids)
        if scale != 1.0:
            rows *= np.float32(scale)

    def matmul(self, w: QTensor, x: Buf, out: Buf, n: int) -> None:
        args = self._wargs.get(w)
        if args is None:
            args = self._wargs[w] = (int(w.qtype), w.ptr, w.rows, w.cols)
        self._matmul(*args, x.rows[n], out.rows[n])

    def rmsnorm(self, x: Buf, w: Buf | None, out: Buf, n: int, eps: float) -> None:
        self._rmsnorm(x.p, w.p if w is not None else None, out.p, n, x.a.shape[1], eps)

    def residual_norm(
        self, x: Buf, y: Buf, post_w: Buf | None, next_w: Buf, out: Buf, n: int, eps: float
    ) -> None:
        post = post_w.p if post_w is not None else None
        self._residual_norm(x.p, y.p, post, next_w.p, out.p, n, x.a.shape[1], eps)

    def glu(self, gate: Buf, up: Buf, out: Buf, n: int, kind: int) -> None:
        width = gate.a.shape[1]
        self._glu(gate.p, up.p, out.p, n, width, gate.row_bytes // 4, up.row_bytes // 4, kind)

    def attention(
        self,
        spec: AttnSpec,
        q: Buf,
        k: Buf,
        v: Buf,
        row0: int,
        n: int,
        cache: KVCache,
        layer: int,
        pos0: int,
        out: Buf,
    ) -> None:
        if not cache.k_p:
            raise RuntimeError("this sequence was freed")
        off = layer * cache.layer_bytes
        self._attention(
            q.p + row0 * q.row_bytes, q.row_bytes // 4, k.p + row0 * k.row_bytes,
            k.row_bytes // 4, v.p + row0 * v.row_bytes, v.row_bytes // 4, n,
            cache.k_p + off, cache.v_p + off, cache.max_tokens, pos0, out.p + row0 * out.row_bytes,
            spec.n_heads, spec.n_kv_heads, spec.head_dim, spec.rope_dim, spec.rope_base,
            spec.rope_scale, int(spec.neox), spec.window, spec.scale,
            spec.q_norm.p if spec.q_norm is not None else None,
            spec.k_norm.p if spec.k_norm is not None else None,
            spec.eps, self.threads,
        )  # fmt: skip

    def attention_decode(
        self, spec: AttnSpec, q: Buf, k: Buf, v: Buf, batch: DecodeBatch, layer: int, out: Buf
    ) -> None:
        """`attention` for B sequences with one new token each (rows 0..B-1), in one call."""
        kcs = batch.k + np.uint64(layer) * batch.layer_bytes
        vcs = batch.v + np.uint64(layer) * batch.layer_bytes
        self._attention_decode(
            len(batch.pos0), q.p, q.row_bytes // 4, k.p, k.row_bytes // 4, v.p, v.row_bytes // 4,
            kcs.ctypes.data, vcs.ctypes.data, batch.max_t.ctypes.data, batch.pos0.ctypes.data,
            out.p, spec.n_heads, spec.n_kv_heads, spec.head_dim, spec.rope_dim, spec.rope_base,
            spec.rope_scale, int(spec.neox), spec.window, spec.scale,
            spec.q_norm.p if spec.q_norm is not None else None,
            spec.k_norm.p if spec.k_norm is not None else None,
            spec.eps, self.threads,
        )  # fmt: skip
