"""Tokenizers read from GGUF metadata, with the same ids as llama.cpp (`llama-vocab.cpp`).

`load_tokenizer(metadata)` picks the class named by `tokenizer.ggml.model`:
`gpt2` -> `BPETokenizer` (byte-level BPE with merges, `tokenizer_bpe.py`) and
`llama` -> `SPMTokenizer` (SentencePiece with scores and byte fallback, `tokenizer_spm.py`).

This module holds what both share, following llama.cpp: the vocabulary, token types
(normal, control, user-defined, byte, ...), the special ids (bos/eos/eot/eog, read from the file
and, like llama.cpp, recognised by text for `<|im_end|>`, `<end_of_turn>`, ...), the split of
raw text around special tokens before the model's own algorithm runs (control tokens only when
`parse_special`; user-defined ones always), and decoding token ids back to bytes.

Does not handle: WordPiece/Unigram/RWKV vocabularies, the `lstrip`/`rstrip` token attributes that
llama.cpp sets only for a few model families, and `clean_spaces` (llama.cpp applies it only in
`llama_detokenize`, never to streamed pieces).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum

import numpy as np

from datashark.engine.errors import ModelFormatError


class TokenType(IntEnum):
    """`tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`)."""

    UNDEFINED = 0
    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


# Token texts llama.cpp treats as end of generation (and marks as control) whatever their type.
EOG_TEXTS = frozenset(
    {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<|return|>",
        "<|call|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|eom_id|>",
        "<EOT>",
        "_<EOT>",
        "<|end_of_text|>",
        "<end_of_utterance>",
    }
)
# Texts llama.cpp recognises as end-of-turn (eot) and fill-in-the-middle tokens: marked control.
_EOT_TEXTS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>")
_FIM_TEXTS = frozenset(
    {
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<|fim_pad|>",
        "<fim-pad>",
        "<fim_pad>",
        "<|repo_name|>",
        "<repo_name>",
        "<|file_sep|>",
        "<file_sep>",
    }
)


def _meta(metadata: Mapping[str, object], key: str, default: object = None) -> object:
    return metadata.get(key, default)


def _int_or_none(value: object) -> int | None:
    if value is None:
        return None
    v = int(value)  # type: ignore[call-overload]
    return v if v >= 0 else None


class Tokenizer:
    """Vocabulary, special tokens and decoding shared by the BPE and SentencePiece tokenizers.

    `encode(text, add_bos=None, parse_special=True)` returns llama.cpp's ids for the text
    (`add_bos=None` follows `tokenizer.ggml.add_bos_token`); `decode(ids)` returns text with
    control tokens left out (as llama.cpp's pieces with `special=False`).
    """

    model_name = ""

    def __init__(
        self, metadata: Mapping[str, object], *, default_add_bos: bool, source: str
    ) -> None:
        self.source = source
        tokens = _meta(metadata, "tokenizer.ggml.tokens")
        if not isinstance(tokens, Sequence) or isinstance(tokens, str) or not tokens:
            raise ModelFormatError(source, "tokenizer.ggml.tokens is missing or empty")
        self.tokens: list[str] = list(tokens)  # the GGUF reader gives str items
        if not isinstance(self.tokens[0], str) or not isinstance(self.tokens[-1], str):
            self.tokens = [str(t) for t in self.tokens]
        n = len(self.tokens)
        types = _meta(metadata, "tokenizer.ggml.token_type")
        if types is None:
            self.types = np.full(n, TokenType.NORMAL, dtype=np.int32)
        else:
            self.types = np.asarray(types, dtype=np.int32)
            if self.types.shape != (n,):
                raise ModelFormatError(
                    source,
                    f"tokenizer.ggml.token_type has {self.types.size} entries for {n} tokens",
                )
        # Later duplicates win, as in llama.cpp's token_to_id map.
        self.token_to_id: dict[str, int] = dict(zip(self.tokens, range(n), strict=True))

        self.bos_id = _int_or_none(_meta(metadata, "tokenizer.ggml.bos_token_id"))
        self.eos_id = _int_or_none(_meta(metadata, "tokenizer.ggml.eos_token_id"))
        self.unk_id = _int_or_none(_meta(metadata, "tokenizer.ggml.unknown_token_id"))
        self.pad_id = _int_or_none(_meta(metadata, "tokenizer.ggml.padding_token_id"))
        self.eot_id = _int_or_none(_meta(metadata, "tokenizer.ggml.eot_token_id"))
        for name in ("bos_id", "eos_id", "unk_id", "pad_id", "eot_id"):
            value = getattr(self, name)
            if value is not None and value >= n:
                raise ModelFormatError(source, f"{name} {value} is outside the vocab ({n})")
        add_bos = _meta(metadata, "tokenizer.ggml.add_bos_token")
        self.add_bos = default_add_bos if add_bos is None else bool(add_bos)
        add_eos = _meta(metadata, "tokenizer.ggml.add_eos_token")
        self.add_eos = False if add_eos is None else bool(add_eos)

        # Recognise eot / eog / fim tokens by text and make them control tokens (llama.cpp does).
        vocab = self.token_to_id
        eog = {i for i in (self.eos_id, self.eot_id) if i is not None}
        if self.eot_id is None:
            self.eot_id = next((vocab[t] for t in _EOT_TEXTS if t in vocab), None)
        for text in (*_EOT_TEXTS, *EOG_TEXTS, *_FIM_TEXTS):
            i = vocab.get(text)
            if i is not None:
                self.types[i] = TokenType.CONTROL
                if text in EOG_TEXTS:
                    eog.add(i)
        if self.eot_id is not None:
            eog.add(self.eot_id)
        self.eog_ids: frozenset[int] = frozenset(eog)

        # Special tokens cut out of raw text first, longest text first (llama.cpp's
        # cache_special_tokens). A trie over their texts finds the ones a text holds.
        special = np.flatnonzero(
            (self.types == TokenType.CONTROL)
            | (self.types == TokenType.USER_DEFINED)
            | (self.types == TokenType.UNKNOWN)
        ).tolist()
        user_defined = set(np.flatnonzero(self.types == TokenType.USER_DEFINED).tolist())
        ordered = sorted((i for i in special if self.tokens[i]), key=lambda i: -len(self.tokens[i]))
        # (text, id, counts only with parse_special) in llama.cpp's order
        self._special: list[tuple[str, int, bool]] = [
            (self.tokens[i], i, i not in user_defined) for i in ordered
        ]
        self._special_trie: dict[str, dict] = {}
        for rank, (text, _, _) in enumerate(self._special):
            node = self._special_trie
            for ch in text:
                node = node.setdefault(ch, {})
            node.setdefault("", rank)  # "" never is a character: marks the end of a text
        self._piece_cache: dict[int, bytes] = {}

    # ----------------------------------------------------------------- vocabulary facts
    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def is_control(self, token_id: int) -> bool:
        return int(self.types[token_id]) == TokenType.CONTROL

    def token_text(self, token_id: int) -> str:
        """The vocabulary entry as stored in the file (escaped: `Ġ`, `▁`, `<0x0A>`)."""
        return self.tokens[token_id]

    # ----------------------------------------------------------------- encoding
    def encode(
        self, text: str, add_bos: bool | None = None, parse_special: bool = True
    ) -> list[int]:
        """Token ids for `text`; `add_bos=None` follows the file's add_bos_token flag."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, not {type(text).__name__}")
        with_bos = self.add_bos if add_bos is None else add_bos
        out: list[int] = []
        if with_bos and self.bos_id is not None:
            out.append(self.bos_id)
        self._encode_fragments(self.split_special(text, parse_special), out)
        if add_bos is None and self.add_eos and self.eos_id is not None:
            out.append(self.eos_id)
        return out

    def _encode_fragments(self, fragments: list[str | int], out: list[int]) -> None:
        """Append ids for raw-text fragments (str) and already-known special tokens (int)."""
        raise NotImplementedError

    def split_special(self, text: str, parse_special: bool) -> list[str | int]:
        """Cut special tokens out of `text` (llama.cpp `tokenizer_st_partition`).

        Each special token, longest first, splits every raw fragment where it occurs. Control and
        unknown tokens count only when `parse_special`; user-defined ones always do.
        """
        fragments: list[str | int] = [text] if text else []
        if not self._special or not text:
            return fragments
        found = self._specials_in(text)
        for rank in sorted(found):
            tok_text, tok_id, needs_parse = self._special[rank]
            if needs_parse and not parse_special:
                continue
            split: list[str | int] = []
            for frag in fragments:
                if isinstance(frag, int) or tok_text not in frag:
                    split.append(frag)
                    continue
                parts = frag.split(tok_text)
                for k, part in enumerate(parts):
                    if k:
                        split.append(tok_id)
                    if part:
                        split.append(part)
            fragments = split
        return fragments

    def _specials_in(self, text: str) -> set[int]:
        """Ranks (in `_special`) of every special token text occurring anywhere in `text`."""
        trie = self._special_trie
        found: set[int] = set()
        n = len(text)
        for first in trie.keys() & set(text):
            start = text.find(first)
            while start >= 0:
                node = trie[first]
                j = start + 1
                while True:
                    rank = node.get("")
                    if rank is not None:
                        found.add(rank)
                    if j >= n:
                        break
                    node = node.get(text[j])
                    if node is None:
                        break
                    j += 1
                start = text.find(first, start + 1)
        return found

    # ----------------------------------------------------------------- decoding
    def token_bytes(self, token_id: int, special: bool = False) -> bytes:
        """The bytes one token stands for (llama.cpp `token_to_piece`); b"" for control tokens
        unless `special`, and for unused ones."""
        if not 0 <= token_id < len(self.tokens):
            raise ValueError(
                f"token id {token_id} is outside the vocabulary (0..{len(self.tokens) - 1})"
            )
        ttype = int(self.types[token_id])
        if ttype == TokenType.CONTROL and not special:
            return b""
        piece = self._piece_cache.get(token_id)
        if piece is None:
            piece = self._piece(token_id, ttype)
            self._piece_cache[token_id] = piece
        return piece

    def _piece(self, token_id: int, ttype: int) -> bytes:
        raise NotImplementedError

    def decode_bytes(self, ids: Sequence[int], special: bool = False) -> bytes:
        return b"".join(self.token_bytes(int(i), special) for i in ids)

    def decode(self, ids: Sequence[int], special: bool = False) -> str:
        """Text for `ids`; invalid UTF-8 (a character cut in half) becomes U+FFFD."""
        return self.decode_bytes(ids, special).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab={len(self.tokens)}, bos={self.bos_id}, "
            f"eos={self.eos_id}, eog={sorted(self.eog_ids)})"
        )


def load_tokenizer(metadata: Mapping[str, object], source: str = "<gguf metadata>") -> Tokenizer:
    """Build the tokenizer a GGUF file describes (`tokenizer.ggml.model`: `gpt2` or `llama`).

    `metadata` is the file's key -> value mapping (arrays as lists); `source` names the file in
    `ModelFormatError` messages.
    """
    model = _meta(metadata, "tokenizer.ggml.model")
    if model == "gpt2":
        from datashark.engine.tokenizer_bpe import BPETokenizer

        return BPETokenizer(metadata, source)
    if model == "llama":
        from datashark.engine.tokenizer_spm import SPMTokenizer

        return SPMTokenizer(metadata, source)
    raise ModelFormatError(
        source,
        f"tokenizer.ggml.model {model!r} is not supported (supported: 'gpt2' BPE, 'llama' SPM)",
    )
