"""SentencePiece BPE (`tokenizer.ggml.model = llama`), as llama.cpp's `llm_tokenizer_spm_session`.

Used by Gemma 3, Llama 2, TinyLlama. Steps for each raw-text fragment: prefix a space when
`add_space_prefix` (default on; Gemma 3's file turns it off) and the fragment opens the text or
follows a special token, replace every space with `▁` (U+2581), split into characters, then merge
the adjacent pair whose joined text is a vocabulary entry with the highest score (ties: leftmost)
until nothing merges. A symbol that is not a token is emitted byte by byte as `<0xNN>` tokens
(byte fallback).

Does not handle: Unigram (`t5`) vocabularies, and text normalization (NFKC): llama.cpp applies
none for this model type either.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

import numpy as np

from datashark.engine.errors import ModelFormatError
from datashark.engine.tokenizer import Tokenizer, TokenType

SPACE = "\u2581"  # ▁


class SPMTokenizer(Tokenizer):
    """SentencePiece with piece scores, `▁` for spaces and `<0xNN>` byte fallback."""

    model_name = "llama"

    def __init__(self, metadata: Mapping[str, object], source: str = "<gguf metadata>") -> None:
        super().__init__(metadata, default_add_bos=True, source=source)
        scores = metadata.get("tokenizer.ggml.scores")
        n = len(self.tokens)
        if scores is None:
            self.scores = np.zeros(n, dtype=np.float32)
        else:
            self.scores = np.asarray(scores, dtype=np.float32)
            if self.scores.shape != (n,):
                raise ModelFormatError(
                    source, f"tokenizer.ggml.scores has {self.scores.size} entries for {n} tokens"
                )
        self._score_list: list[float] = self.scores.tolist()
        prefix = metadata.get("tokenizer.ggml.add_space_prefix")
        self.add_space_prefix = True if prefix is None else bool(prefix)
        # byte -> token: "<0xNN>" (upper-case hex) or, failing that, the byte as a one-char token.
        self._byte_ids: list[int | None] = []
        for b in range(256):
            tok = self.token_to_id.get(f"<0x{b:02X}>")
            if tok is None:
                tok = self.token_to_id.get(chr(b)) if b < 128 else None
            self._byte_ids.append(tok)

    # ----------------------------------------------------------------- encoding
    def _encode_fragments(self, fragments: list[str | int], out: list[int]) -> None:
        prev_special = True  # a space prefix goes before the first fragment
        for frag in fragments:
            if isinstance(frag, int):
                out.append(frag)
                prev_special = True
                continue
            text = " " + frag if self.add_space_prefix and prev_special else frag
            self._encode_text(text.replace(" ", SPACE), out)
            prev_special = False

    def _encode_text(self, text: str, out: list[int]) -> None:
        n = len(text)
        if n == 0:
            return
        vocab = self.token_to_id
        scores = self._score_list
        sym = list(text)
        prev = list(range(-1, n - 1))
        nxt = [*range(1, n), -1]
        # Max-heap on score, then min left index: store (-score, left, right, joined text).
        heap: list[tuple[float, int, int, str]] = []
        for i in range(n - 1):
            joined = sym[i] + sym[i + 1]
            tok = vocab.get(joined)
            if tok is not None:
                heap.append((-scores[tok], i, i + 1, joined))
        heapq.heapify(heap)
        while heap:
            _, left, right, joined = heapq.heappop(heap)
            if not sym[left] or not sym[right] or len(sym[left]) + len(sym[right]) != len(joined):
                continue  # stale: one side changed since this pair was queued
            sym[left] = joined
            sym[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            for a, b in ((prev[left], left), (left, nxt[left])):
                if a >= 0 and b >= 0:
                    pair = sym[a] + sym[b]
                    tok = vocab.get(pair)
                    if tok is not None:
                        heapq.heappush(heap, (-scores[tok], a, b, pair))
        i = 0
        while i != -1:
            piece = sym[i]
            tok = vocab.get(piece)
            if tok is not None:
                out.append(tok)
            else:
                for byte in piece.encode("utf-8", "surrogatepass"):
                    byte_id = self._byte_ids[byte]
                    if byte_id is None:
                        if self.unk_id is None:
                            raise ValueError(f"no token for byte 0x{byte:02X} and no <unk> token")
                        byte_id = self.unk_id
                    out.append(byte_id)
            i = nxt[i]

    # ----------------------------------------------------------------- decoding
    def _piece(self, token_id: int, ttype: int) -> bytes:
        text = self.tokens[token_id]
        if ttype in (TokenType.CONTROL, TokenType.UNKNOWN, TokenType.USER_DEFINED):
            return text.encode("utf-8", "surrogateescape")
        if ttype == TokenType.NORMAL:
            return text.replace(SPACE, " ").encode("utf-8", "surrogateescape")
        if ttype == TokenType.BYTE:
            return bytes([int(text[3:5], 16)])
        return b""
