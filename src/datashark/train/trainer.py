"""The training loop: AdamW, warmup + cosine, clipping, accumulation, evaluation, early stopping,
best-by-val and resumable checkpoints, metrics, DDP.

Where it comes from: nanoGPT's `train.py`, restructured into a `Trainer` object. One optimizer step
consumes `TrainConfig.batch_size` sequences (the global batch) in `grad_accum` micro-steps spread
over the DDP ranks (`datashark.train.ddp`). Every `eval_every` steps it scores fixed windows of the
val split and of the train split (loss in nats per token and bits per byte), reports the train/val
gap and warns when it exceeds `overfit_gap` (the model is memorising), keeps `best.pt` by val loss
and `last.pt` for `--resume`, and stops early after `patience` evaluations without improvement.
Resume is exact: the same step-N loss as an uninterrupted run (RNG and data positions restored).

Outputs in `out/`: `metrics.jsonl`, `loss.png`, `best.pt`, `last.pt`, `tokenizer.json`,
`ckpt-NNNNNN.pt` every `checkpoint_every` steps. What it does not handle: FSDP, mixed precision
on CPU (bf16 autocast and `torch.compile` are used only on CUDA).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from datashark.config import ModelConfig, TrainConfig
from datashark.train import checkpoint
from datashark.train.data import (
    TokenStream,
    encode_split,
    fixed_starts,
    random_starts,
    window_batch,
)
from datashark.train.ddp import DistEnv
from datashark.train.model import GPT
from datashark.train.plots import plot_losses
from datashark.train.tokenizer import Tokenizer


@dataclass(frozen=True)
class RunOptions:
    data: Path
    out: Path
    max_steps: int | None = None
    time_s: float | None = None
    seq_len: int | None = None
    resume: Path | None = None
    progress: bool = True
    compile: bool | None = None


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over `warmup_steps`, then cosine from `lr` to `min_lr` as progress -> 1."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = min(max(progress, 0.0), 1.0)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * p)) * (cfg.lr - cfg.min_lr)


class EarlyStopping:
    """Stops after `patience` evaluations whose val loss fails to beat the best by `min_delta`."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best = math.inf
        self.bad = 0

    def update(self, val_loss: float) -> tuple[bool, bool]:
        """(improved, stop) after one evaluation."""
        if val_loss < self.best - self.min_delta:
            self.best, self.bad = val_loss, 0
            return True, False
        self.bad += 1
        return False, self.patience > 0 and self.bad >= self.patience


