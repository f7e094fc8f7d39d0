"""`datashark eval lm` (bits per byte of a split for a checkpoint and for its GGUF export through
the engine, xz's bits per byte of the same bytes, sample compile rate) and `datashark bench train`
(trainer vs bare loop, table + JSON)."""

from __future__ import annotations

import json
import lzma
import math
from pathlib import Path

import pytest

from datashark.train.checkpoint import load_model
from datashark.train.corpus import read_split
from datashark.train.evaluate import eval_lm, xz_bpb
from datashark.train.export import export_gguf
from datashark.train.luau_check import compiles


def test_xz_bpb_is_xz_9e_size() -> None:
    data = b"local x = 1\n" * 200
    packed = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    assert xz_bpb(data) == pytest.approx(8 * len(packed) / len(data))
    assert xz_bpb(data) < 1.0  # repetitive text compresses well


def test_checkpoint_and_gguf_score_the_same(tiny_run: Path, corpus: Path, tmp_path: Path) -> None:
    model, tok, _ = load_model(tiny_run / "best.pt")
    gguf = export_gguf(model, tok, tmp_path / "tiny.gguf", "f32")
    a = eval_lm(str(tiny_run / "best.pt"), corpus, "test", samples=2, max_new_tokens=24)
    b = eval_lm(str(gguf), corpus, "test", samples=2, max_new_tokens=24)
    texts = [r["text"] for r in read_split(corpus, "test")]
    assert a.bytes == b.bytes == len("".join(texts).encode())
    assert a.tokens == b.tokens
    assert a.bpb == pytest.approx(b.bpb, rel=1e-3)
    assert a.xz_bpb == b.xz_bpb == pytest.approx(xz_bpb("".join(texts).encode()))
    # a trained model beats a uniform guess over the vocabulary by far
    assert a.nll_per_token < 0.8 * math.log(tok.vocab_size)
    assert 0 <= a.compiled <= a.samples == 2 and 0 <= a.compile_rate <= 1


def test_reference_is_the_files_own_text_cut_at_the_sample_budget(
    tiny_run: Path, corpus: Path
) -> None:
    """The compile rate's yardstick: each prompt file's real continuation, cut where a sample
    would be cut (budget within the context), checked like a sample; it ignores the sampler."""
    _, tok, _ = load_model(tiny_run / "best.pt")
    ckpt = str(tiny_run / "best.pt")
    records = read_split(corpus, "test")
    for budget in (8, 40):
        hot = eval_lm(ckpt, corpus, "test", samples=3, max_new_tokens=budget, temperature=1.5)
        cold = eval_lm(ckpt, corpus, "test", samples=3, max_new_tokens=budget, temperature=0.0)
        expected = 0
        for i in range(3):
            first, _, rest = records[i % len(records)]["text"].partition("\n")
            room = min(budget, 64 - len(tok.encode(first + "\n")) - 1)
            expected += compiles(first + "\n" + tok.decode(tok.encode(rest)[:room]))
        assert hot.reference_compiled == cold.reference_compiled == expected
        assert (hot.temperature, cold.temperature, hot.top_k) == (1.5, 0.0, 40)


def test_eval_lm_cli_prints_table_and_json(tiny_run: Path, corpus: Path, tmp_path: Path, cli):
    out = tmp_path / "eval.json"
    text = cli(
        [
            "eval", "lm", "--model", tiny_run / "best.pt", "--data", corpus, "--split", "val",
            "--samples", 3, "--max-new-tokens", 16, "--temperature", 0.5, "--top-k", 7,
            "--json", out,
        ]
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["split"] == "val" and report["samples"] == 3
    assert (report["temperature"], report["top_k"]) == (0.5, 7)
    assert report["reference_rate"] == report["reference_compiled"] / 3
    assert "real text, same budget" in text and "temperature 0.5, top-k 7" in text
    assert f"{report['bpb']:.4f}" in text and f"{report['xz_bpb']:.4f}" in text
    assert "samples compiling" in text


def test_bench_train_writes_table_and_json(corpus: Path, tmp_path: Path, cli) -> None:
    text = cli(
        [
            "bench", "train", "--preset", "tiny", "--data", corpus, "--steps", 2, "--rounds", 1,
            "--out", tmp_path, "--threads", 1,
        ]
    )  # fmt: skip
    result = json.loads((tmp_path / "bench_train.json").read_text())
    assert result["bare_tok_s"] > 0 and result["trainer_tok_s"] > 0
    assert result["ratio"] == pytest.approx(result["trainer_tok_s"] / result["bare_tok_s"])
    assert "bare" in text and "trainer" in text and "ratio" in text
