"""Parity with llama.cpp: our engine's greedy tokens equal llama.cpp's recorded continuations
(tests/fixtures/llamacpp_greedy.json), and our tokenizer equals live llama.cpp (llama-cpp-python
from the `bench` extra, which `make test` installs) on random text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datashark.engine import Model
from datashark.engine.gguf_file import GGUFFile
from datashark.engine.tokenizer import load_tokenizer
from datashark.registry import KNOWN_MODELS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp_greedy.json"
# acceptance: first 16 tokens on SmolLM2 (>= 5 prompts), first 8 on Gemma 3 (>= 3 prompts)
REQUIRED = {"smollm2": (16, 5), "gemma3-270m": (8, 3)}


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["smollm2", "gemma3-270m"])
def test_greedy_tokens_equal_llamacpp(recorded, request, name):
    path = request.getfixturevalue("smollm2_path" if name == "smollm2" else "gemma3_path")
    rec = recorded["models"][name]
    assert rec["sha256"] == KNOWN_MODELS[name].sha256, "fixture recorded on another file"
    n_tokens, n_prompts = REQUIRED[name]
    assert len(rec["cases"]) >= n_prompts and rec["n_tokens"] >= 32
    model = Model.load(path, threads=2)
    for case in rec["cases"]:
        ids = model.tokenizer.encode(case["prompt"])
        assert ids == case["prompt_ids"], case["prompt"]
        seq = model.new_sequence(len(ids) + n_tokens + 1)
        logits = model.prefill(seq, ids)
        ours = []
        for _ in range(n_tokens):
            tok = int(np.argmax(logits))
            ours.append(tok)
            logits = model.decode([seq], [tok])[0]
        seq.free()
        assert ours == case["ids"][:n_tokens], (case["prompt"], ours, case["ids"][:n_tokens])


@pytest.fixture(scope="module")
def pairs(smollm2_path, gemma3_path):
    import llama_cpp

    out = []
    for path in (smollm2_path, gemma3_path):
        ours = load_tokenizer(GGUFFile.open(path).metadata, str(path))
        ref = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        out.append((ours, ref))
    return out


_PIECES = st.sampled_from(
    [" ", "  ", "\t", "\n", "\n\n", "\r\n", "<|im_start|>", "<|im_end|>", "<start_of_turn>",
     "<eos>", "local", " end", "'s", "'LL", "123", "4567", "😀", "你好", "é", "\u00a0", "::",
     "-->", "</div>", "\u2581"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(st.text(max_size=12), _PIECES), max_size=12).map("".join)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_TEXT, special=st.booleans())
def test_random_text_ids_equal_live_llamacpp(pairs, text, special):
    raw = text.encode("utf-8")
    for ours, ref in pairs:
        expected = ref.tokenize(raw, add_bos=special, special=special)
        assert ours.encode(text, add_bos=None if special else False, parse_special=special) == (
            expected
        )