class Trainer:
    def __init__(
        self,
        model: GPT,
        tok: Tokenizer,
        cfg: TrainConfig,
        opts: RunOptions,
        dist: DistEnv | None = None,
    ) -> None:
        self.dist = dist or DistEnv.single()
        self.cfg, self.opts, self.tok = cfg, opts, tok
        self.device = self.dist.device
        self.raw_model = model.to(self.device)
        self.T = min(opts.seq_len or model.cfg.context_length, model.cfg.context_length)
        per_rank = cfg.batch_size // (cfg.grad_accum * self.dist.world_size)
        if per_rank * cfg.grad_accum * self.dist.world_size != cfg.batch_size or per_rank < 1:
            raise ValueError(
                f"batch_size {cfg.batch_size} must split evenly into grad_accum "
                f"{cfg.grad_accum} x {self.dist.world_size} processes"
            )
        self.micro_batch = per_rank
        self.cuda = self.device.type == "cuda"
        use_compile = opts.compile if opts.compile is not None else self.cuda
        fwd_model = torch.compile(self.raw_model) if use_compile else self.raw_model
        self.model = self.dist.wrap(fwd_model)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else nullcontext()
        self.optimizer = self._make_optimizer()
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.elapsed = 0.0
        self.tokens_seen = 0
        self.stopper = EarlyStopping(cfg.patience, cfg.min_delta)
        self.last_eval_step = -1
        self.byte_len = torch.from_numpy(tok.token_byte_lengths())
        opts.out.mkdir(parents=True, exist_ok=True)
        if not self.dist.is_main:
            self.dist.barrier()  # rank 0 encodes the splits into the shared cache first
        self.train_data = encode_split(tok, opts.data, "train", opts.out)
        self.val_data = encode_split(tok, opts.data, "val", opts.out)
        if self.dist.is_main:
            self.dist.barrier()
        self.metrics_path = opts.out / "metrics.jsonl"

    def _make_optimizer(self) -> torch.optim.Optimizer:
        decay = [p for p in self.raw_model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.raw_model.parameters() if p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": self.cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(
            groups, lr=self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2), fused=self.cuda
        )

    # --- state --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "tokens_seen": self.tokens_seen,
            "optimizer": self.optimizer.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_data": self.gen.get_state(),
            "rng_python": list(random.getstate()[1]),
            "best_val": self.stopper.best,
            "bad_evals": self.stopper.bad,
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        s = ckpt["state"]
        self.raw_model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.step, self.elapsed, self.tokens_seen = s["step"], s["elapsed"], s["tokens_seen"]
        torch.set_rng_state(s["rng_torch"])
        self.gen.set_state(s["rng_data"])
        random.setstate((3, tuple(s["rng_python"]), None))
        self.stopper.best, self.stopper.bad = s["best_val"], s["bad_evals"]

    def save(self, name: str, with_state: bool = True) -> None:
        if self.dist.is_main:
            state = self.state() if with_state else {"step": self.step}
            checkpoint.save(self.opts.out / name, self.raw_model, self.cfg, self.tok, state)

    # --- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, stream: TokenStream) -> tuple[float, float]:
        """(mean loss in nats/token, bits per byte) over fixed windows of `stream`."""
        self.raw_model.eval()
        # the same windows whatever the number of ranks (rank 0 evaluates alone)
        rows = max(self.cfg.batch_size // self.cfg.grad_accum, 1)
        starts = fixed_starts(len(stream), self.T, self.cfg.eval_batches * rows)
        nll, n_tok, n_bytes = 0.0, 0, 0
        for chunk in starts.split(rows):
            x, y = window_batch(stream.ids, chunk, self.T)
            x, y = x.to(self.device), y.to(self.device)
            with self.autocast:
                logits = self.raw_model(x)
            losses = torch.nn.functional.cross_entropy(
                logits.float().view(-1, logits.size(-1)), y.reshape(-1), reduction="none"
            )
            nll += float(losses.sum())
            n_tok += y.numel()
            n_bytes += int(self.byte_len[y.cpu()].sum())
        self.raw_model.train()
        return nll / n_tok, nll / math.log(2) / max(n_bytes, 1)

    # --- training -----------------------------------------------------------------------------
    def progress(self) -> float:
        parts = []
        if self.opts.max_steps:
            parts.append(self.step / self.opts.max_steps)
        if self.opts.time_s:
            parts.append(self.elapsed / self.opts.time_s)
        return max(parts) if parts else self.step / self.cfg.max_steps

    def done(self) -> bool:
        if self.opts.max_steps is not None and self.step >= self.opts.max_steps:
            return True
        if self.opts.time_s is not None and self.elapsed >= self.opts.time_s:
            return True
        return (
            self.opts.max_steps is None
            and self.opts.time_s is None
            and (self.step >= self.cfg.max_steps)
        )

    def train_step(self) -> float:
        """One optimizer step over the global batch; returns its mean loss (all ranks)."""
        lr = lr_at(self.cfg, self.step, self.progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        starts = random_starts(len(self.train_data), self.T, self.cfg.batch_size, self.gen)
        rows = starts.view(self.cfg.grad_accum, self.dist.world_size, self.micro_batch)
        total = torch.zeros((), device=self.device)
        for micro in range(self.cfg.grad_accum):
            x, y = window_batch(self.train_data.ids, rows[micro, self.dist.rank], self.T)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            last = micro == self.cfg.grad_accum - 1
            with self.dist.no_sync(self.model, enabled=not last), self.autocast:
                logits = self.model(x)
                loss = torch.nn.functional.cross_entropy(
                    logits.float().view(-1, logits.size(-1)), y.reshape(-1)
                )
            (loss / self.cfg.grad_accum).backward()
            total += loss.detach() / self.cfg.grad_accum
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += self.cfg.batch_size * self.T
        return self.dist.mean(total)

    def log(self, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            with open(self.metrics_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def eval_and_checkpoint(self, bar: tqdm) -> bool:
        """Evaluate, keep the best checkpoint, warn on overfitting; True when it should stop."""
        stop = False
        self.last_eval_step = self.step
        if self.dist.is_main:
            val_loss, val_bpb = self.evaluate(self.val_data)
            train_loss, train_bpb = self.evaluate(self.train_data)
            gap = val_loss - train_loss
            improved, stop = self.stopper.update(val_loss)
            overfit = gap > self.cfg.overfit_gap
            record = {
                "event": "eval",
                "step": self.step,
                "tokens": self.tokens_seen,
                "elapsed": round(self.elapsed, 2),
                "train_loss": train_loss,
                "val_loss": val_loss,
                "train_bpb": train_bpb,
                "val_bpb": val_bpb,
                "gap": gap,
                "best_val": self.stopper.best,
                "overfitting": overfit,
            }
            self.log(record)
            msg = (
                f"step {self.step}: train {train_loss:.4f} val {val_loss:.4f} "
                f"(gap {gap:+.3f}) val bpb {val_bpb:.3f}" + (" *best" if improved else "")
            )
            bar.write(msg)
            if overfit:
                bar.write(
                    f"WARNING: overfitting: val loss exceeds train loss by {gap:.3f} nats "
                    f"(> {self.cfg.overfit_gap}); the best-by-val checkpoint is best.pt"
                )
            if improved:
                self.save("best.pt", with_state=False)
            self.save("last.pt")
            plot_losses(self.metrics_path, self.opts.out / "loss.png")
        return self.dist.broadcast_flag(stop)

    def fit(self) -> dict[str, Any]:
        """Train until max steps, time, or early stopping; returns a summary."""
        total = self.opts.max_steps or (None if self.opts.time_s else self.cfg.max_steps)
        bar = tqdm(
            total=total if total else int(self.opts.time_s or 0),
            initial=self.step if total else int(self.elapsed),
            unit="step" if total else "s",
            disable=not (self.opts.progress and self.dist.is_main),
            file=sys.stderr,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            dynamic_ncols=True,
        )
        reason = "max_steps" if total else "time"
        window_t, window_tok = time.perf_counter(), 0
        self.raw_model.train()
        # `elapsed` is wall time (evaluations included), carried over on resume
        start, base = time.perf_counter(), self.elapsed
        while not self.done():
            loss = self.train_step()
            self.elapsed = base + time.perf_counter() - start
            window_tok += self.cfg.batch_size * self.T
            bar.update(1 if total else int(self.elapsed) - bar.n)
            if self.step % self.cfg.log_every == 0 or self.step == 1:
                now = time.perf_counter()
                tps = window_tok / max(now - window_t, 1e-9)
                window_t, window_tok = now, 0
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:,.0f}", refresh=False)
                self.log(
                    {
                        "event": "train",
                        "step": self.step,
                        "loss": loss,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "tokens": self.tokens_seen,
                        "tok_per_s": tps,
                        "elapsed": round(self.elapsed, 2),
                    }
                )
            if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                self.save(f"ckpt-{self.step:06d}.pt")
            if self.step % self.cfg.eval_every == 0 and self.eval_and_checkpoint(bar):
                reason = "early_stop"
                bar.write(f"early stopping at step {self.step}: no val improvement")
                break
        if self.last_eval_step != self.step:
            self.eval_and_checkpoint(bar)
        bar.close()
        summary = {
            "event": "end",
            "step": self.step,
            "reason": reason,
            "tokens": self.tokens_seen,
            "elapsed": round(self.elapsed, 2),
            "best_val": self.stopper.best,
        }
        self.log(summary)
        return summary


def build_run(
    preset: str,
    opts: RunOptions,
    overrides: dict[str, Any] | None = None,
    model_overrides: dict[str, Any] | None = None,
    init: str | None = None,
    dist: DistEnv | None = None,
) -> Trainer:
    """Trainer for a preset: a new model + tokenizer, `--init` weights, or a resumed run."""
    from datashark.config import from_name
    from datashark.train.corpus import read_split
    from datashark.train.tokenizer import train_tokenizer

    model_cfg, train_cfg = from_name(preset)
    train_cfg = replace(train_cfg, **(overrides or {}))
    model_cfg = replace(model_cfg, **(model_overrides or {}))
    torch.manual_seed(train_cfg.seed)
    random.seed(train_cfg.seed)
    resumed = None
    if opts.resume is not None:
        resumed = checkpoint.load(opts.resume)
        train_cfg = replace(TrainConfig(**resumed["train_config"]), **(overrides or {}))
        model = GPT(ModelConfig.from_dict(resumed["model_config"]))
        tok = Tokenizer.from_dict(resumed["tokenizer"])
    elif init is not None:
        from datashark.train.gguf_import import load_init

        model, tok = load_init(init, dropout=model_cfg.dropout)
        if opts.seq_len is None:  # train on the preset's window, not e.g. SmolLM2's 8192
            opts = replace(opts, seq_len=model_cfg.context_length)
    else:
        texts = [r["text"] for r in read_split(opts.data, "train")]
        tok = train_tokenizer(texts, train_cfg.vocab_size, train_cfg.tokenizer)
        model = GPT(replace(model_cfg, vocab_size=tok.vocab_size))
    opts.out.mkdir(parents=True, exist_ok=True)
    if dist is None or dist.is_main:
        (opts.out / "tokenizer.json").write_text(json.dumps(tok.to_dict()))
        run_config = {"model": asdict(model.cfg), "train": asdict(train_cfg), "preset": preset}
        (opts.out / "config.json").write_text(json.dumps(run_config))
    trainer = Trainer(model, tok, train_cfg, opts, dist)
    if resumed is not None:
        trainer.load_state(resumed)
    return trainer
