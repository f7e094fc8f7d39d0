"""A llama-shaped decoder in PyTorch: RMSNorm, RoPE, grouped-query attention, SwiGLU, tied
embeddings, dropout.

Where it comes from: Meta's llama reference `model.py` and Karpathy's nanoGPT/llama2.c. Names are
the project's one vocabulary (docs/training.md): `tok_embeddings (V, C)`, per block
`attention_norm`, `wq (nh*hs, C)`, `wk (nkv*hs, C)`, `wv (nkv*hs, C)`, `wo (C, nh*hs)`,
`ffn_norm`, `w1 (F, C)` gate, `w3 (F, C)` up, `w2 (C, F)` down; final `norm`, `output (V, C)`
(tied to the embedding unless configured otherwise).

RoPE rotates adjacent pairs (x[2i], x[2i+1]) — Meta's original layout, which is also the layout of
`wq`/`wk` inside llama GGUF files (llama.cpp's converter permutes Hugging Face's half-split
weights into it). Because our model uses that layout natively, weights move between this model and
GGUF without any Q/K permutation in either direction.

What it does not handle: KV caching (inference runs in `datashark.engine`), RoPE scaling.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from datashark.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope_tables(head_dim: int, length: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (length, head_dim // 2), for rotating pairs (2i, 2i+1)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs of x (B, T, h, hs) by the angles of positions 0..T-1."""
    B, T, h, hs = x.shape
    xp = x.float().view(B, T, h, hs // 2, 2)  # (B, T, h, hs/2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    c = cos[:T].view(1, T, 1, hs // 2)
    s = sin[:T].view(1, T, 1, hs // 2)
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)  # (B, T, h, hs/2, 2)
    return out.flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        nh, nkv, hs = self.n_heads, self.n_kv_heads, self.head_dim
        # project to queries, keys, values
        q = self.wq(x).view(B, T, nh, hs)  # (B, T, nh, hs)
        k = self.wk(x).view(B, T, nkv, hs)  # (B, T, nkv, hs)
        v = self.wv(x).view(B, T, nkv, hs)  # (B, T, nkv, hs)
        # rotate queries and keys by position
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # share each key/value head among nh // nkv query heads (GQA)
        if nkv != nh:
            k = k.repeat_interleave(nh // nkv, dim=2)  # (B, T, nh, hs)
            v = v.repeat_interleave(nh // nkv, dim=2)  # (B, T, nh, hs)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        # causal scaled dot-product attention
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, nh * hs)  # (B, T, C)
        return self.resid_dropout(self.wo(y))


class SwiGLU(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)  # gate
        self.w2 = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)  # down
        self.w3 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)  # up
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.feed_forward = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class GPT(nn.Module):
    """Decoder-only transformer; `forward(idx (B, T)) -> logits (B, T, V)`."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rope_tables(cfg.head_dim, cfg.context_length, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream
        for name, p in self.named_parameters():
            if name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if T > self.cfg.context_length:
            raise ValueError(f"sequence of {T} tokens exceeds context {self.cfg.context_length}")
        x = self.dropout(self.tok_embeddings(idx))  # (B, T, C)
        for layer in self.layers:
            x = layer(x, self.rope_cos, self.rope_sin)  # (B, T, C)
        return self.output(self.norm(x)).float()  # (B, T, V)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy (nats) of `targets` (B, T) given `idx` (B, T)."""
        logits = self(idx)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))

    @torch.no_grad()
    def generate(
        self,
        idx: list[int],
        max_new_tokens: int,
        temperature: float = 0.8,
        top_k: int = 0,
        stop_ids: frozenset[int] = frozenset(),
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Sample a continuation of `idx` (no KV cache: for evaluation of small models)."""
        out = list(idx)
        device = self.tok_embeddings.weight.device
        for _ in range(max_new_tokens):
            window = torch.tensor([out[-self.cfg.context_length :]], device=device)
            logits = self(window)[0, -1]
            if temperature <= 0:
                nxt = int(logits.argmax())
            else:
                logits = logits / temperature
                if top_k:
                    kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, dim=-1)
                nxt = int(torch.multinomial(probs, 1, generator=generator))
            out.append(nxt)
            if nxt in stop_ids:
                break
        return out[len(idx) :]
