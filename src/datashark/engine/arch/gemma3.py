"""The `gemma3` family (Gemma 3 270M and up, text only).

Where it comes from: llama.cpp `src/models/gemma3.cpp` and `llama-model.cpp` (LLM_ARCH_GEMMA3).
x = embed(ids) * sqrt(d_model); per block:
  h = norm(x); q, k = rope(norm_q(wq h)), rope(norm_k(wk h))      # QK norm per head
  x += post_attn_norm(wo(attention(q * scale, k, wv h)))           # scale = 1/sqrt(head_dim)
  x += post_ffn_norm(w2(gelu_tanh(w1 norm(x)) * w3 norm(x)))       # GeGLU
logits = output(norm(x)). Five of six layers attend over a sliding window (local RoPE base
10000), every sixth globally (the file's rope base). RMSNorm weights are used as stored: the GGUF
converter already adds Gemma's `1 +` to every norm weight.

Does not handle: vision inputs, attention logit softcapping (Gemma 2), Gemma 3n.
"""

from __future__ import annotations

import math

import numpy as np

from datashark.engine.arch.ops import GELU
from datashark.engine.arch.transformer import Transformer


class Gemma3(Transformer):
    """Sliding-window + global layers, QK norm, GeGLU, pre and post norms, scaled embeddings."""

    glu_kind = GELU
    neox_rope = True
    has_qk_norm = True
    has_post_norms = True

    @property
    def embed_scale(self) -> float:
        return float(np.float32(math.sqrt(self.config.d_model)))
