"""Exact and near-duplicate removal over whole source files (MinHash + LSH over line shingles).

Where it comes from: Broder's MinHash with locality-sensitive banding, as used for code corpora
(e.g. "Deduplicating Training Data Makes Language Models Better", Lee et al. 2022). A file's
shingles are its runs of `shingle` consecutive non-blank, whitespace-stripped lines (default 1:
the set of distinct lines, which catches React-Lua's two published versions of the same module,
where runs of 3 lines did not); two files are near duplicates when the Jaccard similarity of their
shingle sets is at least `threshold` (checked exactly for every LSH candidate pair, so the bands
only decide which pairs get compared).

Keeps the first file of each duplicate cluster in input order. What it does not handle:
duplicates inside one file, or files that share a large function but differ elsewhere (their
Jaccard stays below the threshold).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

_PRIME = 4294967291  # largest prime below 2**32: a * h + b stays below 2**64 (no overflow)


def shingles(text: str, shingle: int = 1) -> set[int]:
    """64-bit hashes of the file's runs of `shingle` consecutive non-blank stripped lines."""
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) < shingle:
        lines = ["\n".join(lines)]
        shingle = 1
    out: set[int] = set()
    for i in range(len(lines) - shingle + 1):
        key = "\n".join(lines[i : i + shingle]).encode()
        out.add(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little"))
    return out


def minhash(sh: set[int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature (len(a),) of a shingle set: min over h of (a*h + b) mod p, h < p."""
    if not sh:
        return np.full(len(a), _PRIME, dtype=np.uint64)
    h = np.fromiter((x % _PRIME for x in sh), dtype=np.uint64, count=len(sh))
    values = (h[:, None] * a[None, :] + b[None, :]) % np.uint64(_PRIME)  # (S, P)
    return values.min(axis=0)


def near_duplicates(
    texts: Sequence[str],
    threshold: float = 0.8,
    num_perm: int = 64,
    bands: int = 16,
    shingle: int = 1,
    seed: int = 0,
) -> list[int]:
    """Indices of the files to drop: each one is a near duplicate of an earlier kept file."""
    rows = num_perm // bands
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, _PRIME, size=num_perm, dtype=np.uint64)
    sets = [shingles(t, shingle) for t in texts]
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for i, sh in enumerate(sets):
        sig = minhash(sh, a, b)
        for band in range(bands):
            buckets[(band, sig[band * rows : (band + 1) * rows].tobytes())].append(i)
    candidates: dict[int, set[int]] = defaultdict(set)
    for members in buckets.values():
        for j in members[1:]:
            candidates[j].update(m for m in members if m < j)
    dropped: set[int] = set()
    for j in sorted(candidates):
        for i in sorted(candidates[j]):
            if i in dropped:
                continue
            inter = len(sets[i] & sets[j])
            union = len(sets[i] | sets[j]) or 1
            if inter / union >= threshold:
                dropped.add(j)
                break
    return sorted(dropped)
