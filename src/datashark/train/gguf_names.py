"""The one table between our PyTorch parameter names and llama GGUF tensor names.

Shapes (PyTorch `nn.Linear` weight = (out, in), which is GGUF's row-major (rows, cols) and ggml's
`ne = [cols, rows]`): `tok_embeddings (V, C)`, `wq (nh*hs, C)`, `wk`/`wv (nkv*hs, C)`,
`wo (C, nh*hs)`, `w1`/`w3 (F, C)`, `w2 (C, F)`, norms `(C,)`. Used by `export.py` (to GGUF) and
`gguf_import.py` (from GGUF); nothing else in either direction is renamed or permuted.
"""

from __future__ import annotations

GLOBAL_NAMES = {
    "tok_embeddings.weight": "token_embd.weight",
    "norm.weight": "output_norm.weight",
    "output.weight": "output.weight",
}

BLOCK_NAMES = {
    "attention_norm.weight": "attn_norm.weight",
    "attention.wq.weight": "attn_q.weight",
    "attention.wk.weight": "attn_k.weight",
    "attention.wv.weight": "attn_v.weight",
    "attention.wo.weight": "attn_output.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "feed_forward.w1.weight": "ffn_gate.weight",
    "feed_forward.w2.weight": "ffn_down.weight",
    "feed_forward.w3.weight": "ffn_up.weight",
}


def to_gguf(name: str) -> str:
    """GGUF tensor name of one of our parameter names."""
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    prefix, index, rest = name.split(".", 2)
    if prefix != "layers" or rest not in BLOCK_NAMES:
        raise KeyError(f"no GGUF name for parameter {name!r}")
    return f"blk.{index}.{BLOCK_NAMES[rest]}"


def from_gguf(name: str) -> str:
    """Our parameter name of a llama GGUF tensor name."""
    for ours, theirs in GLOBAL_NAMES.items():
        if name == theirs:
            return ours
    parts = name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk":
        for ours, theirs in BLOCK_NAMES.items():
            if parts[2] == theirs:
                return f"layers.{parts[1]}.{ours}"
    raise KeyError(f"GGUF tensor {name!r} is not part of the llama architecture we load")
