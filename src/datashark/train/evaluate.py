"""`datashark eval lm`: bits per byte on held-out Luau, xz's bits per byte, sample compile rate.

Where it comes from: the bits-per-byte metric of language-modelling benchmarks (total negative
log2-likelihood of a text / its UTF-8 bytes), with a general-purpose compressor as the baseline:
liblzma at preset 9 | EXTREME, i.e. `xz -9e`, over the same bytes.

The split's files are scored as the trainer sees them: the stream `<sep> file1 <sep> file2 ...`
cut into consecutive windows of the model's context, every token predicted from the tokens before
it in its window. A GGUF model is scored with `datashark.engine` (windows decoded side by side in
one batched forward pass per position); a `.pt` checkpoint with PyTorch. Samples: `samples`
generations (temperature 0.8 and top-k 40 unless asked otherwise, seeded), each prompted with
`<sep>` plus the first line of a file of the split, until `<|endoftext|>` or the token budget
(`max_new_tokens`, within the model's context); a sample counts when the prompt line plus the
generated text compiles as Luau as it is (a sample cut off by the budget usually does not).

The reference for that rate: the same files' own text after the first line, cut at the same token
budget, compile-checked the same way. Real code cut mid-function does not compile either, so this
is about the best a model of the corpus can score with that budget (a model could beat it only by
ending files earlier than real ones do).

What it does not handle: SentencePiece models (the stream needs the gpt2 vocabulary's separator),
scoring across window boundaries (each window starts without earlier context).
"""

from __future__ import annotations

import lzma
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datashark.train.corpus import read_split
from datashark.train.luau_check import compiles


@dataclass(frozen=True)
class LMReport:
    model: str
    split: str
    files: int
    bytes: int
    tokens: int
    bpb: float
    xz_bpb: float
    nll_per_token: float
    samples: int
    compiled: int
    ended: int
    temperature: float
    top_k: int
    reference_compiled: int

    @property
    def reference_rate(self) -> float:
        return self.reference_compiled / self.samples if self.samples else 0.0

    @property
    def compile_rate(self) -> float:
        return self.compiled / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "compile_rate": self.compile_rate,
            "reference_rate": self.reference_rate,
        }


def xz_bpb(data: bytes) -> float:
    """Bits per byte of `data` compressed like `xz -9e`."""
    packed = lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    return 8.0 * len(packed) / max(len(data), 1)


