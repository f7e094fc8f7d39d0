"""The decoder forward pass shared by every family: weights, run state, and one batched step.

Where it comes from: llama2.c's `forward()` (Config / Weights / RunState kept apart) and
llama.cpp's graph builders (`src/models/llama.cpp`, `gemma3.cpp`), whose numerics we match. A
family (`Llama`, `Gemma3`) is a subclass that fixes the variant choices: RoPE layout, GLU kind,
post norms, QK norm, embedding scale, sliding windows, logit softcap.

One call of `forward` runs any mix of sequences: `segments` lists (cache, n) in the order of the
token rows, so a chunk of prefill is one segment of n tokens and a batched decode is B segments of
one token. The matmuls see all rows at once (matrix-matrix kernels); attention runs per segment
against its own cache (a decode step's one-token segments in a single `attention_decode` call).
Logits are computed only for the rows asked for.

Names (one vocabulary, see datashark.config): x (n, d_model) the residual stream; xb its norm;
q (n, n_heads*head_dim), k and v (n, n_kv_heads*head_dim); att (n, n_heads*head_dim) the heads'
outputs; wq wk wv wo the attention projections; w1 (gate), w3 (up), w2 (down) the feed-forward.

Does not handle: biases on projections, MoE, per-layer head counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datashark.engine.arch.fused import ProjectionPlanner
from datashark.engine.arch.kv_cache import KVCache
from datashark.engine.arch.ops import SILU, AttnSpec, Buf, DecodeBatch, Ops
from datashark.engine.config import ModelConfig
from datashark.engine.errors import ModelFormatError
from datashark.engine.tensor import QTensor


@dataclass(frozen=True)
class LayerWeights:
    """One block's tensors (quantized matrices stay QTensor views into the file's mmap)."""

    attn_norm: Buf
    wq: QTensor
    wk: QTensor
    wv: QTensor
    wo: QTensor
    ffn_norm: Buf
    w1: QTensor  # gate
    w2: QTensor  # down
    w3: QTensor  # up
    q_norm: Buf | None = None  # gemma3: RMSNorm per head on q and k
    k_norm: Buf | None = None
    post_attn_norm: Buf | None = None  # gemma3: norm of the attention output before the residual
    post_ffn_norm: Buf | None = None


@dataclass(frozen=True)
class Weights:
    token_embd: QTensor  # (vocab, d_model)
    output_norm: Buf
    output: QTensor  # (vocab, d_model); token_embd itself when tied
    layers: tuple[LayerWeights, ...]


class _TensorReader:
    """Looks up tensors by GGUF name and checks their shapes against the config."""

    def __init__(self, tensors: dict[str, QTensor], path: object) -> None:
        self.tensors, self.path = tensors, path

    def matrix(self, name: str, rows: int, cols: int) -> QTensor:
        t = self.tensors.get(name)
        if t is None:
            raise ModelFormatError(self.path, f"tensor {name!r} is missing")
        if t.shape != (rows, cols):
            raise ModelFormatError(
                self.path, f"tensor {name!r} has shape {t.shape}, expected {(rows, cols)}"
            )
        return t

    def vector(self, name: str, size: int, required: bool = True) -> Buf | None:
        t = self.tensors.get(name)
        if t is None:
            if required:
                raise ModelFormatError(self.path, f"tensor {name!r} is missing")
            return None
        if t.shape != (size,):
            raise ModelFormatError(
                self.path, f"tensor {name!r} has shape {t.shape}, expected {(size,)}"
            )
        return Buf(np.ascontiguousarray(t.dequantize(), dtype=np.float32).reshape(1, size))


class RunState:
    """Scratch activations for up to `capacity` token rows, allocated once per model."""

    def __init__(self, c: ModelConfig, capacity: int) -> None:
        self.capacity = capacity
        self.x = Buf.zeros(capacity, c.d_model)  # residual stream
        self.xb = Buf.zeros(capacity, c.d_model)  # normed input of the next matmul
        self.y = Buf.zeros(capacity, c.d_model)  # output of wo / w2 before the residual add
        self.att = Buf.zeros(capacity, c.q_dim)  # the heads' outputs, input of wo
        self.hg = Buf.zeros(capacity, c.d_ff)  # act(gate) * up, input of w2
        # q, k, v and gate, up live in the Projections' buffers (see fused.py)
        self.xl = Buf.zeros(capacity, c.d_model)  # rows whose logits are wanted
        self.logits = Buf.zeros(1, c.vocab_size)

    def logits_rows(self, n: int, vocab: int) -> Buf:
        if self.logits.a.shape[0] < n:
            self.logits = Buf.zeros(n, vocab)
        return self.logits


class Transformer:
    """A decoder-only transformer over quantized weights; subclasses choose the variant."""

    glu_kind = SILU
    neox_rope = False  # llama.cpp's llama GGUF has Q/K permuted for adjacent-pair ("normal") RoPE
    has_qk_norm = False
    has_post_norms = False

    def __init__(
        self, config: ModelConfig, tensors: dict[str, QTensor], ops: Ops, path: object,
        capacity: int = 128, fuse: bool = True,
    ) -> None:  # fmt: skip
        self.config = config
        self.ops = ops
        self.weights = self._load_weights(config, _TensorReader(tensors, path))
        self.specs = tuple(self._attn_spec(il, lw) for il, lw in enumerate(self.weights.layers))
        self.state = RunState(config, capacity)
        planner = ProjectionPlanner(capacity, fuse=fuse)
        self.qkv = tuple(planner.plan([lw.wq, lw.wk, lw.wv], "qkv") for lw in self.weights.layers)
        self.gate_up = tuple(planner.plan([lw.w1, lw.w3], "ffn") for lw in self.weights.layers)

    # -- variant choices ------------------------------------------------------------------
    @property
    def embed_scale(self) -> float:
        return 1.0

    def _attn_spec(self, il: int, lw: LayerWeights) -> AttnSpec:
        c = self.config
        base, pos_scale = c.layer_rope(il)
        return AttnSpec(
            n_heads=c.n_heads, n_kv_heads=c.n_kv_heads, head_dim=c.head_dim, rope_dim=c.rope_dim,
            rope_base=base, rope_scale=pos_scale, neox=self.neox_rope,
            window=c.sliding_window if c.is_local(il) else 0, scale=c.scale, eps=c.norm_eps,
            q_norm=lw.q_norm, k_norm=lw.k_norm,
        )  # fmt: skip

    def _load_weights(self, c: ModelConfig, r: _TensorReader) -> Weights:
        d, hd = c.d_model, c.head_dim
        layers = []
        for il in range(c.n_layers):
            p = f"blk.{il}."
            layers.append(
                LayerWeights(
                    attn_norm=r.vector(p + "attn_norm.weight", d),
                    wq=r.matrix(p + "attn_q.weight", c.q_dim, d),
                    wk=r.matrix(p + "attn_k.weight", c.kv_dim, d),
                    wv=r.matrix(p + "attn_v.weight", c.kv_dim, d),
                    wo=r.matrix(p + "attn_output.weight", d, c.q_dim),
                    ffn_norm=r.vector(p + "ffn_norm.weight", d),
                    w1=r.matrix(p + "ffn_gate.weight", c.d_ff, d),
                    w2=r.matrix(p + "ffn_down.weight", d, c.d_ff),
                    w3=r.matrix(p + "ffn_up.weight", c.d_ff, d),
                    q_norm=r.vector(p + "attn_q_norm.weight", hd) if self.has_qk_norm else None,
                    k_norm=r.vector(p + "attn_k_norm.weight", hd) if self.has_qk_norm else None,
                    post_attn_norm=(
                        r.vector(p + "post_attention_norm.weight", d)
                        if self.has_post_norms
                        else None
                    ),
                    post_ffn_norm=(
                        r.vector(p + "post_ffw_norm.weight", d) if self.has_post_norms else None
                    ),
                )  # type: ignore[arg-type]
            )
        token_embd = r.matrix("token_embd.weight", c.vocab_size, d)
        output = token_embd if c.tied_embeddings else r.matrix("output.weight", c.vocab_size, d)
        output_norm = r.vector("output_norm.weight", d)
        assert output_norm is not None
        return Weights(token_embd, output_norm, output, tuple(layers))

    # -- the forward pass -----------------------------------------------------------------
    def forward(
        self, ids: np.ndarray, segments: list[tuple[KVCache, int]], logit_rows: list[int]
    ) -> np.ndarray:
        """Run len(ids) <= capacity token rows; returns logits (len(logit_rows), vocab), a copy.

        segments: (cache, n) per sequence, rows in order; each cache's positions n_tokens ..
        n_tokens + n - 1 are filled and its n_tokens advanced. The caller checks ids and room.
        """
        c, ops, s, W = self.config, self.ops, self.state, self.weights
        n, eps = len(ids), c.norm_eps
        ops.embed(W.token_embd, ids, s.x, self.embed_scale)  # x (n, d)
        ops.rmsnorm(s.x, W.layers[0].attn_norm, s.xb, n, eps)  # xb = norm(x)
        # a decode step (one token per sequence) attends for all its sequences in one call
        batch = DecodeBatch.of([c for c, _ in segments]) if n == len(segments) > 1 else None
        for il, lw in enumerate(W.layers):
            # attention: project (q, k, v: one fused matmul when the types allow), then each
            # segment attends over its own cache
            for w, out in self.qkv[il].jobs:
                ops.matmul(w, s.xb, out, n)  # q (n, n_heads*hd) | k, v (n, n_kv*hd)
            q, k, v = self.qkv[il].outputs
            spec, row = self.specs[il], 0
            if batch is not None:
                ops.attention_decode(spec, q, k, v, batch, il, s.att)
            else:
                for cache, m in segments:
                    ops.attention(spec, q, k, v, row, m, cache, il, cache.n_tokens, s.att)
                    row += m
            ops.matmul(lw.wo, s.att, s.y, n)  # (n, d)
            # x += (norm of) attention output; xb = norm(x) for the feed-forward
            ops.residual_norm(s.x, s.y, lw.post_attn_norm, lw.ffn_norm, s.xb, n, eps)
            # feed-forward: w2(act(w1 xb) * w3 xb)
            for w, out in self.gate_up[il].jobs:
                ops.matmul(w, s.xb, out, n)  # gate | up (n, d_ff)
            gate, up = self.gate_up[il].outputs
            ops.glu(gate, up, s.hg, n, self.glu_kind)
            ops.matmul(lw.w2, s.hg, s.y, n)  # (n, d)
            next_norm = W.layers[il + 1].attn_norm if il + 1 < c.n_layers else W.output_norm
            ops.residual_norm(s.x, s.y, lw.post_ffn_norm, next_norm, s.xb, n, eps)
        for cache, m in segments:
            cache.n_tokens += m
        # logits of the wanted rows only: xb already holds norm(x) with output_norm
        k = len(logit_rows)
        if k == 0:
            return np.empty((0, c.vocab_size), dtype=np.float32)
        if logit_rows == list(range(k)):
            xl = s.xb
        else:
            s.xl.a[:k] = s.xb.a[logit_rows]
            xl = s.xl
        out = s.logits_rows(k, c.vocab_size)
        ops.matmul(W.output, xl, out, k)
        logits = out.a[:k].copy()
        if c.final_logit_softcap > 0:
            cap = np.float32(c.final_logit_softcap)
            np.tanh(logits / cap, out=logits)
            logits *= cap
        return logits
