"""The `llama` family (SmolLM2, TinyLlama, DataShark's own exports).

Where it comes from: llama.cpp `src/models/llama.cpp`. x = embed(ids); per block:
x += wo(attention(rope(wq norm(x)), rope(wk norm(x)), wv norm(x))); x += w2(silu(w1 h) * w3 h)
with h = norm(x); logits = output(norm(x)). RoPE rotates adjacent pairs (2i, 2i+1): llama.cpp's
converter permutes the Q/K rows of HF checkpoints into that layout ("normal" rope mode).

Does not handle: llama3 RoPE frequency scaling, attention/MLP biases (Qwen2-style).
"""

from __future__ import annotations

from datashark.engine.arch.ops import SILU
from datashark.engine.arch.transformer import Transformer


class Llama(Transformer):
    """Pre-norm blocks, GQA, SwiGLU, RoPE on adjacent pairs, tied or separate output."""

    glu_kind = SILU
    neox_rope = False
    has_qk_norm = False
    has_post_norms = False
