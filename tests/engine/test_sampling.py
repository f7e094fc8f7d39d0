"""Sampler and SamplingParams: validation, greedy, seeds, truncations, penalties."""

from __future__ import annotations

import numpy as np
import pytest

from datashark.engine.sampling import (
    REPETITION_WINDOW,
    Sampler,
    SamplingParams,
    SamplingParamsError,
    _top_p_indices,
)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"min_p": -0.1}, "min_p"),
        ({"min_p": 1.1}, "min_p"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"seed": "x"}, "seed"),
        ({"seed": True}, "seed"),
        ({"stop": ("ok", "")}, "stop"),
        ({"stop": 5}, "stop"),
        ({"ignore_eos": "yes"}, "ignore_eos"),
    ],
)
def test_invalid_params_name_the_field(kwargs, param):
    with pytest.raises(SamplingParamsError) as info:
        SamplingParams(**kwargs)
    assert info.value.param == param
    assert param in str(info.value)


def test_params_defaults_and_stop_coercion():
    p = SamplingParams()
    assert (p.max_tokens, p.temperature, p.top_k, p.top_p, p.min_p) == (256, 1.0, 0, 1.0, 0.0)
    assert p.stop == () and p.seed is None and not p.ignore_eos
    assert SamplingParams(stop="END").stop == ("END",)
    assert SamplingParams(stop=["a", "b"]).stop == ("a", "b")
    with pytest.raises(AttributeError):
        p.temperature = 0.5  # frozen


def test_greedy_is_argmax_first_on_ties():
    s = Sampler(SamplingParams(temperature=0))
    logits = np.array([0.1, 3.0, -1.0, 3.0], dtype=np.float32)
    assert s.sample(logits) == 1
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal(49152).astype(np.float32)
        assert s.sample(x) == int(np.argmax(x))


def test_bad_logits_are_errors():
    s = Sampler(SamplingParams(temperature=0.7, seed=1))
    with pytest.raises(ValueError):
        s.sample(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        s.sample(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(ValueError):
        Sampler(SamplingParams(repetition_penalty=1.3)).sample(np.zeros(4), history=[7])


def _draws(params: SamplingParams, logits: np.ndarray, n: int) -> list[int]:
    s = Sampler(params)
    return [s.sample(logits) for _ in range(n)]


def test_same_seed_same_tokens_other_seed_differs():
    logits = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    a = _draws(SamplingParams(temperature=1.0, seed=42), logits, 50)
    b = _draws(SamplingParams(temperature=1.0, seed=42), logits, 50)
    c = _draws(SamplingParams(temperature=1.0, seed=43), logits, 50)
    assert a == b
    assert a != c


def test_empirical_distribution_matches_tempered_softmax():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    for temperature in (1.0, 0.5):
        draws = _draws(SamplingParams(temperature=temperature, seed=7), logits, 8000)
        freq = np.bincount(draws, minlength=4) / len(draws)
        z = np.exp(logits / temperature)
        expected = z / z.sum()
        np.testing.assert_allclose(freq, expected, atol=0.02)


def test_top_k_limits_candidates():
    logits = np.random.default_rng(5).standard_normal(5000).astype(np.float32)
    top5 = set(np.argsort(-logits)[:5].tolist())
    draws = _draws(SamplingParams(temperature=5.0, top_k=5, seed=1), logits, 400)
    assert set(draws) <= top5
    assert len(set(draws)) == 5  # flat enough at T=5 that all five appear
    assert set(_draws(SamplingParams(temperature=1.0, top_k=1, seed=2), logits, 20)) == {
        int(np.argmax(logits))
    }


def test_top_p_and_min_p_on_known_distribution():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    assert set(_draws(SamplingParams(top_p=0.79, seed=1), logits, 500)) == {0, 1}
    assert set(_draws(SamplingParams(top_p=0.85, seed=1), logits, 2000)) == {0, 1, 2}
    assert set(_draws(SamplingParams(top_p=0.3, seed=1), logits, 100)) == {0}
    # min_p 0.2: keep p >= 0.2 * 0.5 = 0.1 -> tokens 0, 1, 2
    assert set(_draws(SamplingParams(min_p=0.2, seed=1), logits, 2000)) == {0, 1, 2}
    assert set(_draws(SamplingParams(min_p=0.7, seed=1), logits, 200)) == {0}


@pytest.mark.parametrize("vocab, top_p", [(49152, 0.9), (262144, 0.5), (300, 0.999)])
def test_top_p_head_search_equals_full_sort(vocab, top_p):
    rng = np.random.default_rng(vocab)
    for _ in range(2):
        logits = rng.standard_normal(vocab) * 0.5  # flat: the top 64 never reach p
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")
        cum = np.cumsum(probs[order])
        expected = set(order[: int(np.searchsorted(cum, top_p)) + 1].tolist())
        assert set(_top_p_indices(probs, top_p).tolist()) == expected


def test_repetition_penalty_llamacpp_semantics():
    logits = np.array([2.0, -1.0, 1.9, 0.5], dtype=np.float32)
    s = Sampler(SamplingParams(temperature=0, repetition_penalty=2.0))
    # token 0: 2.0 / 2 = 1.0 < 1.9, so token 2 wins
    assert s.sample(logits, history=[0, 1]) == 2
    penalized = s._apply_penalties(logits, [0, 1])
    np.testing.assert_allclose(penalized, [1.0, -2.0, 1.9, 0.5])
    assert logits[0] == 2.0  # the caller's array is untouched
    # only the last REPETITION_WINDOW tokens count
    old = [0] + [3] * REPETITION_WINDOW
    assert s.sample(logits, history=old) == 0


def test_presence_and_frequency_count_generated_tokens_only():
    logits = np.array([1.0, 0.5, 0.0], dtype=np.float32)
    s = Sampler(SamplingParams(temperature=0, frequency_penalty=0.2))
    assert s.sample(logits, history=[0, 0, 0, 0]) == 0  # prompt tokens do not count
    s.accept(0)
    s.accept(0)
    assert s.sample(logits) == 0  # 1.0 - 0.4 = 0.6 > 0.5
    s.accept(0)
    assert s.sample(logits) == 1  # 1.0 - 0.6 = 0.4 < 0.5
    p = Sampler(SamplingParams(temperature=0, presence_penalty=0.6))
    p.accept(0)
    np.testing.assert_allclose(p._apply_penalties(logits, []), [0.4, 0.5, 0.0])
    neg = Sampler(SamplingParams(temperature=0, presence_penalty=-1.5))
    neg.accept(2)
    assert neg.sample(logits) == 2  # a negative penalty encourages repeats


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-40, 1e-8])
def test_tiny_temperature_is_the_argmax_without_nan(temperature):
    """A positive temperature too small for float32 (the fuzzer sends such) must not divide by zero
    or give inf - inf: it samples the best token, and the tied best ones only."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(49152).astype(np.float32)
    x[100] = -np.inf
    with np.errstate(all="raise"):
        s = Sampler(SamplingParams(temperature=temperature, seed=3))
        assert [s.sample(x) for _ in range(5)] == [int(np.argmax(x))] * 5
        ties = np.array([1.0, 4.0, 4.0, -2.0], dtype=np.float32)
        assert set(_draws(SamplingParams(temperature=temperature, seed=1), ties, 200)) == {1, 2}
