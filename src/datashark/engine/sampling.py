"""Choosing the next token from logits: `SamplingParams` (what the caller asked for) and `Sampler`.

Order of the steps, per call of `Sampler.sample(logits, history)`:
1. penalties on a copy of the logits: repetition (llama.cpp: over the last 64 tokens of
   `history`, prompt + output, a positive logit is divided by the penalty, a negative one
   multiplied), then OpenAI's presence / frequency over the generated tokens only
   (`logit -= presence * (count > 0) + frequency * count`); the sampler counts generated tokens
   itself: `accept(token)` after each pick (`Generation.push` does it);
2. temperature 0: the arg-max (first index on ties, as llama.cpp's greedy sampler);
3. otherwise logits / temperature, softmax, then top-k, top-p (smallest set reaching p), min-p
   (drop tokens below min_p x the top probability), renormalize and draw with the sequence's
   own NumPy Generator (seeded: same seed, same logits -> same tokens).

Temperature is applied before the truncations (as in OpenAI-style servers and Hugging Face),
so top-p and min-p see the tempered distribution. Speed on 49k-262k vocabularies: one pass
keeps the candidates within 30 nats of the top logit (the others' total probability is below
1e-7), top-k uses `argpartition`, top-p sorts only a growing head of the candidates.

Does not handle: logit bias, grammars, typical-p, mirostat, DRY.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

REPETITION_WINDOW = 64  # llama.cpp's default penalty_last_n
_CUTOFF_NATS = 30.0  # candidates lie within this many nats (x temperature) of the top logit


class SamplingParamsError(ValueError):
    """A sampling parameter is out of range; `param` names it (for the API's error body)."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens and when to stop. `temperature=0` means greedy; 0 / 1.0 / 0.0 turn
    top_k / top_p / min_p off; penalties of 1.0 / 0.0 are off."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        elif stop is None:
            stop = ()
        elif isinstance(stop, list | tuple):
            stop = tuple(stop)
        else:
            raise SamplingParamsError("stop", "must be a string or a list of strings")
        for s in stop:
            if not isinstance(s, str) or not s:
                raise SamplingParamsError("stop", "every stop sequence must be a non-empty string")
        object.__setattr__(self, "stop", stop)

        _check_int("max_tokens", self.max_tokens, low=1)
        _check_int("top_k", self.top_k, low=0)
        if self.seed is not None:
            _check_int("seed", self.seed, low=None)
        _check_float("temperature", self.temperature, 0.0, None)
        _check_float("top_p", self.top_p, 0.0, 1.0, low_open=True)
        _check_float("min_p", self.min_p, 0.0, 1.0)
        _check_float("repetition_penalty", self.repetition_penalty, 0.0, None, low_open=True)
        _check_float("presence_penalty", self.presence_penalty, -2.0, 2.0)
        _check_float("frequency_penalty", self.frequency_penalty, -2.0, 2.0)
        if not isinstance(self.ignore_eos, bool):
            raise SamplingParamsError("ignore_eos", "must be true or false")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_int(name: str, value: object, low: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SamplingParamsError(name, f"must be an integer, got {value!r}")
    if low is not None and value < low:
        raise SamplingParamsError(name, f"must be >= {low}, got {value}")


def _check_float(
    name: str, value: object, low: float, high: float | None, low_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise SamplingParamsError(name, f"must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise SamplingParamsError(name, f"must be finite, got {value!r}")
    if (v <= low) if low_open else (v < low):
        raise SamplingParamsError(name, f"must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and v > high:
        raise SamplingParamsError(name, f"must be <= {high}, got {v}")


class Sampler:
    """Picks tokens for one sequence with `params`; holds that sequence's random generator and
    the counts of its generated tokens (for presence / frequency penalties: call `accept`)."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.rng = np.random.default_rng(params.seed)
        self.counts: dict[int, int] = {}

    def accept(self, token_id: int) -> None:
        """Record a generated token (presence / frequency penalties count these)."""
        self.counts[token_id] = self.counts.get(token_id, 0) + 1

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> int:
        """The next token id for 1-D `logits` (vocab,), given prompt + generated `history`."""
        x = np.asarray(logits)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"logits must be a non-empty 1-D array, got shape {x.shape}")
        p = self.params
        x = self._apply_penalties(x, history)
        if p.temperature == 0.0:
            best = int(np.argmax(x))  # NaN counts as the max for argmax
            if np.isnan(x[best]):
                raise ValueError("logits contain NaN")
            return best
        return self._draw(x)

    # ----------------------------------------------------------------- penalties
    def _apply_penalties(self, x: np.ndarray, history: Sequence[int]) -> np.ndarray:
        p = self.params
        rep = p.repetition_penalty != 1.0 and len(history) > 0
        openai = (p.presence_penalty != 0.0 or p.frequency_penalty != 0.0) and self.counts
        if not (rep or openai):
            return x
        x = x.astype(np.float32, copy=True)
        if rep:
            window = np.asarray(history[-REPETITION_WINDOW:], dtype=np.int64)
            if window.min() < 0 or window.max() >= x.size:
                raise ValueError(f"history holds token ids outside the vocabulary ({x.size})")
            ids = np.unique(window)
            v = x[ids]
            x[ids] = np.where(v > 0, v / p.repetition_penalty, v * p.repetition_penalty)
        if openai:
            ids = np.fromiter(self.counts.keys(), dtype=np.int64, count=len(self.counts))
            counts = np.fromiter(self.counts.values(), dtype=np.float32, count=len(self.counts))
            if ids.min() < 0 or ids.max() >= x.size:
                raise ValueError(f"accepted token ids outside the vocabulary ({x.size})")
            x[ids] -= p.presence_penalty + p.frequency_penalty * counts
        return x

    # ----------------------------------------------------------------- drawing
    def _draw(self, x: np.ndarray) -> int:
        p = self.params
        top = float(x.max())  # NaN anywhere makes the max NaN
        if not np.isfinite(top):
            raise ValueError("logits contain NaN or +inf")
        # Candidates: tokens within 30 nats (x temperature) of the best. The rest have
        # probability below e^-30 of the top token's, under 1e-7 in total even at 262k tokens.
        keep = x >= top - _CUTOFF_NATS * p.temperature
        ids = np.arange(x.size) if keep.all() else np.flatnonzero(keep)  # all: temperature >= 0.7
        # Shift before dividing, in float64: the best token scores 0 and the rest are finite or
        # -inf, so even a temperature of 1e-300 gives probabilities and never inf - inf.
        with np.errstate(over="ignore"):
            scaled = (x[ids].astype(np.float64) - top) / p.temperature
        if 0 < p.top_k < ids.size:
            keep_k = np.argpartition(-scaled, p.top_k - 1)[: p.top_k]
            ids, scaled = ids[keep_k], scaled[keep_k]
        probs = np.exp(scaled)
        probs /= probs.sum()
        if p.top_p < 1.0:
            keep = _top_p_indices(probs, p.top_p)
            ids, probs = ids[keep], probs[keep]
        if p.min_p > 0.0:
            keep = probs >= p.min_p * probs.max()
            ids, probs = ids[keep], probs[keep]
        cdf = np.cumsum(probs)
        u = self.rng.random() * cdf[-1]
        k = int(np.searchsorted(cdf, u, side="right"))
        return int(ids[min(k, ids.size - 1)])


def _top_p_indices(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Indices of the smallest highest-probability set whose mass reaches `top_p`.

    Looks at the top 64, then 512, ... candidates (argpartition) and sorts only those.
    """
    n = probs.size
    m = min(64, n)
    while True:
        head = np.argpartition(-probs, m - 1)[:m] if m < n else np.arange(n)
        head = head[np.argsort(-probs[head], kind="stable")]
        cum = np.cumsum(probs[head])
        if cum[-1] >= top_p or m >= n:
            cut = int(np.searchsorted(cum, top_p, side="left")) + 1
            return head[: min(cut, m)]
        m = min(m * 8, n)
