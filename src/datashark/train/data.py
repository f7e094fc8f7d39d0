"""Token streams of a corpus split, and the batches the trainer draws from them.

Each split is encoded once per tokenizer into one uint16/uint32 stream: `<sep> doc1 <sep> doc2 ...`
(the separator is the tokenizer's `<|endoftext|>`), cached beside the run as
`tokens-<fingerprint>/<split>.npy`. Training batches are random windows of `T + 1` tokens drawn
from a seeded `torch.Generator`; the whole global batch is drawn at once and each DDP rank and
accumulation micro-step takes its own rows, so 1 process and N processes see the same rows.
Evaluation uses fixed, evenly spaced windows, so every evaluation scores the same tokens.

What it does not handle: corpora larger than memory (streams are loaded whole).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datashark.train.corpus import read_split
from datashark.train.tokenizer import Tokenizer


@dataclass(frozen=True)
class TokenStream:
    """The encoded split, plus the UTF-8 byte count of the text it encodes."""

    ids: np.ndarray
    n_bytes: int

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def encode_split(tok: Tokenizer, data_dir: Path, split: str, cache: Path) -> TokenStream:
    """Encode one split of the corpus at `data_dir` (cached in `cache`)."""
    folder = cache / f"tokens-{tok.fingerprint()}"
    path, meta_path = folder / f"{split}.npy", folder / f"{split}.json"
    if path.exists() and meta_path.exists():
        return TokenStream(np.load(path), json.loads(meta_path.read_text())["bytes"])
    texts = [r["text"] for r in read_split(data_dir, split)]
    if not texts:
        raise ValueError(f"split {split!r} of {data_dir} is empty")
    sep = tok.doc_sep_id
    dtype = np.uint16 if tok.vocab_size <= 65536 else np.uint32
    parts = []
    for ids in tok.encode_batch(texts):
        parts.append(np.asarray([sep, *ids], dtype=dtype))
    ids = np.concatenate(parts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{split}.{os.getpid()}.npy"
    np.save(tmp, ids)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    meta_path.write_text(json.dumps({"bytes": n_bytes, "tokens": int(ids.shape[0])}))
    return TokenStream(ids, n_bytes)


def window_batch(
    ids: np.ndarray, starts: torch.Tensor, T: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (B, T) for windows starting at `starts` (B,)."""
    rows = np.stack([ids[s : s + T + 1] for s in starts.tolist()]).astype(np.int64)  # (B, T+1)
    xy = torch.from_numpy(rows)
    return xy[:, :-1], xy[:, 1:]


def random_starts(n_tokens: int, T: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """(batch,) random window starts; the whole global batch from one generator draw."""
    if n_tokens < T + 2:
        raise ValueError(f"stream of {n_tokens} tokens is shorter than one window of {T + 1}")
    return torch.randint(0, n_tokens - T - 1, (batch,), generator=gen)


def fixed_starts(n_tokens: int, T: int, count: int) -> torch.Tensor:
    """(<= count,) evenly spaced window starts covering the stream (evaluation)."""
    last = max(n_tokens - T - 1, 0)
    count = max(1, min(count, last // T + 1))
    return torch.linspace(0, last, count).round().long()
