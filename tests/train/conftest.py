"""Fixtures for the trainer tests: the fixture Luau corpus built with `datashark data build`
(no network: `--from tests/fixtures/luau_corpus`), one `tiny` training run of 200 steps shared by
the trainer, resume, export and evaluation tests, and a CLI runner.

torch, tokenizers and matplotlib come from the `train` extra, which `scripts/setup.sh test`
installs; these tests fail (not skip) without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datashark.cli.app import build_app

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "luau_corpus"
TINY_STEPS = 200


def run_cli(args: list[str]) -> str:
    """Run `datashark ARGS` in-process; fails the test with the output on a non-zero exit."""
    result = CliRunner().invoke(build_app(), [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, f"datashark {' '.join(map(str, args))}:\n{result.output}"
    return result.output


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def cli():
    """`cli([...])` runs `datashark ...` in-process and returns its output."""
    return run_cli


@pytest.fixture(scope="session")
def metrics():
    """`metrics(path)` reads a metrics.jsonl file."""
    return read_metrics


def torch_logits_f16_kv(model, ids: list[int]):
    """(T, V) PyTorch logits with keys (after RoPE) and values rounded to float16, as
    `datashark.engine` stores them in its KV cache (like llama.cpp's default f16 cache)."""
    import torch

    from datashark.train import model as model_mod

    rope = model_mod.apply_rope
    calls = [0]

    def rope_then_round_keys(x, cos, sin):
        # Attention.forward rotates q, then k: every second call is a key
        calls[0] += 1
        out = rope(x, cos, sin)
        return out.half().float() if calls[0] % 2 == 0 else out

    def round_values(_module, _inputs, output):
        return output.half().float()

    hooks = [layer.attention.wv.register_forward_hook(round_values) for layer in model.layers]
    model_mod.apply_rope = rope_then_round_keys
    try:
        with torch.no_grad():
            return model(torch.tensor([ids]))[0].numpy()
    finally:
        model_mod.apply_rope = rope
        for h in hooks:
            h.remove()


@pytest.fixture(scope="session")
def f16_kv_logits():
    """`f16_kv_logits(model, ids)`: the PyTorch reference with the engine's f16 KV cache."""
    return torch_logits_f16_kv


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return FIXTURE


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    run_cli(["data", "build", "--from", FIXTURE, "--out", out, "--split", "60,20,20"])
    return out


@pytest.fixture(scope="session")
def tiny_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny` trained for 200 steps, evaluating every 50 and checkpointing every 100."""
    out = tmp_path_factory.mktemp("tiny")
    run_cli(
        [
            "train", "--preset", "tiny", "--data", corpus, "--out", out,
            "--max-steps", TINY_STEPS, "--checkpoint-every", 100, "--threads", 1,
            "--no-progress",
        ]
    )  # fmt: skip
    return out
