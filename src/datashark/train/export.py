"""Export a trained model to GGUF (`llama` architecture), quantized to f32, f16, q8_0 or q4_0.

Where it comes from: llama.cpp's `convert_hf_to_gguf.py`, using gguf-py's `GGUFWriter` and its
bit-exact reference quantizers (`gguf.quants.quantize`). Writes the `llama.*` hyperparameters, the
tokenizer (`tokenizer.ggml.model = gpt2`, tokens, types, merges, pre-tokenizer name, BOS/EOS) and
a ChatML chat template, so llama.cpp, Ollama and `datashark.engine` load the file as it is.

Quantization rule (see QUANT_RULES): 2-D weights take the requested type when their row length is
a multiple of its block size (32 for q8_0/q4_0), otherwise f32; norms stay f32. With q4_0 the
token embedding (also the tied output matrix) is stored as q8_0, as in SmolLM2's published Q4
files, because its errors reach every logit. No Q/K permutation is needed (see model.py).

What it does not handle: k-quants (q4_k, q6_k ...), SentencePiece vocabularies, LoRA adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from datashark.train.gguf_names import to_gguf
from datashark.train.model import GPT
from datashark.train.tokenizer import Tokenizer

Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class QuantRule:
    weights: gguf.GGMLQuantizationType
    embedding: gguf.GGMLQuantizationType
    file_type: gguf.LlamaFileType


QUANT_RULES: dict[str, QuantRule] = {
    "f32": QuantRule(Q.F32, Q.F32, gguf.LlamaFileType.ALL_F32),
    "f16": QuantRule(Q.F16, Q.F16, gguf.LlamaFileType.MOSTLY_F16),
    "q8_0": QuantRule(Q.Q8_0, Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    "q4_0": QuantRule(Q.Q4_0, Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q4_0),
}


def _encode(arr: np.ndarray, qtype: gguf.GGMLQuantizationType) -> tuple[np.ndarray, Q]:
    """The tensor's bytes in `qtype`, or f32 when it cannot be stored that way."""
    if arr.ndim < 2 or qtype == Q.F32:
        return arr.astype(np.float32), Q.F32
    if qtype == Q.F16:
        return arr.astype(np.float16), Q.F16
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if arr.shape[-1] % block:
        return arr.astype(np.float32), Q.F32
    return gguf.quants.quantize(arr.astype(np.float32), qtype), qtype


def export_gguf(
    model: GPT, tok: Tokenizer, out: Path, quant: str = "f32", name: str = "datashark"
) -> Path:
    """Write `model` + `tok` as a llama GGUF file at `out`."""
    if quant not in QUANT_RULES:
        raise ValueError(f"unknown quantization {quant!r}; choose {', '.join(QUANT_RULES)}")
    rule = QUANT_RULES[quant]
    cfg = model.cfg
    if tok.vocab_size != cfg.vocab_size:
        raise ValueError(f"tokenizer has {tok.vocab_size} tokens, model {cfg.vocab_size}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(name)
    w.add_context_length(cfg.context_length)
    w.add_embedding_length(cfg.d_model)
    w.add_block_count(cfg.n_layers)
    w.add_feed_forward_length(cfg.d_ff)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_rope_freq_base(cfg.rope_base)
    w.add_layer_norm_rms_eps(cfg.norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(rule.file_type)

    v = tok.vocab
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(v.pre)
    w.add_token_list(v.tokens)
    w.add_token_types(v.token_types)
    w.add_token_merges(v.merges)
    if v.bos_id is not None:
        w.add_bos_token_id(v.bos_id)
    if v.eos_id is not None:
        w.add_eos_token_id(v.eos_id)
    for key in ("padding_token_id", "unknown_token_id"):
        if key in v.extra:
            w.add_uint32(f"tokenizer.ggml.{key}", int(v.extra[key]))
    w.add_add_bos_token(v.add_bos)
    w.add_chat_template(v.chat_template)

    state = model.state_dict()
    for pname, tensor in state.items():
        if pname == "output.weight" and cfg.tie_embeddings:
            continue  # tied: llama.cpp reuses token_embd for the output projection
        arr = tensor.detach().float().cpu().numpy()
        want = rule.embedding if pname == "tok_embeddings.weight" else rule.weights
        data, qtype = _encode(arr, want)
        w.add_tensor(to_gguf(pname), data, raw_dtype=qtype)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
