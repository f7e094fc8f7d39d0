"""Model: a GGUF file opened for inference, the engine's public face (docs/contracts.md).

Where it comes from: wires the GGUF reader (`gguf_file`), the family chosen by
`general.architecture` (`arch.ARCHS`), the tokenizer and chat template read from the same file,
and the sampler / Generation of `sampling.py` / `generate.py`. Two ways to run it:

- `generate(prompt_ids, params)`: one sequence, yields generated token ids;
- `new_sequence` / `prefill` / `decode`: the batching path the server's scheduler drives, where
  one `decode` call runs ONE forward pass for several sequences of different lengths.

Each sequence owns a KV cache allocated once for its `max_tokens`; prefill runs in chunks of at
most `capacity` tokens through the matrix-matrix kernels.

Does not handle: calls from several threads at once (they are serialised by a lock), prompt
caching across sequences, speculative decoding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence as SequenceT
from pathlib import Path
from typing import Any

import numpy as np

from datashark.engine.arch import ARCHS, Transformer
from datashark.engine.arch.kv_cache import KVCache
from datashark.engine.arch.ops import NativeOps, NumpyOps, Ops, native_ops_available
from datashark.engine.config import ModelConfig
from datashark.engine.errors import ModelFormatError
from datashark.engine.gguf_file import GGUFFile

PREFILL_CHUNK = 128  # token rows per forward pass (prefill chunk and largest decode batch)


class ContextLengthError(ValueError):
    """A sequence has no room left for more tokens (its max_tokens or the model's context)."""


class Sequence:
    """One generation's state in the engine: its KV cache and how many positions it holds."""

    __slots__ = ("cache",)

    def __init__(self, cache: KVCache) -> None:
        self.cache = cache

    @property
    def n_tokens(self) -> int:
        return self.cache.n_tokens

    @property
    def max_tokens(self) -> int:
        return self.cache.max_tokens

    @property
    def freed(self) -> bool:
        return self.cache.k is None

    def free(self) -> None:
        """Release the KV cache memory; the sequence cannot be used afterwards."""
        self.cache.free()

    def __repr__(self) -> str:
        return f"Sequence(n_tokens={self.n_tokens}, max_tokens={self.max_tokens})"


class Model:
    """A loaded model: config, tokenizer, chat template and the forward pass."""

    def __init__(
        self, path: Path, file: GGUFFile, config: ModelConfig, transformer: Transformer
    ) -> None:
        self.path = path
        self.name = path.stem
        self.file = file
        self.config = config
        self.transformer = transformer
        self.metadata = file.metadata
        template = file.metadata.get("tokenizer.chat_template")
        self.chat_template: str | None = template if isinstance(template, str) else None
        self._tokenizer: Any = None
        self._chat: Any = None
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        path: str | Path,
        threads: int | None = None,
        native: bool | None = None,
        capacity: int = PREFILL_CHUNK,
    ) -> Model:
        """Open `path` (GGUF); raises ModelFormatError for a file the engine cannot run.

        threads: kernel threads (default os.cpu_count()); native: True forces the C kernels,
        False the NumPy path, None picks C when built (and DATASHARK_NO_NATIVE is unset);
        capacity: token rows per forward pass.
        """
        from datashark import native as native_mod

        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        path = Path(path)
        file = GGUFFile.open(path)
        config = ModelConfig.from_metadata(file.metadata, frozenset(file.tensors), path)
        native_mod.set_threads(threads)
        use_native = native_ops_available() if native is None else native
        ops: Ops = NativeOps(native_mod.get_threads()) if use_native else NumpyOps()
        transformer = ARCHS[config.arch](config, file.tensors, ops, path, capacity=capacity)
        return cls(path, file, config, transformer)

    # -- text side --------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        """The file's tokenizer (loaded on first use): encode/decode/bos_id/eos_id/eog_ids."""
        if self._tokenizer is None:
            from datashark.engine.tokenizer import load_tokenizer

            try:
                self._tokenizer = load_tokenizer(self.metadata, str(self.path))
            except ValueError as exc:
                if isinstance(exc, ModelFormatError):
                    raise
                raise ModelFormatError(self.path, f"tokenizer: {exc}") from exc
        return self._tokenizer

    def render_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """OpenAI-style messages rendered with the file's `tokenizer.chat_template` (Jinja2;
        ChatML when the file has none). Special tokens come out as text: encode the result with
        parse_special=True."""
        if self._chat is None:
            from datashark.engine.chat_template import load_chat_template

            self._chat = load_chat_template(self.metadata, self.tokenizer)
        return self._chat.render(messages, add_generation_prompt=add_generation_prompt)

    # -- the batching path -------------------------------------------------------------------
    def new_sequence(self, max_tokens: int | None = None) -> Sequence:
        """A sequence whose KV cache holds max_tokens positions (default and cap: context)."""
        ctx = self.config.context_length
        if max_tokens is None:
            max_tokens = ctx
        if not isinstance(max_tokens, int | np.integer) or max_tokens <= 0:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        c = self.config
        return Sequence(KVCache(c.n_layers, c.n_kv_heads, c.head_dim, min(int(max_tokens), ctx)))

    def prefill(self, seq: Sequence, ids: SequenceT[int]) -> np.ndarray:
        """Append `ids` to `seq` (in chunks); returns the logits (vocab,) of the last position."""
        arr = self._check_ids(ids)
        if arr.size == 0:
            raise ValueError("prefill needs at least one token")
        self._check_room(seq, arr.size)
        cap = self.transformer.state.capacity
        with self._lock:
            logits = None
            for start in range(0, arr.size, cap):
                chunk = arr[start : start + cap]
                last = start + cap >= arr.size
                logits = self.transformer.forward(
                    chunk, [(seq.cache, chunk.size)], [chunk.size - 1] if last else []
                )
        assert logits is not None
        return logits[0]

    def decode(self, seqs: SequenceT[Sequence], tokens: SequenceT[int]) -> np.ndarray:
        """Append one token to each sequence in ONE forward pass; returns logits (B, vocab)."""
        if len(seqs) != len(tokens):
            raise ValueError(f"decode: {len(seqs)} sequences but {len(tokens)} tokens")
        if not seqs:
            return np.empty((0, self.config.vocab_size), dtype=np.float32)
        if len({id(s) for s in seqs}) != len(seqs):
            raise ValueError("decode: a sequence appears twice in one batch")
        arr = self._check_ids(tokens)
        for seq in seqs:
            self._check_room(seq, 1)
        cap = self.transformer.state.capacity
        parts = []
        with self._lock:
            for start in range(0, len(seqs), cap):
                batch = seqs[start : start + cap]
                rows = list(range(len(batch)))
                segments = [(s.cache, 1) for s in batch]
                parts.append(self.transformer.forward(arr[start : start + cap], segments, rows))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _check_ids(self, ids: SequenceT[int]) -> np.ndarray:
        try:
            arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"token ids must be integers: {exc}") from None
        vocab = self.config.vocab_size
        if arr.size and (arr.min() < 0 or arr.max() >= vocab):
            bad = int(arr[(arr < 0) | (arr >= vocab)][0])
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {vocab})")
        return arr

    @staticmethod
    def _check_room(seq: Sequence, n: int) -> None:
        if seq.freed:
            raise ValueError("this sequence was freed")
        if seq.n_tokens + n > seq.max_tokens:
            raise ContextLengthError(
                f"sequence holds {seq.n_tokens} of {seq.max_tokens} tokens; {n} more do not fit"
            )

    # -- one sequence ------------------------------------------------------------------------
    def generate(self, prompt_ids: SequenceT[int], params: Any = None) -> TokenStream:
        """Generated token ids, one at a time (an iterator; see TokenStream for text and timing)."""
        from datashark.engine.sampling import SamplingParams

        return TokenStream(self, list(prompt_ids), params or SamplingParams())


