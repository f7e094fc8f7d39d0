"""Engine logits vs an independent float64 NumPy reference on tiny random GGUF files.

The files are written here with gguf-py's GGUFWriter (llama and gemma3, F32 and quantized
weights). The reference below is written from the papers' equations (RMSNorm, RoPE on adjacent
pairs / on halves, grouped-query attention with a causal + sliding-window mask, SwiGLU / GeGLU,
Gemma's QK norm, post norms and sqrt(d) embedding scale) in float64 and shares no code with the
engine: weights are expanded with gguf-py's own dequantize.

For quantized weights the engine, like llama.cpp, multiplies by activations rounded to 8 bits per
block of 32 (llama.cpp's Q8_0: q = round-half-even(x * 127 / max|x|), scale max|x| / 127 stored
as float16); the reference applies that same rounding to its float64 activations before each
quantized matmul, so what is compared is the arithmetic, not the rounding scheme. Q4_1's offset
term is computed as llama.cpp does, m times the block's s = fp16(unrounded scale * sum(q)).

Checked: one pass over the whole prompt (no cache reuse), token-by-token decode through the KV
cache, small prefill chunks, and a batch of sequences of different lengths in one forward pass;
on the C path and on the NumPy path. Relative error = max |engine - ref| / max |ref| < 1e-4.
Keys and values are rounded to float16 in the reference as the engine's KV cache stores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

from datashark.engine.arch.ops import native_ops_available
from datashark.engine.model import Model

TOL = 1e-4
FLOAT_TYPES = (QT.F32, QT.F16, QT.BF16)


@dataclass(frozen=True)
class Tiny:
    arch: str
    n_layers: int
    d: int
    n_heads: int
    n_kv: int
    head_dim: int
    d_ff: int
    vocab: int
    rope_base: float = 10000.0
    window: int = 0  # gemma3 sliding window
    pattern: int = 0  # gemma3: every pattern-th layer is global
    rope_base_local: float = 10000.0
    tied: bool = True
    eps: float = 1e-5


TINY_LLAMA = Tiny("llama", 2, 64, 4, 2, 16, 96, 97, rope_base=500.0, tied=False)
# head_dim 64: the C attention takes its register-blocked path (multiples of 64)
TINY_GEMMA = Tiny("gemma3", 3, 64, 2, 1, 64, 128, 101, rope_base=1e6, window=4, pattern=3, eps=1e-6)


def write_tiny(path: Path, cfg: Tiny, qtype: QT, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a random model; returns the float64 weights the file really holds (after rounding)."""
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), cfg.arch)
    a = cfg.arch
    w.add_uint32(f"{a}.block_count", cfg.n_layers)
    w.add_uint32(f"{a}.context_length", 64)
    w.add_uint32(f"{a}.embedding_length", cfg.d)
    w.add_uint32(f"{a}.feed_forward_length", cfg.d_ff)
    w.add_uint32(f"{a}.attention.head_count", cfg.n_heads)
    w.add_uint32(f"{a}.attention.head_count_kv", cfg.n_kv)
    w.add_float32(f"{a}.rope.freq_base", cfg.rope_base)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", cfg.eps)
    w.add_uint32(f"{a}.vocab_size", cfg.vocab)
    if a == "gemma3":
        w.add_uint32(f"{a}.attention.key_length", cfg.head_dim)
        w.add_uint32(f"{a}.attention.value_length", cfg.head_dim)
        w.add_uint32(f"{a}.attention.sliding_window", cfg.window)
        w.add_uint32(f"{a}.attention.sliding_window_pattern", cfg.pattern)
    weights: dict[str, np.ndarray] = {}

    def matrix(name: str, rows: int, cols: int, scale: float) -> None:
        x = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        if qtype == QT.F32:
            w.add_tensor(name, x)
            weights[name] = x.astype(np.float64)
        else:
            q = gguf.quants.quantize(x, qtype)
            w.add_tensor(name, q, raw_dtype=qtype)
            weights[name] = gguf.quants.dequantize(q, qtype).astype(np.float64).reshape(rows, cols)
            if qtype == QT.Q4_1:  # its offsets m (rows, blocks): a separate term in the kernels
                m = q.reshape(rows, -1, 20)[:, :, 2:4].copy().view(np.float16)[..., 0]
                weights[name + ":m"] = m.astype(np.float64)

    def vector(name: str, size: int) -> None:
        x = (1.0 + 0.2 * rng.standard_normal(size)).astype(np.float32)
        w.add_tensor(name, x)
        weights[name] = x.astype(np.float64)

    q_dim, kv_dim = cfg.n_heads * cfg.head_dim, cfg.n_kv * cfg.head_dim
    matrix("token_embd.weight", cfg.vocab, cfg.d, 1.0 if a == "llama" else 0.2)
    for il in range(cfg.n_layers):
        p = f"blk.{il}."
        vector(p + "attn_norm.weight", cfg.d)
        matrix(p + "attn_q.weight", q_dim, cfg.d, 1 / math.sqrt(cfg.d))
        matrix(p + "attn_k.weight", kv_dim, cfg.d, 1 / math.sqrt(cfg.d))
        matrix(p + "attn_v.weight", kv_dim, cfg.d, 1 / math.sqrt(cfg.d))
        matrix(p + "attn_output.weight", cfg.d, q_dim, 1 / math.sqrt(q_dim))
        vector(p + "ffn_norm.weight", cfg.d)
        matrix(p + "ffn_gate.weight", cfg.d_ff, cfg.d, 1 / math.sqrt(cfg.d))
        matrix(p + "ffn_up.weight", cfg.d_ff, cfg.d, 1 / math.sqrt(cfg.d))
        matrix(p + "ffn_down.weight", cfg.d, cfg.d_ff, 1 / math.sqrt(cfg.d_ff))
        if a == "gemma3":
            vector(p + "attn_q_norm.weight", cfg.head_dim)
            vector(p + "attn_k_norm.weight", cfg.head_dim)
            vector(p + "post_attention_norm.weight", cfg.d)
            vector(p + "post_ffw_norm.weight", cfg.d)
    vector("output_norm.weight", cfg.d)
    if not cfg.tied:
        matrix("output.weight", cfg.vocab, cfg.d, 1 / math.sqrt(cfg.d))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return weights


