"""ModelConfig: the shape of a GGUF decoder, read from the file's metadata and checked.

Where it comes from: the GGUF key names of llama.cpp (`{arch}.block_count`,
`{arch}.attention.head_count`, ...) and the defaults llama.cpp applies when a key is absent
(`llama-model.cpp`, `load_hparams`). Two families: `llama` (SmolLM2, TinyLlama, our own exports)
and `gemma3` (sliding-window + global layers, QK norm, GeGLU, pre and post norms).

Names (one vocabulary with the trainer): `n_layers` blocks of width `d_model`; `n_heads` query
heads and `n_kv_heads` key/value heads of `head_dim`; feed-forward width `d_ff`; `rope_dim` of the
`head_dim` channels are rotated.

Does not handle: RoPE scaling other than linear (YaRN, llama3 scaling), MoE, attention logit
softcapping, architectures other than the two above. Such files raise ModelFormatError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datashark.engine.errors import ModelFormatError

SUPPORTED_ARCHS = ("llama", "gemma3")

# llama.cpp fixes these for gemma3 when the file does not say (llama-model.cpp, LLM_ARCH_GEMMA3):
# five sliding-window layers, then one global; local layers rotate with base 10000.
GEMMA3_SWA_PATTERN = 6
GEMMA3_ROPE_BASE_LOCAL = 10000.0


@dataclass(frozen=True)
class ModelConfig:
    """What the forward pass needs to know about a model; plain values, derived ones as properties."""

    arch: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    context_length: int
    rope_base: float
    rope_dim: int
    norm_eps: float
    tied_embeddings: bool
    rope_scale: float = 1.0  # linear RoPE scaling: positions are multiplied by this (1 / factor)
    # gemma3 only
    sliding_window: int = 0  # 0: every layer is global
    local_layers: tuple[bool, ...] = ()  # per layer: True = sliding-window attention
    rope_base_local: float = 10000.0
    final_logit_softcap: float = 0.0  # 0: none
    attn_scale: float = 0.0  # 0: 1 / sqrt(head_dim)

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def scale(self) -> float:
        """The factor on q . k before the softmax."""
        return self.attn_scale or 1.0 / math.sqrt(self.head_dim)

    def is_local(self, layer: int) -> bool:
        """True when `layer` attends over a sliding window of `sliding_window` tokens."""
        return self.sliding_window > 0 and bool(self.local_layers) and self.local_layers[layer]

    def layer_rope(self, layer: int) -> tuple[float, float]:
        """(base, position scale) of RoPE in `layer`: local layers use their own base, unscaled."""
        if self.is_local(layer):
            return self.rope_base_local, 1.0
        return self.rope_base, self.rope_scale

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], tensor_names: set[str] | frozenset[str], path: object
    ) -> ModelConfig:
        """Read and validate the config; raises ModelFormatError naming `path` and the problem."""
        arch = metadata.get("general.architecture")
        if not isinstance(arch, str):
            raise ModelFormatError(path, "missing metadata key 'general.architecture'")
        if arch not in SUPPORTED_ARCHS:
            raise ModelFormatError(
                path,
                f"architecture {arch!r} is not supported (supported: {', '.join(SUPPORTED_ARCHS)})",
            )
        meta = _Meta(metadata, arch, path)

        n_layers = meta.get_int("block_count")
        d_model = meta.get_int("embedding_length")
        n_heads = meta.get_int("attention.head_count")
        n_kv_heads = meta.get_int("attention.head_count_kv", default=n_heads)
        d_ff = meta.get_int("feed_forward_length")
        context_length = meta.get_int("context_length")
        if n_heads <= 0 or d_model <= 0 or n_layers <= 0 or d_ff <= 0 or context_length <= 0:
            raise ModelFormatError(
                path,
                "block_count, embedding_length, head_count, "
                "feed_forward_length and context_length must be positive",
            )
        if n_kv_heads <= 0 or n_heads % n_kv_heads:
            raise ModelFormatError(
                path, f"head_count {n_heads} is not a multiple of head_count_kv {n_kv_heads}"
            )
        if d_model % n_heads and "key_length" not in _keys(metadata, arch, "attention."):
            raise ModelFormatError(
                path, f"embedding_length {d_model} is not a multiple of head_count {n_heads}"
            )
        head_dim = meta.get_int("attention.key_length", default=d_model // n_heads)
        value_dim = meta.get_int("attention.value_length", default=head_dim)
        if value_dim != head_dim:
            raise ModelFormatError(
                path, f"attention.value_length {value_dim} != attention.key_length {head_dim}"
            )
        rope_dim = meta.get_int("rope.dimension_count", default=head_dim)
        if rope_dim <= 0 or rope_dim > head_dim or rope_dim % 2:
            raise ModelFormatError(
                path, f"rope.dimension_count {rope_dim} must be even and <= head dim {head_dim}"
            )
        tokens = metadata.get("tokenizer.ggml.tokens")
        vocab_default = len(tokens) if isinstance(tokens, list | tuple) else None
        vocab_size = meta.get_int("vocab_size", default=vocab_default)

        scaling = meta.get_str("rope.scaling.type", default="none")
        factor = meta.get_float("rope.scaling.factor", default=0.0)
        if scaling not in ("none", "linear"):
            raise ModelFormatError(path, f"rope.scaling.type {scaling!r} is not supported")
        rope_scale = 1.0 / factor if scaling == "linear" and factor > 0 else 1.0

        common: dict[str, Any] = dict(
            arch=arch,
            n_layers=n_layers,
            d_model=d_model,
            n_heads=n_heads,
            n_kv_heads=n_kv_heads,
            head_dim=head_dim,
            d_ff=d_ff,
            vocab_size=vocab_size,
            context_length=context_length,
            rope_base=meta.get_float("rope.freq_base", default=10000.0),
            rope_dim=rope_dim,
            norm_eps=meta.get_float(
                "attention.layer_norm_rms_epsilon", default=1e-6 if arch == "gemma3" else 1e-5
            ),
            tied_embeddings="output.weight" not in tensor_names,
            rope_scale=rope_scale,
        )
        if arch == "gemma3":
            if meta.get_float("attention.logit_softcapping", default=0.0):
                raise ModelFormatError(path, "attention logit softcapping is not supported")
            common.update(
                sliding_window=meta.get_int("attention.sliding_window", default=0),
                local_layers=_local_layers(meta, n_layers),
                rope_base_local=meta.get_float(
                    "rope.freq_base_swa", default=GEMMA3_ROPE_BASE_LOCAL
                ),
                final_logit_softcap=meta.get_float("final_logit_softcapping", default=0.0),
            )
        return cls(**common)


def _local_layers(meta: _Meta, n_layers: int) -> tuple[bool, ...]:
    """Which layers use the sliding window: a per-layer list in the file, or every layer but each
    `pattern`-th (llama.cpp's `set_swa_pattern`: layer il is local when il % pattern < pattern - 1)."""
    value = meta.metadata.get(f"{meta.arch}.attention.sliding_window_pattern")
    if isinstance(value, list | tuple):
        if len(value) != n_layers:
            raise ModelFormatError(
                meta.path, f"sliding_window_pattern has {len(value)} entries for {n_layers} layers"
            )
        return tuple(bool(v) for v in value)
    pattern = meta.get_int("attention.sliding_window_pattern", default=GEMMA3_SWA_PATTERN)
    if pattern <= 0:
        raise ModelFormatError(meta.path, f"sliding_window_pattern {pattern} must be positive")
    return tuple(il % pattern < pattern - 1 for il in range(n_layers))


def _keys(metadata: Mapping[str, Any], arch: str, prefix: str) -> set[str]:
    start = f"{arch}.{prefix}"
    return {k[len(start) :] for k in metadata if k.startswith(start)}


class _Meta:
    """Typed reads of `{arch}.{key}` with a ModelFormatError for a missing or mistyped value."""

    def __init__(self, metadata: Mapping[str, Any], arch: str, path: object) -> None:
        self.metadata, self.arch, self.path = metadata, arch, path

    def _get(self, key: str, default: Any) -> Any:
        full = f"{self.arch}.{key}"
        value = self.metadata.get(full)
        if value is None:
            if default is None:
                raise ModelFormatError(self.path, f"missing metadata key {full!r}")
            return default
        return value

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            # some converters store per-layer lists (e.g. head_count_kv); all equal is fine
            if isinstance(value, list | tuple) and value and len(set(value)) == 1:
                return int(value[0])
            raise ModelFormatError(
                self.path, f"metadata {self.arch}.{key} should be an integer, got {value!r}"
            )
        return value

    def get_float(self, key: str, default: float | None = None) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ModelFormatError(
                self.path, f"metadata {self.arch}.{key} should be a number, got {value!r}"
            )
        if not math.isfinite(value):
            raise ModelFormatError(self.path, f"metadata {self.arch}.{key} is not finite")
        return float(value)

    def get_str(self, key: str, default: str | None = None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise ModelFormatError(
                self.path, f"metadata {self.arch}.{key} should be a string, got {value!r}"
            )
        return value
