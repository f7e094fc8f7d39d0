"""`datashark bench train`: the Trainer's step throughput against a bare PyTorch loop.

Both loops train the same model shape (a fresh copy from the same seed) on the same batch size
and window length from the same token stream, in the same process, interleaved in rounds
(bare, trainer, bare, trainer, ...) so that a noisy shared machine affects both alike. The bare
loop is the minimum a training step needs: fixed-size random batch, forward, cross-entropy,
backward, clip, AdamW step. The trainer adds its LR schedule, RNG-driven sampling, accumulation
and DDP hooks, logging. Target: trainer >= 0.95x the bare loop's tokens/s.

What it does not handle: evaluation and checkpoint time (excluded from both sides).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datashark.config import from_name
from datashark.train.model import GPT
from datashark.train.trainer import RunOptions, Trainer


@dataclass(frozen=True)
class BenchResult:
    preset: str
    batch_size: int
    seq_len: int
    steps_per_round: int
    rounds: int
    bare_tok_s: float
    trainer_tok_s: float

    @property
    def ratio(self) -> float:
        return self.trainer_tok_s / self.bare_tok_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "steps_per_round": self.steps_per_round,
            "rounds": self.rounds,
            "bare_tok_s": self.bare_tok_s,
            "trainer_tok_s": self.trainer_tok_s,
            "ratio": self.ratio,
        }


def _bare_steps(
    model: GPT,
    opt: torch.optim.Optimizer,
    ids: np.ndarray,
    B: int,
    T: int,
    steps: int,
    gen: np.random.Generator,
) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        starts = gen.integers(0, len(ids) - T - 1, size=B)
        xy = torch.from_numpy(np.stack([ids[s : s + T + 1] for s in starts]).astype(np.int64))
        logits = model(xy[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.size(-1)), xy[:, 1:].reshape(-1)
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def bench_train(
    preset: str,
    data: Path,
    out: Path,
    steps: int = 5,
    rounds: int = 3,
    batch_size: int | None = None,
) -> BenchResult:
    from datashark.train.corpus import read_split
    from datashark.train.tokenizer import train_tokenizer

    model_cfg, train_cfg = from_name(preset)
    train_cfg = replace(
        train_cfg,
        batch_size=batch_size or train_cfg.batch_size,
        grad_accum=1,
        eval_every=10**9,
        log_every=10**9,
    )
    texts = [r["text"] for r in read_split(data, "train")]
    tok = train_tokenizer(texts, train_cfg.vocab_size, train_cfg.tokenizer)
    model_cfg = replace(model_cfg, vocab_size=tok.vocab_size)
    torch.manual_seed(0)
    trainer = Trainer(
        GPT(model_cfg), tok, train_cfg, RunOptions(data=data, out=out, progress=False)
    )
    torch.manual_seed(0)
    bare = GPT(model_cfg)
    bare.train()
    trainer.raw_model.train()
    opt = torch.optim.AdamW(
        bare.parameters(), lr=train_cfg.lr, betas=(0.9, 0.95), weight_decay=train_cfg.weight_decay
    )
    ids = trainer.train_data.ids
    B, T = train_cfg.batch_size, trainer.T
    gen = np.random.default_rng(0)
    # one warm-up step each (allocator, first-call overheads)
    _bare_steps(bare, opt, ids, B, T, 1, gen)
    trainer.train_step()
    bare_s, trainer_s = [], []
    for _ in range(rounds):
        bare_s.append(_bare_steps(bare, opt, ids, B, T, steps, gen))
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        trainer_s.append(time.perf_counter() - t0)
    tokens = steps * B * T
    result = BenchResult(
        preset=preset,
        batch_size=B,
        seq_len=T,
        steps_per_round=steps,
        rounds=rounds,
        bare_tok_s=tokens / statistics.median(bare_s),
        trainer_tok_s=tokens / statistics.median(trainer_s),
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_train.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