# -- the float64 reference -------------------------------------------------------------------
def rmsnorm(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


class Q8:
    """Activations as the quantized kernels see them (llama.cpp's Q8_0): 8-bit per block of 32,
    q = round(x * 127 / max|x|), scale max|x| / 127 stored as float16.

    Also records how close any value came to a rounding tie (x * 127 / max|x| = k + 1/2, or the
    scale halfway between two float16 values), relative to the value: the engine works in
    float32, so at a near-tie it may round the other way, which moves one activation by a whole
    step, or a block by a float16 step (~1e-3 of the logits). Comparisons use inputs whose
    reference stays clear of ties (`margin`) by far more than float32 rounding can move a value."""

    def __init__(self) -> None:
        self.margin = math.inf

    def __call__(self, x: np.ndarray) -> np.ndarray:
        b = x.reshape(*x.shape[:-1], -1, 32)
        amax = np.abs(b).max(axis=-1, keepdims=True)
        d32 = amax / 127.0
        d = d32.astype(np.float16).astype(np.float64)  # the scale is stored as float16
        _, e = np.frexp(np.where(d32 > 0, d32, 1.0))
        ulp = np.ldexp(1.0, np.maximum(e - 11, -24))  # float16 spacing around d32
        f16_tie = (
            np.abs(np.abs(d32 / ulp - np.floor(d32 / ulp)) - 0.5)
            * ulp
            / np.where(d32 > 0, d32, 1.0)
        )
        t = b * np.where(amax > 0, 127.0 / np.where(amax > 0, amax, 1.0), 0.0)
        tie = np.abs(np.abs(t - np.floor(t)) - 0.5) / (np.abs(t) + 1.0)
        self.margin = min(self.margin, float(tie.min()), float(f16_tie.min()))
        q = np.round(t)
        # ggml's Q8_1 s (read by Q4_1's offset term): unrounded scale x sum(q), as float16
        self.s = (d32[..., 0] * q.sum(axis=-1)).astype(np.float16).astype(np.float64)
        return (q * d).reshape(x.shape)


def f16(x: np.ndarray) -> np.ndarray:
    """Values as the KV cache stores them: IEEE float16, round to nearest even. (float32 can
    move a value across a float16 rounding boundary here and there; one float16 step of one key
    or value changes the logits by far less than the tolerance.)"""
    return x.astype(np.float16).astype(np.float64)


def rope(x: np.ndarray, pos: np.ndarray, base: float, halves: bool) -> np.ndarray:
    """x (T, heads, hd); rotate pairs (2i, 2i+1) [RoFormer] or (i, i + hd/2) [GPT-NeoX form]."""
    hd = x.shape[-1]
    theta = pos[:, None] * base ** (-np.arange(0, hd, 2) / hd)  # (T, hd/2)
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    if halves:
        a, b = x[..., : hd // 2], x[..., hd // 2 :]
    else:
        a, b = x[..., 0::2], x[..., 1::2]
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = np.empty_like(x)
    if halves:
        out[..., : hd // 2], out[..., hd // 2 :] = ra, rb
    else:
        out[..., 0::2], out[..., 1::2] = ra, rb
    return out


def reference_logits(
    W: dict[str, np.ndarray], cfg: Tiny, ids: list[int], quantized: bool, q8: Q8 | None = None
) -> np.ndarray:
    """Logits (T, vocab) of every position, float64, attention over the whole prefix."""
    q8 = q8 or Q8()

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        w, m = W[name], W.get(name + ":m")
        if not quantized:
            return x @ w.T
        if m is None:
            return q8(x) @ w.T
        # Q4_1 (w = d q + m per block), as llama.cpp: (d q) . x_q + m * s, s rounded to float16
        xq = q8(x)
        return xq @ (w - np.repeat(m, 32, axis=1)).T + q8.s @ m.T

    gemma = cfg.arch == "gemma3"
    T, H, Hkv, hd = len(ids), cfg.n_heads, cfg.n_kv, cfg.head_dim
    x = W["token_embd.weight"][ids]
    if gemma:
        x = x * math.sqrt(cfg.d)
    pos = np.arange(T, dtype=np.float64)
    for il in range(cfg.n_layers):
        p = f"blk.{il}."
        local = gemma and il % cfg.pattern < cfg.pattern - 1
        h = rmsnorm(x, W[p + "attn_norm.weight"], cfg.eps)
        q = linear(h, p + "attn_q.weight").reshape(T, H, hd)
        k = linear(h, p + "attn_k.weight").reshape(T, Hkv, hd)
        v = linear(h, p + "attn_v.weight").reshape(T, Hkv, hd)
        if gemma:
            q = rmsnorm(q, W[p + "attn_q_norm.weight"], cfg.eps)
            k = rmsnorm(k, W[p + "attn_k_norm.weight"], cfg.eps)
        base = cfg.rope_base_local if local else cfg.rope_base
        q, k = rope(q, pos, base, halves=gemma), rope(k, pos, base, halves=gemma)
        k, v = f16(k), f16(v)  # the KV cache stores float16 (like llama.cpp's)
        i, j = np.arange(T)[:, None], np.arange(T)[None, :]
        mask = j <= i
        if local:
            mask &= i - j < cfg.window
        att = np.empty((T, H, hd))
        for head in range(H):
            kv = head // (H // Hkv)  # grouped-query attention: heads share kv heads
            s = q[:, head] @ k[:, kv].T / math.sqrt(hd)
            s = np.where(mask, s, -np.inf)
            pr = np.exp(s - s.max(axis=-1, keepdims=True))
            pr /= pr.sum(axis=-1, keepdims=True)
            att[:, head] = pr @ v[:, kv]
        o = linear(att.reshape(T, H * hd), p + "attn_output.weight")
        if gemma:
            o = rmsnorm(o, W[p + "post_attention_norm.weight"], cfg.eps)
        x = x + o
        h = rmsnorm(x, W[p + "ffn_norm.weight"], cfg.eps)
        g = linear(h, p + "ffn_gate.weight")
        u = linear(h, p + "ffn_up.weight")
        if gemma:
            act = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g**3)))
        else:
            act = g / (1 + np.exp(-g))
        f = linear(act * u, p + "ffn_down.weight")
        if gemma:
            f = rmsnorm(f, W[p + "post_ffw_norm.weight"], cfg.eps)
        x = x + f
    x = rmsnorm(x, W["output_norm.weight"], cfg.eps)
    return linear(x, "token_embd.weight" if cfg.tied else "output.weight")


