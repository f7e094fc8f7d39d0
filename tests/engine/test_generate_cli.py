"""`datashark generate` and `datashark chat`, run as a user runs them (a subprocess).

Uses the cached SmolLM2 (`make test` pulls it; the conftest fixture fails clearly if missing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datashark.engine.model import Model


def datashark(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "datashark.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tokenizer(smollm2_path: Path):
    return Model.load(smollm2_path).tokenizer


def test_generate_greedy_prints_paris(smollm2_path: Path):
    r = datashark(
        "generate", "--model", "smollm2", "--prompt", "The capital of France is",
        "--temperature", "0", "--max-tokens", "8",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(" Paris."), r.stdout


def test_generate_json_reports_ids_text_and_speed(smollm2_path: Path, tokenizer):
    r = datashark(
        "generate", "--model", str(smollm2_path), "--prompt", "local Players = game:GetService(",
        "--temperature", "0", "--max-tokens", "6", "--json", "--threads", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["prompt_ids"] == tokenizer.encode("local Players = game:GetService(")
    assert len(out["ids"]) == 6 and out["finish_reason"] == "length"
    assert out["text"] == tokenizer.decode(out["ids"])
    assert out["prefill_tok_s"] > 0 and out["decode_tok_s"] > 0
    assert 50 < out["peak_rss_mb"] < 2048


def test_generate_chat_uses_the_template_and_stops(smollm2_path: Path, tokenizer):
    r = datashark(
        "generate", "--model", "smollm2", "--chat", "--prompt", "What is 2+2?",
        "--temperature", "0", "--max-tokens", "64", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    prompt = tokenizer.decode(out["prompt_ids"], special=True)
    assert "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n" in prompt
    assert out["finish_reason"] == "stop" and out["text"].strip()
    assert out["ids"] and not set(out["ids"]) & tokenizer.eog_ids


def test_chat_repl_streams_answers_and_resets(smollm2_path: Path):
    args = ("chat", "--model", "smollm2", "--temperature", "0", "--max-tokens", "24")
    r = datashark(*args, stdin="What is the capital of France?\n/reset\nSay hello.\n/exit\n")
    assert r.returncode == 0, r.stderr
    answers = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(answers) == 2
    # after /reset the conversation starts over: the same answer as a fresh session's
    alone = datashark(*args, stdin="Say hello.\n")
    assert alone.returncode == 0, alone.stderr
    assert [line for line in alone.stdout.splitlines() if line.strip()] == answers[1:]


def test_bad_arguments_fail_with_a_message(smollm2_path: Path, tmp_path: Path):
    r = datashark("generate", "--model", str(tmp_path / "nope.gguf"), "--prompt", "x")
    assert r.returncode == 1 and "error:" in r.stderr and "Traceback" not in r.stderr
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    r = datashark("generate", "--model", str(junk), "--prompt", "x")
    assert r.returncode == 1 and "bad magic" in r.stderr and "Traceback" not in r.stderr
    r = datashark("generate", "--model", "smollm2", "--prompt", "x", "--temperature", "-1")
    assert r.returncode == 2 and "temperature" in r.stderr and "Traceback" not in r.stderr
