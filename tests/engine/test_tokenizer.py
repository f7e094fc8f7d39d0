"""Tokenizers: ids equal llama.cpp's recorded ids (tests/fixtures/llamacpp_tokens.json, made by
scripts/record_llamacpp_fixtures.py), exact round trips, the BPE / SentencePiece merge rules on
small hand-made vocabularies, and clear errors for bad metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datashark.engine.errors import ModelFormatError
from datashark.engine.gguf_file import GGUFFile
from datashark.engine.tokenizer import TokenType, load_tokenizer
from datashark.engine.tokenizer_bpe import BYTE_TO_CHAR
from datashark.registry import KNOWN_MODELS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp_tokens.json"


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizers(smollm2_path, gemma3_path):
    return {
        "smollm2": load_tokenizer(GGUFFile.open(smollm2_path).metadata, str(smollm2_path)),
        "gemma3-270m": load_tokenizer(GGUFFile.open(gemma3_path).metadata, str(gemma3_path)),
    }


# ----------------------------------------------------------------------------- llama.cpp fixtures
@pytest.mark.parametrize("name", ["smollm2", "gemma3-270m"])
def test_ids_equal_llamacpp(recorded, tokenizers, name):
    rec = recorded["models"][name]
    assert rec["sha256"] == KNOWN_MODELS[name].sha256, "fixture recorded on another file"
    tok = tokenizers[name]
    cases = rec["cases"]
    assert len(cases) >= 30
    mismatches = []
    for case in cases:
        text = case["text"]
        ours = tok.encode(text)
        plain = tok.encode(text, add_bos=False, parse_special=False)
        if ours != case["ids"] or plain != case["ids_plain"]:
            mismatches.append((text[:40], ours[:12], case["ids"][:12]))
        assert tok.decode_bytes(case["ids"]) == bytes.fromhex(case["decoded_hex"]), text[:40]
    assert not mismatches, mismatches


def test_fixture_covers_the_hard_cases(recorded):
    texts = [c["text"] for c in recorded["models"]["smollm2"]["cases"]]
    joined = "".join(texts)
    for needle in ("<|im_start|>", "\t", "   ", "🦈", "你好", "1234567890", "local ", "\r\n"):
        assert needle in joined, needle


def test_special_tokens_and_bos(tokenizers):
    smol, gemma = tokenizers["smollm2"], tokenizers["gemma3-270m"]
    assert not smol.add_bos and gemma.add_bos
    assert smol.encode("<|im_start|>")[0] == smol.token_to_id["<|im_start|>"]
    assert len(smol.encode("<|im_start|>", parse_special=False)) > 1
    assert gemma.encode("hi")[0] == gemma.bos_id == 2
    assert gemma.encode("hi", add_bos=False)[0] != 2
    assert gemma.token_to_id["<end_of_turn>"] in gemma.eog_ids and gemma.eos_id in gemma.eog_ids
    assert smol.eog_ids == {smol.token_to_id["<|endoftext|>"], smol.token_to_id["<|im_end|>"]}
    # control tokens are left out of decoded text unless asked for
    ids = smol.encode("<|im_start|>user")
    assert smol.decode(ids) == "user" and smol.decode(ids, special=True) == "<|im_start|>user"
    with pytest.raises(ValueError):
        smol.decode([len(smol.tokens)])
    with pytest.raises(TypeError):
        smol.encode(b"bytes")  # type: ignore[arg-type]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=80))
def test_round_trip_is_exact(tokenizers, text):
    # Gemma: byte fallback brings every text back, except that "▁" is its space symbol
    gemma = tokenizers["gemma3-270m"]
    ids = gemma.encode(text, add_bos=False, parse_special=False)
    assert gemma.decode(ids) == text.replace("\u2581", " ")
    # SmolLM2's byte alphabet lacks a few bytes (0x04, 0xC0, 0xF1, ...): llama.cpp drops them
    smol = tokenizers["smollm2"]
    ids = smol.encode(text, add_bos=False, parse_special=False)
    kept = bytes(b for b in text.encode("utf-8") if BYTE_TO_CHAR[b] in smol.token_to_id)
    assert smol.decode_bytes(ids, special=True) == kept


def test_long_prompt_round_trip(tokenizers):
    g = tokenizers["gemma3-270m"]
    src = Path(__file__).read_text(encoding="utf-8")
    text = (src * (8192 // len(src) + 1))[:8192]
    for tok in tokenizers.values():
        ids = tok.encode(text, add_bos=False)
        assert 1000 < len(ids) < 8192
        assert tok.decode(ids, special=True) == text.replace(
            "\u2581", " " if tok is g else "\u2581"
        )


# ----------------------------------------------------------------------------- small vocabularies
def _bpe_meta(tokens, merges, pre="gpt2", types=None):
    return {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types or [TokenType.NORMAL] * len(tokens),
        "tokenizer.ggml.merges": merges,
    }


def test_bpe_merges_by_rank_then_leftmost():
    g = BYTE_TO_CHAR[ord(" ")]  # Ġ
    tokens = ["a", "b", "c", g, "ab", "bc", "abc", f"{g}a", "<s>"]
    types = [TokenType.NORMAL] * 8 + [TokenType.CONTROL]
    # rank 0 "b c" beats "a b": abc -> a + bc, and "a bc" is not a merge
    tok = load_tokenizer(_bpe_meta(tokens, ["b c", "a b", "ab c", f"{g} a"], types=types))
    assert tok.encode("abc") == [0, 5]
    tok = load_tokenizer(_bpe_meta(tokens, ["a b", "b c", "ab c", f"{g} a"], types=types))
    assert tok.encode("abc") == [6]  # a+b first, then ab+c
    assert tok.encode("abab") == [4, 4]
    assert tok.encode(" a<s>b") == [7, 8, 1]
    assert tok.decode([7, 8, 1]) == " ab" and tok.decode([7, 8, 1], special=True) == " a<s>b"


def test_bpe_pre_tokenizers_split_like_llamacpp():
    from datashark.engine.tokenizer_pre import get_pre_tokenizer

    smollm = get_pre_tokenizer("smollm")
    assert smollm.split("x 123  ab's\n\n c") == [
        "x",
        " ",
        "1",
        "2",
        "3",
        " ",
        " ab",
        "'s",
        "\n\n",
        " c",
    ]
    gpt2 = get_pre_tokenizer("gpt-2")
    assert gpt2.split("x 123  ab's\n\n c") == ["x", " 123", " ", " ab", "'s", "\n\n", " c"]
    llama3 = get_pre_tokenizer("llama-bpe")
    assert llama3.split("I'M 12345 ok!\n\n") == ["I", "'M", " ", "123", "45", " ok", "!\n\n"]
    assert get_pre_tokenizer(None).name == "default"
    for pre in (smollm, gpt2, llama3):
        text = "  mixed\t\ttext — 你好 ١٢٣ 🦈!! \n"
        assert "".join(pre.split(text)) == text


def _spm_meta(tokens, scores, types, add_space_prefix=False):
    return {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.add_space_prefix": add_space_prefix,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.add_bos_token": True,
    }


def test_spm_highest_score_first_and_byte_fallback():
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    base = ["<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc", "\u2581", "\u2581a"]
    N, C, U, B = TokenType.NORMAL, TokenType.CONTROL, TokenType.UNKNOWN, TokenType.BYTE
    types = [U, C, C] + [N] * 7 + [B] * 256
    scores = [0.0, 0.0, 0.0, -1, -1, -1, -2.0, -1.0, -1, -3.0] + [0.0] * 256
    tok = load_tokenizer(_spm_meta(base + byte_tokens, scores, types))
    # "bc" (-1.0) scores higher than "ab" (-2.0): a + bc
    assert tok.encode("abc") == [1, 3, 7]
    scores[6] = -0.5
    tok = load_tokenizer(_spm_meta(base + byte_tokens, scores, types))
    assert tok.encode("abc", add_bos=False) == [6, 5]
    # spaces become ▁; "é" is not in the vocab: its two UTF-8 bytes as <0xC3><0xA9>
    ids = tok.encode(" aé", add_bos=False)
    assert ids == [9, 10 + 0xC3, 10 + 0xA9]
    assert tok.decode(ids) == " aé"
    # add_space_prefix puts ▁ before the text (and after a special token)
    spaced = load_tokenizer(_spm_meta(base + byte_tokens, scores, types, add_space_prefix=True))
    assert spaced.encode("a", add_bos=False) == [9]
    assert spaced.encode("</s>a", add_bos=False) == [2, 9]


@pytest.mark.parametrize(
    "meta, match",
    [
        ({"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": ["a"]}, "not supported"),
        ({"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a"]}, "merges"),
        ({"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": []}, "tokens"),
        (_bpe_meta(["a", "b"], ["a b"], pre="made-up"), "pre-tokenizer"),
        (_bpe_meta(["a", "b"], ["ab"]), "no space"),
        (_bpe_meta(["a", "b"], ["a b"], types=[1]), "token_type"),
        ({**_bpe_meta(["a"], []), "tokenizer.ggml.eos_token_id": 9}, "outside"),
        (
            {**_spm_meta(["a", "b"], [0.0], [1, 1])},
            "scores",
        ),
    ],
)
def test_bad_metadata_is_a_model_format_error(meta, match):
    with pytest.raises(ModelFormatError, match=match):
        load_tokenizer(meta, "bad.gguf")