class TokenStream(Iterator[int]):
    """Iterator of the token ids generated for one prompt (an end-of-generation token that
    finishes it is not yielded); also the text and timings so far.

    `text` is the text released so far (held back while it could start a stop string);
    `finish_reason` is None until the end, then "stop" or "length". Timings: `prefill_s` (the
    prompt's forward passes), `decode_s` (every later step: sampling and `n_decoded` forward
    passes of one token).
    """

    def __init__(self, model: Model, prompt_ids: list[int], params: Any) -> None:
        from datashark.engine.generate import Generation

        self.model = model
        self.params = params
        self.prompt_ids = prompt_ids
        if not prompt_ids:
            raise ValueError("the prompt needs at least one token")
        budget = len(prompt_ids) + max(int(params.max_tokens), 0)
        if len(prompt_ids) >= model.config.context_length:
            raise ContextLengthError(
                f"prompt of {len(prompt_ids)} tokens does not fit the context of "
                f"{model.config.context_length}"
            )
        self.seq = model.new_sequence(min(budget, model.config.context_length))
        self.gen = Generation(model.tokenizer, params, prompt_len=len(prompt_ids))
        self.history = list(prompt_ids)
        self.text = ""
        self.finish_reason: str | None = None
        self.prefill_s = 0.0
        self.decode_s = 0.0
        self.n_generated = 0  # tokens yielded
        self.n_decoded = 0  # forward passes after the prompt's
        self._eog = frozenset() if params.ignore_eos else model.tokenizer.eog_ids
        self._logits: np.ndarray | None = None

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> int:
        while self.finish_reason is None:
            t0 = time.perf_counter()
            if self._logits is None:
                self._logits = self.model.prefill(self.seq, self.prompt_ids)
                self.prefill_s += time.perf_counter() - t0
                t0 = time.perf_counter()
            token = int(self.gen.sampler.sample(self._logits, self.history))
            self.history.append(token)
            delta, finish = self.gen.push(token)
            if finish is None and self.seq.n_tokens >= self.seq.max_tokens:
                delta += self.gen.close("length")  # the context is full
                finish = "length"
            self.text += delta
            if finish is None:
                self._logits = self.model.decode([self.seq], [token])[0]
                self.n_decoded += 1
            else:
                self.finish_reason = finish
                self.seq.free()
            self.decode_s += time.perf_counter() - t0
            eog = finish == "stop" and token in self._eog
            if not eog:
                self.n_generated += 1
                return token
        raise StopIteration

    def close(self) -> None:
        """Free the KV cache early (when the caller stops iterating before the end)."""
        if not self.seq.freed:
            self.seq.free()
        if self.finish_reason is None:
            self.text += self.gen.close("stop")
            self.finish_reason = "stop"
