"""Acceptance 5: `datashark train --init smollm2` loads SmolLM2-135M (Q4_1 GGUF, dequantized) and
its tokenizer; exported as f32 before any step, our engine gives the original file's logits within
the source file's quantization error, and PyTorch's logits equal the engine's on the export.

Needs the SmolLM2 file in the model cache (`make test` pulls it first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datashark.engine import Model
from datashark.registry import resolve_model
from datashark.train.checkpoint import load_model

TEXT = 'local Players = game:GetService("Players")\nlocal function onJoin(player)\n'


@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return resolve_model("smollm2", pull=False)
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is missing
        pytest.fail(
            f"SmolLM2 is not in the model cache ({exc}); run `datashark models pull smollm2`"
        )


def _last_logits(model: Model, ids: list[int]) -> np.ndarray:
    seq = model.new_sequence(len(ids))
    try:
        return model.prefill(seq, ids)
    finally:
        seq.free()


def test_init_smollm2_then_export_reproduces_logits(
    smollm2: Path, corpus: Path, tmp_path: Path, cli, f16_kv_logits
) -> None:
    out = tmp_path / "ft"
    text = cli(
        [
            "train", "--preset", "tiny", "--init", smollm2, "--data", corpus, "--out", out,
            "--max-steps", 0, "--eval-batches", 1, "--threads", 2, "--no-progress",
        ]
    )  # fmt: skip
    assert "134.52M parameters, vocab 49152" in text
    model, tok, _ = load_model(out / "last.pt")
    assert tok.vocab.pre == "smollm" and tok.vocab.bos_id == 1
    ggu = tmp_path / "smollm2-f32.gguf"
    cli(["export", out / "last.pt", "--out", ggu, "--quant", "f32"])

    original = Model.load(smollm2)
    exported = Model.load(ggu)
    ids = original.tokenizer.encode(TEXT, add_bos=False)
    assert exported.tokenizer.encode(TEXT, add_bos=False) == ids == tok.encode(TEXT)
    a, b = _last_logits(original, ids), _last_logits(exported, ids)
    ref = f16_kv_logits(model, ids)[-1]
    scale = np.abs(a).max()
    # The original runs Q4_1 weights (the engine quantizes activations for those dot products);
    # the export holds the same weights dequantized, so the two differ by that quantization only.
    assert np.abs(a - b).max() / scale < 5e-2
    assert a.argmax() == b.argmax()
    assert np.corrcoef(a, b)[0, 1] > 0.999
    # f32 export vs the PyTorch model it came from (keys/values rounded to f16 like the
    # engine's KV cache): float rounding only
    assert np.abs(b - ref).max() / np.abs(ref).max() < 1e-4
