"""Acceptance 3: DDP with 2 gloo processes on CPU (torchrun) gives the same losses as one
process with the same global batch: each rank takes its half of every global batch and DDP
averages the gradients, so the updates agree up to float summation order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

STEPS = 20


def _train(corpus: Path, out: Path, nproc: int) -> subprocess.CompletedProcess:
    args = [
        "train", "--preset", "tiny", "--data", str(corpus), "--out", str(out),
        "--max-steps", str(STEPS), "--eval-every", "10", "--threads", "1", "--no-progress",
        "--device", "cpu",
    ]  # fmt: skip
    if nproc == 1:
        cmd = [sys.executable, "-m", "datashark.cli", *args]
    else:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "--module", "datashark.cli", *args,
        ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_two_gloo_processes_match_one(corpus: Path, tmp_path: Path, metrics) -> None:
    one = _train(corpus, tmp_path / "one", 1)
    two = _train(corpus, tmp_path / "two", 2)
    assert "2 process(es)" in two.stdout and "1 process(es)" in one.stdout
    a = [r for r in metrics(tmp_path / "one" / "metrics.jsonl") if r["event"] != "end"]
    b = [r for r in metrics(tmp_path / "two" / "metrics.jsonl") if r["event"] != "end"]
    assert [(r["event"], r["step"]) for r in a] == [(r["event"], r["step"]) for r in b]
    for ra, rb in zip(a, b, strict=True):
        key = "loss" if ra["event"] == "train" else "val_loss"
        assert rb[key] == pytest.approx(ra[key], rel=1e-4, abs=1e-5), (ra["step"], key)
    # the losses moved: the runs really trained
    assert a[-1]["val_loss"] < a[0]["loss"]
