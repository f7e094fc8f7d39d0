"""Load a llama GGUF file (SmolLM2, our own exports) into the PyTorch model, for fine-tuning.

Where it comes from: gguf-py's `GGUFReader` and its reference dequantizers
(`gguf.quants.dequantize`), so any quant type gguf-py knows (Q4_1, Q8_0, k-quants, f16 ...)
becomes float32 weights. Hyperparameters come from the `llama.*` keys, the tokenizer from
`tokenizer.ggml.*` (kept verbatim so an export writes the same vocabulary back). GGUF's
`attn_q`/`attn_k` rows are already in the adjacent-pair RoPE layout our model uses, so they load
without permutation (see model.py).

What it does not handle: architectures other than `llama`, SentencePiece (`llama`) vocabularies,
RoPE scaling keys (rejected rather than silently ignored).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

from datashark.config import ModelConfig
from datashark.train.gguf_names import from_gguf
from datashark.train.model import GPT
from datashark.train.tokenizer import TOKEN_NORMAL, GGUFVocab, Tokenizer


def _value(reader: gguf.GGUFReader, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


def read_config(reader: gguf.GGUFReader, path: Path) -> ModelConfig:
    arch = _value(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{path}: architecture {arch!r} is not supported for training (llama)")
    if _value(reader, "llama.rope.scaling.type") not in (None, "none"):
        raise ValueError(f"{path}: RoPE scaling is not supported by the trainer")
    n_heads = int(_value(reader, "llama.attention.head_count"))
    names = {t.name for t in reader.tensors}
    tokens = _value(reader, "tokenizer.ggml.tokens") or []
    return ModelConfig(
        n_layers=int(_value(reader, "llama.block_count")),
        d_model=int(_value(reader, "llama.embedding_length")),
        n_heads=n_heads,
        n_kv_heads=int(_value(reader, "llama.attention.head_count_kv", n_heads)),
        d_ff=int(_value(reader, "llama.feed_forward_length")),
        vocab_size=int(_value(reader, "llama.vocab_size", len(tokens))),
        context_length=int(_value(reader, "llama.context_length", 2048)),
        rope_base=float(_value(reader, "llama.rope.freq_base", 10000.0)),
        norm_eps=float(_value(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5)),
        tie_embeddings="output.weight" not in names,
    )


def read_tokenizer(reader: gguf.GGUFReader, path: Path) -> Tokenizer:
    model = _value(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"{path}: tokenizer model {model!r} is not supported (gpt2 BPE only)")
    tokens = list(_value(reader, "tokenizer.ggml.tokens"))
    types = [int(t) for t in _value(reader, "tokenizer.ggml.token_type", [])]
    extra = {
        key: int(_value(reader, f"tokenizer.ggml.{key}"))
        for key in ("padding_token_id", "unknown_token_id")
        if _value(reader, f"tokenizer.ggml.{key}") is not None
    }
    vocab = GGUFVocab(
        tokens=tokens,
        token_types=types or [TOKEN_NORMAL] * len(tokens),
        merges=list(_value(reader, "tokenizer.ggml.merges", [])),
        pre=str(_value(reader, "tokenizer.ggml.pre", "default")),
        bos_id=_value(reader, "tokenizer.ggml.bos_token_id"),
        eos_id=_value(reader, "tokenizer.ggml.eos_token_id"),
        add_bos=bool(_value(reader, "tokenizer.ggml.add_bos_token", False)),
        chat_template=_value(reader, "tokenizer.chat_template") or "",
        extra=extra,
    )
    return Tokenizer.from_dict({"kind": "gguf", **_vocab_dict(vocab)})


def _vocab_dict(v: GGUFVocab) -> dict[str, Any]:
    return {
        "tokens": v.tokens,
        "token_types": v.token_types,
        "merges": v.merges,
        "pre": v.pre,
        "bos_id": v.bos_id,
        "eos_id": v.eos_id,
        "add_bos": v.add_bos,
        "chat_template": v.chat_template,
        "extra": v.extra,
    }


def load_gguf(path: Path | str, dropout: float = 0.0) -> tuple[GPT, Tokenizer]:
    """The GGUF file's weights (dequantized to float32) in a `GPT`, and its tokenizer."""
    path = Path(path)
    reader = gguf.GGUFReader(str(path))
    cfg = replace(read_config(reader, path), dropout=dropout)
    tok = read_tokenizer(reader, path)
    model = GPT(cfg)
    state = model.state_dict()
    loaded: set[str] = set()
    for t in reader.tensors:
        name = from_gguf(t.name)
        shape = tuple(int(d) for d in reversed(t.shape))  # ggml ne -> (rows, cols)
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(shape)
        if state[name].shape != shape:
            raise ValueError(f"{path}: {t.name} has shape {shape}, expected {state[name].shape}")
        with torch.no_grad():
            state[name].copy_(torch.from_numpy(np.array(arr, dtype=np.float32)))
        loaded.add(name)
    missing = {k for k in state if k not in loaded}
    if cfg.tie_embeddings:
        missing.discard("output.weight")
    if missing:
        raise ValueError(f"{path}: tensors missing for {sorted(missing)[:5]}")
    model.eval()
    return model, tok


def load_init(name_or_path: str, dropout: float = 0.0) -> tuple[GPT, Tokenizer]:
    """`--init`: a DataShark checkpoint (.pt), a GGUF path, or a model name in the cache."""
    if name_or_path.endswith(".pt"):
        from datashark.train.checkpoint import load_model

        model, tok, _ = load_model(name_or_path)
        return model, tok
    from datashark.registry import resolve_model

    return load_gguf(resolve_model(name_or_path), dropout=dropout)
