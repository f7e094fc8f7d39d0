"""Acceptance 2: `tiny` trains 200 steps on the fixture corpus and its loss falls; resuming from
the step-100 checkpoint reproduces the step-200 loss exactly; early stopping fires on a planted
plateau. Plus the LR schedule, the overfitting report and the model's causal/RoPE properties."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from datashark.config import ModelConfig, TrainConfig, from_name
from datashark.train.checkpoint import load_model
from datashark.train.model import GPT, apply_rope, rope_tables
from datashark.train.trainer import EarlyStopping, RunOptions, build_run, lr_at

TINY_STEPS = 200  # conftest's tiny_run


def test_tiny_trains_and_loss_falls(tiny_run: Path, metrics) -> None:
    records = metrics(tiny_run / "metrics.jsonl")
    train = [r for r in records if r["event"] == "train"]
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [50, 100, 150, 200]
    assert records[-1]["event"] == "end" and records[-1]["step"] == TINY_STEPS
    first, last = train[0]["loss"], train[-1]["loss"]
    assert first > math.log(400)  # starts near uniform over the vocabulary
    assert last < first - 1.5, (first, last)
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]
    for r in evals:
        assert r["gap"] == pytest.approx(r["val_loss"] - r["train_loss"])
        assert 0 < r["val_bpb"] < 8
    for name in ("best.pt", "last.pt", "ckpt-000100.pt", "ckpt-000200.pt", "loss.png"):
        assert (tiny_run / name).stat().st_size > 0, name
    assert (tiny_run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # best.pt holds the weights of the best val evaluation
    model, tok, ckpt = load_model(tiny_run / "best.pt")
    best = min(evals, key=lambda r: r["val_loss"])
    assert ckpt["state"]["step"] == best["step"]


def test_resume_from_step_100_reproduces_step_200(tiny_run, corpus, tmp_path, cli, metrics):
    out = tmp_path / "resumed"
    cli(
        [
            "train", "--preset", "tiny", "--data", corpus, "--out", out, "--max-steps",
            TINY_STEPS, "--resume", tiny_run / "ckpt-000100.pt", "--threads", 1, "--no-progress",
        ]
    )  # fmt: skip
    full = {(r["event"], r["step"]): r for r in metrics(tiny_run / "metrics.jsonl")}
    resumed = metrics(out / "metrics.jsonl")
    assert resumed[0]["step"] > 100  # it did not start over
    for r in resumed:
        if r["event"] == "train":
            assert r["loss"] == full[("train", r["step"])]["loss"], r["step"]
        if r["event"] == "eval":
            assert r["val_loss"] == full[("eval", r["step"])]["val_loss"], r["step"]
    assert ("train", 200) in {(r["event"], r["step"]) for r in resumed}
    a = load_model(tiny_run / "last.pt")[0].state_dict()
    b = load_model(out / "last.pt")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_early_stopping_fires_on_planted_plateau(corpus, tmp_path, cli, metrics) -> None:
    # lr = 0 plants a plateau: val loss never improves after the first evaluation
    out = tmp_path / "plateau"
    text = cli(
        [
            "train", "--preset", "tiny", "--data", corpus, "--out", out, "--max-steps", 100,
            "--lr", 0, "--min-lr", 0, "--eval-every", 5, "--patience", 2, "--threads", 1,
            "--no-progress",
        ]
    )  # fmt: skip
    end = metrics(out / "metrics.jsonl")[-1]
    assert end["reason"] == "early_stop"
    assert end["step"] == 15  # eval 5 sets the best, 10 and 15 do not improve
    assert "early stopping at step 15" in text


def test_early_stopping_counter() -> None:
    stop = EarlyStopping(patience=3, min_delta=0.01)
    assert stop.update(2.0) == (True, False)
    assert stop.update(1.995) == (False, False)  # within min_delta: no real improvement
    assert stop.update(1.5) == (True, False)
    assert stop.update(1.6) == (False, False)
    assert stop.update(1.6) == (False, False)
    assert stop.update(1.6) == (False, True)


def test_overfitting_is_reported(corpus: Path, tmp_path: Path, capsys, metrics) -> None:
    opts = RunOptions(data=corpus, out=tmp_path / "gap", max_steps=10, progress=False)
    trainer = build_run("tiny", opts, {"eval_every": 5, "overfit_gap": -100.0})
    trainer.fit()
    evals = [r for r in metrics(opts.out / "metrics.jsonl") if r["event"] == "eval"]
    assert evals and all(r["overfitting"] for r in evals)
    captured = capsys.readouterr()
    assert "WARNING: overfitting" in captured.out + captured.err


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10)
    assert lr_at(cfg, 0, 0.0) == pytest.approx(1e-4)
    assert lr_at(cfg, 9, 0.0) == pytest.approx(1e-3)
    assert lr_at(cfg, 10, 0.0) == pytest.approx(1e-3)
    assert lr_at(cfg, 50, 0.5) == pytest.approx(5.5e-4)
    assert lr_at(cfg, 100, 1.0) == pytest.approx(1e-4)


def test_presets() -> None:
    m, t = from_name("beta-10m")
    assert (m.n_layers, m.d_model, m.n_heads, m.context_length) == (8, 320, 8, 256)
    assert 9.5e6 < GPT(m).num_params() < 11e6
    assert ModelConfig.from_name("tiny").n_kv_heads < ModelConfig.from_name("tiny").n_heads
    with pytest.raises(ValueError, match="unknown preset"):
        from_name("gpt-5")
    with pytest.raises(ValueError):
        ModelConfig(d_model=100, n_heads=3)


def test_model_is_causal_and_gqa_shaped() -> None:
    torch.manual_seed(0)
    cfg = replace(ModelConfig.from_name("tiny"), vocab_size=50)
    model = GPT(cfg).eval()
    assert model.layers[0].attention.wk.weight.shape == (cfg.n_kv_heads * cfg.head_dim, 64)
    x = torch.randint(0, 50, (2, 16))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % 50  # change only the future
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 16, 50)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_rope_rotates_adjacent_pairs() -> None:
    cos, sin = rope_tables(8, 4, 10000.0)
    x = torch.randn(1, 4, 1, 8)
    out = apply_rope(x, cos, sin)
    # reference: view (x[2i], x[2i+1]) as a complex number, multiply by e^{i * pos * theta_i}
    xc = torch.view_as_complex(x.view(1, 4, 1, 4, 2))
    theta = 10000.0 ** (-torch.arange(0, 8, 2).double() / 8)
    angles = torch.outer(torch.arange(4).double(), theta).float()
    ref = torch.view_as_real(xc * torch.polar(torch.ones_like(angles), angles).view(1, 4, 1, 4))
    assert torch.allclose(out, ref.flatten(3), atol=1e-6)
