"""Byte-level BPE (and byte-level "character" tokenizer) for training, in a form llama.cpp reads.

Where it comes from: GPT-2's byte-level BPE, trained with Hugging Face `tokenizers`. The
pre-tokenizer is GPT-2's regex (`tokenizers`' ByteLevel with `use_regex=True`), which llama.cpp
knows as pre-tokenizer `gpt-2`, so an exported GGUF carries `tokenizer.ggml.model = gpt2`, the
vocabulary, the merges and `tokenizer.ggml.pre = gpt-2`, and llama.cpp, Ollama and our engine
split text the same way we did in training.

`kind="char"` is the seed model's character-level option: the same byte-level model with no
merges, one token per byte (256 + special tokens). Special tokens are ChatML's: `<|endoftext|>`
(document separator, BOS and EOS), `<|im_start|>`, `<|im_end|>`.

A tokenizer can also be rebuilt from a GGUF file's `tokenizer.ggml.*` metadata (fine-tuning with
`--init`); the original metadata is kept and written back unchanged on export. What it does not
handle: SentencePiece (`llama` tokenizer model) GGUF files, and pre-tokenizers other than GPT-2's
and SmolLM's (digits split one by one) — others fall back to GPT-2's regex for encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3  # llama.cpp's token types


@dataclass
class GGUFVocab:
    """Tokenizer metadata as GGUF stores it (`tokenizer.ggml.*`)."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str = "gpt-2"
    bos_id: int | None = 0
    eos_id: int | None = 0
    add_bos: bool = False
    chat_template: str = CHATML_TEMPLATE
    extra: dict[str, Any] = field(default_factory=dict)


class Tokenizer:
    """A byte-level BPE tokenizer with its GGUF vocabulary."""

    def __init__(self, hf: HFTokenizer, vocab: GGUFVocab, kind: str) -> None:
        self.hf = hf
        self.vocab = vocab
        self.kind = kind

    # --- encoding -----------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab.tokens)

    @property
    def eos_id(self) -> int:
        return int(self.vocab.eos_id if self.vocab.eos_id is not None else 0)

    @property
    def doc_sep_id(self) -> int:
        """Token placed between documents in the training stream."""
        return self.eos_id

    def token_byte_lengths(self) -> np.ndarray:
        """(vocab,) number of UTF-8 bytes each token stands for; 0 for special tokens."""
        out = np.zeros(self.vocab_size, dtype=np.int64)
        for i, (tok, typ) in enumerate(zip(self.vocab.tokens, self.vocab.token_types, strict=True)):
            if typ == TOKEN_NORMAL:
                out[i] = len(tok)  # one byte-level character per byte
        return out

    def fingerprint(self) -> str:
        data = json.dumps([self.vocab.tokens, self.vocab.merges, self.vocab.pre]).encode()
        return hashlib.sha256(data).hexdigest()[:16]

    # --- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        v = self.vocab
        return {
            "kind": self.kind,
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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        vocab = GGUFVocab(
            tokens=list(d["tokens"]),
            token_types=[int(t) for t in d["token_types"]],
            merges=list(d["merges"]),
            pre=d.get("pre", "gpt-2"),
            bos_id=d.get("bos_id"),
            eos_id=d.get("eos_id"),
            add_bos=bool(d.get("add_bos", False)),
            chat_template=d.get("chat_template") or CHATML_TEMPLATE,
            extra=dict(d.get("extra", {})),
        )
        return cls(_hf_from_vocab(vocab), vocab, d.get("kind", "gguf"))


def _byte_level_pre(pre: str) -> pre_tokenizers.PreTokenizer:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    return byte_level


def _hf_from_vocab(v: GGUFVocab) -> HFTokenizer:
    """A `tokenizers` BPE that encodes like llama.cpp does with this GGUF vocabulary."""
    ids = {tok: i for i, tok in enumerate(v.tokens)}
    merges = [tuple(m.split(" ", 1)) for m in v.merges]
    hf = HFTokenizer(models.BPE(vocab=ids, merges=merges, fuse_unk=False))
    hf.pre_tokenizer = _byte_level_pre(v.pre)
    hf.decoder = decoders.ByteLevel()
    specials = [t for t, typ in zip(v.tokens, v.token_types, strict=True) if typ != TOKEN_NORMAL]
    hf.add_special_tokens([t for t in specials if t])
    return hf


def train_tokenizer(texts: Iterable[str], vocab_size: int, kind: str = "bpe") -> Tokenizer:
    """Train a byte-level BPE (`kind="bpe"`) or build the byte/character tokenizer (`"char"`)."""
    if kind not in ("bpe", "char"):
        raise ValueError(f"unknown tokenizer kind {kind!r}: use 'bpe' or 'char'")
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    base = len(alphabet) + len(SPECIAL_TOKENS)
    if kind == "char":
        vocab_size = base
    elif vocab_size < base:
        raise ValueError(f"vocab_size {vocab_size} is below the {base} byte + special tokens")
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = _byte_level_pre("gpt-2")
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=alphabet,
        show_progress=False,
        min_frequency=2,
    )
    hf.train_from_iterator(texts, trainer=trainer)
    data = json.loads(hf.to_str())
    id_to_tok = {i: t for t, i in data["model"]["vocab"].items()}
    tokens = [id_to_tok[i] for i in range(len(id_to_tok))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    types = [TOKEN_CONTROL if t in SPECIAL_TOKENS else TOKEN_NORMAL for t in tokens]
    vocab = GGUFVocab(tokens=tokens, token_types=types, merges=merges, pre="gpt-2")
    return Tokenizer(_hf_from_vocab(vocab), vocab, kind)
