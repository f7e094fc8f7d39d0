"""Generation: incremental detokenizing, stop strings, end-of-generation and length, with the
real SmolLM2 (byte-level BPE) and Gemma 3 (SentencePiece with byte tokens) tokenizers."""

from __future__ import annotations

import pytest

from datashark.engine.generate import Generation
from datashark.engine.gguf_file import GGUFFile
from datashark.engine.sampling import SamplingParams
from datashark.engine.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def smol(smollm2_path):
    return load_tokenizer(GGUFFile.open(smollm2_path).metadata, str(smollm2_path))


@pytest.fixture(scope="module")
def gemma(gemma3_path):
    return load_tokenizer(GGUFFile.open(gemma3_path).metadata, str(gemma3_path))


def _run(tok, text, **params):
    """Push the ids of `text` one by one; returns (generation, deltas, finish reason)."""
    gen = Generation(tok, SamplingParams(**params), prompt_len=0)
    deltas, finish = [], None
    for t in tok.encode(text, add_bos=False, parse_special=True):
        delta, finish = gen.push(t)
        deltas.append(delta)
        if finish:
            break
    return gen, deltas, finish


TEXTS = [
    "Hello there, friend. How are you?",
    "héllo wörld — 你好，世界 🦈🎮 👨‍👩‍👧 𠮷𝕏 done",
    "local x = 1\n\tif x > 0 then print(`x={x}`) end\n",
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("which", ["smol", "gemma"])
def test_deltas_rebuild_the_text_without_broken_characters(request, which, text):
    tok = request.getfixturevalue(which)
    gen, deltas, finish = _run(tok, text, max_tokens=1000)
    assert finish is None
    assert "".join(deltas) == text == gen.text
    assert all("\ufffd" not in d for d in deltas)
    # a character really was split across tokens (so holding bytes back mattered): SmolLM2
    # spells 🦈 with two byte-level tokens, Gemma spells 𠮷 with four <0xNN> tokens
    if "🦈" in text:
        assert "" in deltas


def test_gemma_byte_fallback_tokens_form_one_character(gemma):
    ids = gemma.encode("𠮷", add_bos=False)
    assert [gemma.token_text(i) for i in ids] == ["<0xF0>", "<0xA0>", "<0xAE>", "<0xB7>"]
    gen = Generation(gemma, SamplingParams())
    out = [gen.push(i)[0] for i in ids]
    assert out == ["", "", "", "𠮷"]


def test_stop_string_across_tokens_is_cut_and_never_emitted(smol):
    text = "Hello there, friend. How are you?"
    gen, deltas, finish = _run(smol, text, stop=("friend.",))
    assert finish == "stop" and gen.finish_reason == "stop"
    assert gen.text == "Hello there, "
    assert "".join(deltas) == "Hello there, "
    assert not any("friend" in d for d in deltas)


def test_held_back_prefix_is_released_when_no_stop_follows(smol):
    gen, deltas, finish = _run(smol, "Hello there, friend. How", stop=("friendship", "zzz"))
    assert finish is None
    assert "".join(deltas) == "Hello there, friend. How"
    # "friend" could start "friendship", so it came out only with the next token
    assert deltas[2:5] == [",", " ", "friend."]


def test_earliest_of_several_stop_strings_wins(smol):
    gen, _, finish = _run(smol, "one two three four", stop=("four", "two"))
    assert finish == "stop" and gen.text == "one "


def test_stop_string_inside_one_token(smol):
    gen, _, finish = _run(smol, "Hello there, friend.", stop=("ere",))
    assert finish == "stop" and gen.text == "Hello th"


def test_eog_token_stops_without_text_unless_ignore_eos(smol):
    im_end = smol.token_to_id["<|im_end|>"]
    assert im_end in smol.eog_ids
    hi = smol.encode("Hi", add_bos=False)
    gen = Generation(smol, SamplingParams())
    assert gen.push(hi[0]) == ("Hi", None)
    assert gen.push(im_end) == ("", "stop")
    assert gen.text == "Hi" and gen.token_ids == [hi[0], im_end]
    with pytest.raises(RuntimeError):
        gen.push(hi[0])
    gen = Generation(smol, SamplingParams(ignore_eos=True))
    assert gen.push(im_end) == ("", None)  # control text is not emitted
    assert gen.push(hi[0]) == ("Hi", None)


def test_length_finish_flushes_held_back_text(smol):
    ids = smol.encode("Hello there, friend", add_bos=False)
    gen = Generation(smol, SamplingParams(max_tokens=len(ids), stop=("friendly",)))
    out = [gen.push(t) for t in ids]
    assert [f for _, f in out] == [None] * (len(ids) - 1) + ["length"]
    assert "".join(d for d, _ in out) == "Hello there, friend" == gen.text


def test_length_inside_a_character_emits_replacement(gemma):
    ids = gemma.encode("𠮷", add_bos=False)
    gen = Generation(gemma, SamplingParams(max_tokens=2))
    assert gen.push(ids[0]) == ("", None)
    delta, finish = gen.push(ids[1])
    assert finish == "length" and delta == "\ufffd"


def test_history_sampler_and_close(smol):
    prompt = smol.encode("The capital of France is", add_bos=False)
    gen = Generation(smol, SamplingParams(stop=("xyz",)), prompt_ids=prompt)
    assert gen.prompt_len == len(prompt) and gen.history == prompt
    x = smol.encode(" xy", add_bos=False)
    assert len(x) == 1
    assert gen.push(x[0]) == (" ", None)  # "xy" may start "xyz"
    assert gen.history == prompt + x and gen.token_ids == x
    assert gen.sampler.counts == {x[0]: 1}  # generated tokens only, for presence/frequency
    assert gen.close() == "xy"
    assert gen.finish_reason == "length" and gen.text == " xy"
    assert gen.close() == ""


def test_prompt_len_only_keeps_generated_history(smol):
    gen = Generation(smol, SamplingParams(), prompt_len=7)
    gen.push(smol.encode("a", add_bos=False)[0])
    assert gen.prompt_len == 7 and len(gen.history) == 1 and gen.n_generated == 1
