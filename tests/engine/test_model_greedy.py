"""Greedy decoding equals llama.cpp's (issue 2, acceptance 3).

tests/fixtures/llamacpp_greedy.json holds llama.cpp's greedy continuations (32 tokens per prompt,
recorded by scripts/record_llamacpp_fixtures.py with llama-cpp-python on the same files). We feed
llama.cpp's own prompt ids, so only the forward pass is compared, and decode greedily with the
batching API (argmax, end-of-generation tokens not special: llama.cpp's loop does not stop there).
Required: SmolLM2, the first 16 tokens of at least 5 prompts; Gemma 3, the first 8 of 3 prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datashark.engine.model import Model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp_greedy.json"
REQUIRED = {"smollm2": (16, 5), "gemma3-270m": (8, 3)}  # tokens that must match, prompts


def greedy(model: Model, prompt_ids: list[int], n: int) -> list[int]:
    seq = model.new_sequence(len(prompt_ids) + n)
    logits = model.prefill(seq, prompt_ids)
    out = []
    for _ in range(n):
        out.append(int(np.argmax(logits)))
        if len(out) < n:
            logits = model.decode([seq], [out[-1]])[0]
    seq.free()
    return out


@pytest.fixture(scope="module")
def fixture() -> dict:
    if not FIXTURE.exists():
        pytest.fail(f"{FIXTURE} is missing: run scripts/record_llamacpp_fixtures.py")
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["models"]


@pytest.mark.parametrize("name", list(REQUIRED))
def test_greedy_matches_llamacpp(fixture: dict, name: str, request: pytest.FixtureRequest):
    path = request.getfixturevalue("smollm2_path" if name == "smollm2" else "gemma3_path")
    recorded = fixture[name]
    assert recorded["file"] == path.name
    n_match, n_prompts = REQUIRED[name]
    cases = recorded["cases"]
    assert len(cases) >= n_prompts
    model = Model.load(path, threads=2)
    report = []
    for case in cases:
        want = case["ids"][:n_match]
        got = greedy(model, case["prompt_ids"], n_match)
        same = next((i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b), n_match)
        report.append(f"{case['prompt'][:30]!r}: {same}/{n_match} {model.tokenizer.decode(got)!r}")
        assert got == want, "\n".join(report)
