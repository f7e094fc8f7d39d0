"""The text side of generating one sequence: `Generation` turns sampled token ids into text.

Per pushed token it decides what text is safe to emit and whether generation is finished:
- bytes of each token go through an incremental UTF-8 decoder, so a character split over
  several tokens (emoji, CJK, `<0xNN>` byte tokens) is emitted whole, never as U+FFFD halves;
- text that could be the start of a stop string is held back until it can no longer be; when a
  stop string appears, the text is cut before it and the finish reason is "stop";
- an end-of-generation token (`tokenizer.eog_ids`, unless `ignore_eos`) finishes with "stop",
  `max_tokens` generated tokens with "length".

The model (or the server's scheduler) owns the loop: it samples with `gen.sampler` and calls
`gen.push(token)`. Control tokens emit no text. Does not handle: stop *token ids* (use eog) or
detokenization cleanups such as llama.cpp's `clean_spaces`.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Literal, Protocol

from datashark.engine.sampling import Sampler, SamplingParams

FinishReason = Literal["stop", "length"]


class _Detokenizer(Protocol):
    eog_ids: frozenset[int]

    def token_bytes(self, token_id: int, special: bool = False) -> bytes: ...


class Generation:
    """Text, stop and length handling for one sequence.

    `history` is prompt + generated ids when `prompt_ids` is given (then `prompt_len` is its
    length); with `prompt_len` alone it holds the generated ids only, and the caller keeps the
    prompt side of the history it passes to `sampler.sample` (repetition penalty).
    """

    def __init__(
        self,
        tokenizer: _Detokenizer,
        params: SamplingParams,
        prompt_len: int = 0,
        prompt_ids: Sequence[int] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.params = params
        if prompt_ids is not None:
            self.history: list[int] = [int(t) for t in prompt_ids]
            prompt_len = len(self.history)
        else:
            self.history = []
        self.prompt_len = prompt_len
        self.sampler = Sampler(params)
        self.token_ids: list[int] = []
        self.text = ""  # text emitted so far (never contains a stop string)
        self.finish_reason: FinishReason | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # decoded text not yet emitted (may start a stop string)
        self._stops = params.stop
        self._eog = frozenset() if params.ignore_eos else tokenizer.eog_ids

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    @property
    def n_generated(self) -> int:
        return len(self.token_ids)

    def push(self, token_id: int) -> tuple[str, FinishReason | None]:
        """Add one generated token; returns (text safe to emit now, finish reason or None)."""
        if self.finish_reason is not None:
            raise RuntimeError(f"generation already finished ({self.finish_reason})")
        token_id = int(token_id)
        self.token_ids.append(token_id)
        self.history.append(token_id)
        self.sampler.accept(token_id)
        if token_id in self._eog:
            return self._finish("stop")
        piece = self.tokenizer.token_bytes(token_id)
        if piece:
            self._pending += self._decoder.decode(piece)
        if self._stops:
            cut = _first_stop(self._pending, self._stops)
            if cut >= 0:
                delta = self._pending[:cut]
                self._pending = ""
                self.text += delta
                self.finish_reason = "stop"
                return delta, "stop"
        if len(self.token_ids) >= self.params.max_tokens:
            return self._finish("length")
        hold = _held_back(self._pending, self._stops) if self._stops else 0
        emit_to = len(self._pending) - hold
        delta = self._pending[:emit_to]
        self._pending = self._pending[emit_to:]
        self.text += delta
        return delta, None

    def close(self, reason: FinishReason = "length") -> str:
        """Finish from outside (context full, client gone): returns the text still held back."""
        if self.finish_reason is not None:
            return ""
        delta, _ = self._finish(reason)
        return delta

    def _finish(self, reason: FinishReason) -> tuple[str, FinishReason]:
        """Flush everything pending (an unfinished UTF-8 tail becomes U+FFFD) and stop."""
        delta = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        if self._stops:
            cut = _first_stop(delta, self._stops)
            if cut >= 0:
                delta, reason = delta[:cut], "stop"
        self.text += delta
        self.finish_reason = reason
        return delta, reason


def _first_stop(text: str, stops: tuple[str, ...]) -> int:
    """Index of the earliest stop string in `text`, or -1."""
    best = -1
    for s in stops:
        i = text.find(s)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return best


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    return hold