TIE_MARGIN = 2e-6  # float32 moves x/d by ~3e-7 relative here (measured); keep 7x clear of ties


def well_conditioned_prompts(
    W: dict[str, np.ndarray], cfg: Tiny, quantized: bool, lengths: tuple[int, ...]
) -> tuple[list[list[int]], list[np.ndarray]]:
    """Random prompts (and their reference logits) that keep every rounding clear of a tie."""
    rng = np.random.default_rng(1)
    prompts, refs = [], []
    for n in lengths:
        for _ in range(200):
            ids = rng.integers(0, cfg.vocab, size=n).tolist()
            q8 = Q8()
            ref = reference_logits(W, cfg, ids, quantized, q8)
            if q8.margin > TIE_MARGIN:
                prompts.append(ids)
                refs.append(ref)
                break
        else:
            pytest.fail(f"no prompt of {n} tokens keeps its roundings clear of ties")
    return prompts, refs


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max())


# -- the tests -------------------------------------------------------------------------------
BACKENDS = [
    pytest.param(True, id="native"),
    pytest.param(False, id="numpy"),
]
CASES = [
    pytest.param(TINY_LLAMA, QT.F32, id="llama-f32"),
    pytest.param(TINY_LLAMA, QT.Q8_0, id="llama-q8_0"),
    pytest.param(TINY_LLAMA, QT.Q4_1, id="llama-q4_1"),
    pytest.param(TINY_GEMMA, QT.F32, id="gemma3-f32"),
    pytest.param(TINY_GEMMA, QT.Q5_0, id="gemma3-q5_0"),
]


