"""Fused projections: matmuls that read the same input and share a quant type run as one.

q, k and v are three matmuls of the same normed input, gate and up two more. When adjacent
weights have the same GGML type and width, their quantized rows are copied once, at load, into
one matrix (wq | wk | wv stacked by rows): one kernel call instead of three, so the input is
quantized once and the threads are started once, with more rows to share between them. The
outputs land side by side in one buffer; q, k and v are column views of it (rows are strided,
which the ops accept). The dot product of each row is the same computation as before, so the
numbers do not change.

Memory: the stacked copy is anonymous memory; the file's pages of the original tensors, read
once to copy them, are handed back right away (madvise DONTNEED on the read-only file mapping),
so the resident size does not double. Tensors of different types (Gemma's Q8_0 attn_v next to
Q5_0 attn_q/attn_k) stay separate matmuls.
Does not handle: fusing across layers, or weights whose inputs differ.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from dataclasses import dataclass

import numpy as np

from datashark.engine.arch.ops import Buf
from datashark.engine.tensor import QTensor


@dataclass(frozen=True)
class Projections:
    """One input times several weights: the matmuls to run and where each output is."""

    jobs: tuple[tuple[QTensor, Buf], ...]  # (weight, its contiguous output buffer)
    outputs: tuple[Buf, ...]  # one (column) view per original weight, in order


class ProjectionPlanner:
    """Plans Projections and shares their output buffers between layers of the same layout."""

    def __init__(self, capacity: int, fuse: bool = True) -> None:
        self.capacity = capacity
        self.fuse = fuse
        self._buffers: dict[tuple[int, ...], Buf] = {}

    def plan(self, weights: list[QTensor], role: str) -> Projections:
        groups: list[list[QTensor]] = []
        for w in weights:
            last = groups[-1][-1] if groups else None
            if self.fuse and last is not None and (last.qtype, last.cols) == (w.qtype, w.cols):
                groups[-1].append(w)
            else:
                groups.append([w])
        widths = tuple(w.rows for w in weights)
        jobs, outputs = [], []
        for gi, group in enumerate(groups):
            # the buffer is keyed by the role, the grouping and the widths: layers alike share it
            key = (hash(role), gi, *(len(g) for g in groups), *widths)
            rows = sum(w.rows for w in group)
            buf = self._buffers.get(key)
            if buf is None:
                buf = self._buffers[key] = Buf.zeros(self.capacity, rows)
            jobs.append((group[0] if len(group) == 1 else _stack(group), buf))
            start = 0
            for w in group:
                outputs.append(buf if len(group) == 1 else buf.columns(start, w.rows))
                start += w.rows
        return Projections(tuple(jobs), tuple(outputs))


def _stack(group: list[QTensor]) -> QTensor:
    """The rows of several same-type, same-width tensors in one new tensor (a copy)."""
    raw = np.concatenate([w.data for w in group])
    for w in group:
        _release(w)
    name = "+".join(w.name for w in group)
    shape = (sum(w.rows for w in group), group[0].cols)
    return QTensor.from_bytes(name, group[0].qtype, shape, raw)


_MADV_DONTNEED = 4  # the same value on Linux and macOS


def _release(w: QTensor) -> None:
    """Drop the whole pages inside w's bytes from this process's resident set. Only for tensors
    that are views of a read-only file mapping (the pages come back from the file if touched)."""
    if sys.platform not in ("linux", "darwin") or w.data.flags.writeable or w.data.base is None:
        return
    page = mmap.PAGESIZE
    start = -(-w.ptr // page) * page
    end = (w.ptr + w.nbytes) // page * page
    if end > start:
        try:
            libc = ctypes.CDLL(None)
            libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED)
        except (OSError, AttributeError):
            pass  # no madvise: the pages simply stay resident
