"""Byte-level BPE (`tokenizer.ggml.model = gpt2`), as llama.cpp's `llm_tokenizer_bpe_session`.

Steps for each raw-text fragment: split into words with the pre-tokenizer named in
`tokenizer.ggml.pre` (`tokenizer_pre.py`), map each word's UTF-8 bytes to GPT-2's printable
byte alphabet (`Ġ` for space, ...), then merge adjacent symbols, lowest merge rank first (ties:
leftmost), exactly as llama.cpp's priority queue does. Words are memoized, so long prompts with
repeated words cost little.

Does not handle: a merged symbol missing from the vocabulary is emitted char by char (llama.cpp
looks up its raw UTF-8 bytes one by one instead; neither happens with a consistent vocabulary).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from datashark.engine.errors import ModelFormatError
from datashark.engine.tokenizer import Tokenizer, TokenType
from datashark.engine.tokenizer_pre import get_pre_tokenizer

_MEMO_LIMIT = 1 << 16


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (printable Latin-1 bytes map to themselves)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table: dict[int, str] = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
_BYTE_TRANSLATE = [BYTE_TO_CHAR[b] for b in range(256)]


class BPETokenizer(Tokenizer):
    """GPT-2 style byte-level BPE with merges ranked by their order in `tokenizer.ggml.merges`."""

    model_name = "gpt2"

    def __init__(self, metadata: Mapping[str, object], source: str = "<gguf metadata>") -> None:
        super().__init__(metadata, default_add_bos=False, source=source)
        merges = metadata.get("tokenizer.ggml.merges")
        if not isinstance(merges, list | tuple):
            raise ModelFormatError(source, "gpt2 tokenizer without tokenizer.ggml.merges")
        # "left right" -> rank; the merge strings from the file are the keys, no copies.
        self.ranks: dict[str, int] = {}
        for rank, merge in enumerate(merges):
            merge = str(merge)
            if " " not in merge[1:]:
                raise ModelFormatError(source, f"BPE merge {rank} {merge!r} has no space")
            self.ranks.setdefault(merge, rank)
        pre_name = metadata.get("tokenizer.ggml.pre")
        try:
            self.pre = get_pre_tokenizer(str(pre_name) if pre_name is not None else None)
        except KeyError as exc:
            raise ModelFormatError(source, str(exc.args[0])) from None
        self._memo: dict[str, tuple[int, ...]] = {}

    # ----------------------------------------------------------------- encoding
    def _encode_fragments(self, fragments: list[str | int], out: list[int]) -> None:
        memo = self._memo
        for frag in fragments:
            if isinstance(frag, int):
                out.append(frag)
                continue
            for word in self.pre.split(frag):
                ids = memo.get(word)
                if ids is None:
                    ids = self._encode_word(word)
                    if len(memo) >= _MEMO_LIMIT:
                        memo.clear()
                    memo[word] = ids
                out.extend(ids)

    def _encode_word(self, word: str) -> tuple[int, ...]:
        text = "".join([_BYTE_TRANSLATE[b] for b in word.encode("utf-8")])
        vocab = self.token_to_id
        if self.pre.ignore_merges and text in vocab:
            return (vocab[text],)
        symbols = self._merge(list(text))
        out: list[int] = []
        for sym in symbols:
            tok = vocab.get(sym)
            if tok is not None:
                out.append(tok)
            else:  # not reachable with a consistent vocab; keep what can be kept
                out.extend(vocab[c] for c in sym if c in vocab)
        return tuple(out)

    def _merge(self, sym: list[str]) -> list[str]:
        """Merge symbols by rank with llama.cpp's queue order: (rank, left index)."""
        n = len(sym)
        if n < 2:
            return sym
        ranks = self.ranks
        prev = list(range(-1, n - 1))
        nxt = [*range(1, n), -1]
        heap: list[tuple[int, int, int, str]] = []

        def add(left: int, right: int) -> None:
            if left < 0 or right < 0:
                return
            rank = ranks.get(f"{sym[left]} {sym[right]}")
            if rank is not None:
                heap.append((rank, left, right, sym[left] + sym[right]))

        for i in range(n - 1):
            add(i, i + 1)
        heapq.heapify(heap)
        while heap:
            _, left, right, text = heapq.heappop(heap)
            if not sym[left] or not sym[right] or sym[left] + sym[right] != text:
                continue  # stale entry: one side was merged since
            sym[left] = text
            sym[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            for a, b in ((prev[left], left), (left, nxt[left])):
                if a >= 0 and b >= 0:
                    rank = ranks.get(f"{sym[a]} {sym[b]}")
                    if rank is not None:
                        heapq.heappush(heap, (rank, a, b, sym[a] + sym[b]))
        return [s for s in sym if s]

    # ----------------------------------------------------------------- decoding
    def _piece(self, token_id: int, ttype: int) -> bytes:
        text = self.tokens[token_id]
        if ttype in (TokenType.CONTROL, TokenType.UNKNOWN, TokenType.USER_DEFINED):
            return text.encode("utf-8", "surrogateescape")
        if ttype != TokenType.NORMAL:
            return b""
        out = bytearray()
        for ch in text:
            b = CHAR_TO_BYTE.get(ch)
            if b is None:  # outside GPT-2's alphabet: keep the character itself
                out += ch.encode("utf-8", "surrogateescape")
            else:
                out.append(b)
        return bytes(out)
