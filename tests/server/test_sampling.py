"""OpenAI sampling semantics through the official client: seed reproducibility, stop strings,
n=2 (two sequences), and the extras top_k / min_p / repetition_penalty."""

from __future__ import annotations

STORY = [{"role": "user", "content": "Tell me a short story about a cat who finds a hat."}]


def _text(client, **kwargs) -> str:
    out = client.chat.completions.create(model="smollm2", messages=STORY, **kwargs)
    return out.choices[0].message.content


def test_seed_reproducible_and_seed_matters(client) -> None:
    kwargs = {"max_tokens": 16, "temperature": 1.0, "top_p": 0.95}
    a = _text(client, seed=1234, **kwargs)
    b = _text(client, seed=1234, **kwargs)
    assert a == b
    others = {_text(client, seed=seed, **kwargs) for seed in (1, 2, 3)}
    assert len(others | {a}) > 1  # different seeds give different samples


def test_seed_reproducible_in_completions_and_with_extras(client) -> None:
    kwargs = {
        "model": "smollm2",
        "prompt": "Once upon a time",
        "max_tokens": 12,
        "temperature": 0.9,
        "seed": 7,
        "extra_body": {"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1},
        "presence_penalty": 0.5,
        "frequency_penalty": 0.5,
    }
    a = client.completions.create(**kwargs).choices[0].text
    b = client.completions.create(**kwargs).choices[0].text
    assert a == b and a


def test_stop_string_and_list(client) -> None:
    full = _text(client, max_tokens=24, temperature=0)
    words = full.split()
    assert len(words) > 4, full
    stop_word = words[3]
    cut = full[: full.index(stop_word)]
    out = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=24, temperature=0, stop=stop_word
    )
    assert out.choices[0].message.content == cut
    assert out.choices[0].finish_reason == "stop"
    listed = client.chat.completions.create(
        model="smollm2",
        messages=STORY,
        max_tokens=24,
        temperature=0,
        stop=["@@never@@", stop_word],
    )
    assert listed.choices[0].message.content == cut
    streamed = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=24, temperature=0, stop=stop_word, stream=True
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == cut
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_n2_two_choices(client) -> None:
    out = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=8, temperature=1.0, seed=5, n=2
    )
    assert [c.index for c in out.choices] == [0, 1]
    assert all(c.finish_reason in ("stop", "length") for c in out.choices)
    again = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=8, temperature=1.0, seed=5, n=2
    )
    assert [c.message.content for c in again.choices] == [c.message.content for c in out.choices]
    # choice i samples with seed + i: choice 1 of seed 5 is choice 0 of seed 6
    assert out.choices[1].message.content == _text(client, max_tokens=8, temperature=1.0, seed=6)
    solo = client.chat.completions.create(model="smollm2", messages=STORY, max_tokens=8, seed=5)
    assert out.usage.prompt_tokens == solo.usage.prompt_tokens  # the prompt counts once


def test_n2_greedy_streams_both_choices(client) -> None:
    stream = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=6, temperature=0, n=2, stream=True
    )
    texts = {0: "", 1: ""}
    finished = set()
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished.add(choice.index)
    assert finished == {0, 1}
    assert texts[0] == texts[1] == _text(client, max_tokens=6, temperature=0)