@pytest.fixture(params=BACKENDS)
def use_native(request: pytest.FixtureRequest) -> bool:
    if request.param and not native_ops_available():
        pytest.fail("the native kernels are not built: run `pip install -e .` (setup.py)")
    return bool(request.param)


@pytest.mark.parametrize(("cfg", "qtype"), CASES)
def test_logits_match_float64_reference(tmp_path: Path, cfg: Tiny, qtype: QT, use_native: bool):
    path = tmp_path / "tiny.gguf"
    W = write_tiny(path, cfg, qtype)
    quantized = qtype not in FLOAT_TYPES
    prompts, refs = well_conditioned_prompts(W, cfg, quantized, (9, 3, 6))
    model = Model.load(path, threads=2, native=use_native, capacity=16)
    assert model.config.arch == cfg.arch
    assert model.transformer.ops.native is use_native

    # 1. no cache reuse: the whole prompt in one forward pass, logits at every position
    ids = prompts[0]
    seq = model.new_sequence(32)
    rows = list(range(len(ids)))
    full = model.transformer.forward(np.array(ids), [(seq.cache, len(ids))], rows)
    assert rel_err(full, refs[0]) < TOL

    # 2. through the KV cache: first token by prefill, then one decode per token
    seq = model.new_sequence(32)
    got = [model.prefill(seq, ids[:1])]
    got += [model.decode([seq], [t])[0] for t in ids[1:]]
    assert seq.n_tokens == len(ids)
    assert rel_err(np.stack(got), refs[0]) < TOL

    # 3. prefill in chunks of 4 (capacity) gives the last position's logits
    small = Model.load(path, threads=2, native=use_native, capacity=4)
    seq = small.new_sequence(len(ids))
    assert rel_err(small.prefill(seq, ids), refs[0][-1]) < TOL

    # 4. batched: sequences of different lengths advance together, one forward pass per step
    seqs = [model.new_sequence(16) for _ in prompts]
    for s, p in zip(seqs, prompts, strict=True):
        model.prefill(s, p[:2])
    step = 2
    while any(step < len(p) for p in prompts):
        live = [i for i, p in enumerate(prompts) if step < len(p)]
        logits = model.decode([seqs[i] for i in live], [prompts[i][step] for i in live])
        assert logits.shape == (len(live), cfg.vocab)
        for row, i in enumerate(live):
            assert rel_err(logits[row], refs[i][step]) < TOL, (i, step)
        step += 1


@pytest.mark.parametrize(("cfg", "qtype"), [CASES[0], CASES[3]])
def test_native_equals_numpy_path(tmp_path: Path, cfg: Tiny, qtype: QT):
    """The C ops and the NumPy ops agree (float weights: no activation rounding involved)."""
    if not native_ops_available():
        pytest.fail("the native kernels are not built: run `pip install -e .` (setup.py)")
    path = tmp_path / "tiny.gguf"
    write_tiny(path, cfg, qtype, seed=3)
    ids = np.random.default_rng(2).integers(0, cfg.vocab, size=9).tolist()
    out = []
    for use_native in (True, False):
        model = Model.load(path, threads=2, native=use_native)
        seq = model.new_sequence(16)
        out.append(np.stack([model.prefill(seq, ids[:5]), model.decode([seq], [ids[5]])[0]]))
    np.testing.assert_allclose(out[0], out[1], rtol=0, atol=1e-5 * np.abs(out[1]).max())


def test_sliding_window_is_applied(tmp_path: Path):
    """12 tokens with a window of 4: the engine matches the windowed reference and is far from
    the same model attending over everything (so the window is really exercised)."""
    path = tmp_path / "tiny.gguf"
    W = write_tiny(path, TINY_GEMMA, QT.F32)
    ids = list(range(1, 13))
    ref = reference_logits(W, TINY_GEMMA, ids, quantized=False)
    no_window = reference_logits(W, replace(TINY_GEMMA, window=10**6), ids, quantized=False)
    model = Model.load(path, threads=2)
    seq = model.new_sequence(16)
    logits = model.transformer.forward(np.array(ids), [(seq.cache, len(ids))], list(range(12)))
    assert rel_err(logits, ref) < TOL
    assert rel_err(logits, no_window) > 1e-3