def _log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log p(target) for rows of logits (B, V)."""
    z = logits.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[:, 0]
    return z[np.arange(len(targets)), targets] - lse


class _TorchLM:
    def __init__(self, path: Path) -> None:
        import torch

        from datashark.train.checkpoint import load_model

        self.torch = torch
        self.model, self.tok, _ = load_model(path)
        self.ctx = self.model.cfg.context_length
        self.sep = self.tok.doc_sep_id

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def window_nll(self, windows: list[np.ndarray], batch: int = 16) -> float:
        total = 0.0
        full = [w for w in windows if len(w) == self.ctx + 1]
        groups = [full[i : i + batch] for i in range(0, len(full), batch)]
        groups += [[w] for w in windows if len(w) != self.ctx + 1]
        with self.torch.no_grad():
            for group in groups:
                xy = self.torch.from_numpy(np.stack(group).astype(np.int64))  # (B, T+1)
                logits = self.model(xy[:, :-1])  # (B, T, V)
                nll = self.torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), xy[:, 1:].reshape(-1), reduction="sum"
                )
                total += float(nll)
        return total

    def sample(
        self, prompt: list[int], max_new: int, seed: int, temperature: float, top_k: int
    ) -> tuple[list[int], bool]:
        """(generated ids without the separator, whether it ended with the separator)."""
        gen = self.torch.Generator().manual_seed(seed)
        out = self.model.generate(
            prompt,
            max_new,
            temperature=temperature,
            top_k=top_k,
            stop_ids=frozenset({self.sep}),
            generator=gen,
        )
        ended = bool(out) and out[-1] == self.sep
        return (out[:-1] if ended else out), ended


class _EngineLM:
    def __init__(self, path: Path) -> None:
        from datashark.engine import Model

        self.model = Model.load(path)
        self.ctx = self.model.config.context_length
        eos = self.model.tokenizer.eos_id
        self.sep = int(eos if eos is not None else 0)

    def encode(self, text: str) -> list[int]:
        return self.model.tokenizer.encode(text, add_bos=False, parse_special=False)

    def decode(self, ids: list[int]) -> str:
        return self.model.tokenizer.decode(ids)

    def window_nll(self, windows: list[np.ndarray], batch: int = 16) -> float:
        total = 0.0
        for start in range(0, len(windows), batch):
            group = windows[start : start + batch]
            seqs = [self.model.new_sequence(len(w)) for w in group]
            try:
                for pos in range(max(len(w) for w in group) - 1):
                    live = [i for i, w in enumerate(group) if pos < len(w) - 1]
                    logits = self.model.decode(
                        [seqs[i] for i in live], [int(group[i][pos]) for i in live]
                    )
                    targets = np.array([group[i][pos + 1] for i in live])
                    total -= float(_log_softmax_at(logits, targets).sum())
            finally:
                for s in seqs:
                    s.free()
        return total

    def sample(
        self, prompt: list[int], max_new: int, seed: int, temperature: float, top_k: int
    ) -> tuple[list[int], bool]:
        from datashark.engine import SamplingParams

        params = SamplingParams(max_tokens=max_new, temperature=temperature, top_k=top_k, seed=seed)
        stream = self.model.generate(prompt, params)
        out = list(stream)
        return out, stream.finish_reason == "stop"


def _windows(stream: np.ndarray, ctx: int) -> list[np.ndarray]:
    """Consecutive windows of ctx + 1 tokens overlapping by one (each token scored once)."""
    out = []
    for start in range(0, len(stream) - 1, ctx):
        w = stream[start : start + ctx + 1]
        if len(w) >= 2:
            out.append(w)
    return out


def eval_lm(
    model: str,
    data_dir: Path,
    split: str = "test",
    samples: int = 20,
    max_new_tokens: int = 256,
    max_bytes: int | None = None,
    seed: int = 0,
    temperature: float = 0.8,
    top_k: int = 40,
) -> LMReport:
    """Score `model` (a .pt checkpoint, a GGUF path or a cached model name) on a corpus split."""
    path = Path(model)
    if path.suffix == ".pt":
        lm: _TorchLM | _EngineLM = _TorchLM(path)
    else:
        from datashark.registry import resolve_model

        lm = _EngineLM(resolve_model(model))
    records = read_split(data_dir, split)
    if not records:
        raise ValueError(f"split {split!r} of {data_dir} has no files")
    texts, used = [], 0
    for r in records:
        if max_bytes is not None and used >= max_bytes:
            break
        texts.append(r["text"])
        used += len(r["text"].encode("utf-8"))
    ids: list[int] = []
    for t in texts:
        ids.append(lm.sep)
        ids.extend(lm.encode(t))
    stream = np.asarray(ids, dtype=np.int64)
    nll = lm.window_nll(_windows(stream, lm.ctx))
    data = "".join(texts).encode("utf-8")
    compiled = ended = reference = 0
    for i in range(samples):
        first_line, _, rest = records[i % len(records)]["text"].partition("\n")
        first_line += "\n"
        prompt = [lm.sep, *lm.encode(first_line)]
        room = max(1, min(max_new_tokens, lm.ctx - len(prompt)))
        out, done = lm.sample(prompt, room, seed + i, temperature, top_k)
        ended += done
        compiled += compiles(first_line + lm.decode(out), f"sample{i}")
        reference += compiles(first_line + lm.decode(lm.encode(rest)[:room]), f"reference{i}")
    return LMReport(
        model=str(model),
        split=split,
        files=len(texts),
        bytes=len(data),
        tokens=len(stream) - 1,
        bpb=nll / math.log(2) / len(data),
        xz_bpb=xz_bpb(data),
        nll_per_token=nll / max(len(stream) - 1, 1),
        samples=samples,
        compiled=compiled,
        ended=ended,
        temperature=temperature,
        top_k=top_k,
        reference_compiled=reference,
    )
