"""Loss-curve PNG from a run's metrics.jsonl (matplotlib, Agg backend, no display needed).

Plots the training loss (per logged step) and the evaluated train/val losses against tokens seen.
What it does not handle: comparing several runs in one figure.
"""

from __future__ import annotations

import json
from pathlib import Path


def plot_losses(metrics: Path, out: Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, evals = [], []
    with open(metrics, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("event") == "train":
                train.append(rec)
            elif rec.get("event") == "eval":
                evals.append(rec)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot(
            [r["tokens"] / 1e6 for r in train],
            [r["loss"] for r in train],
            lw=0.8,
            alpha=0.6,
            label="train (batch)",
        )
    if evals:
        toks = [r["tokens"] / 1e6 for r in evals]
        ax.plot(toks, [r["train_loss"] for r in evals], "o-", ms=3, label="train (eval)")
        ax.plot(toks, [r["val_loss"] for r in evals], "s-", ms=3, label="val")
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title or metrics.parent.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
