"""Model and training configuration: frozen dataclasses of plain values, with named presets.

Where it comes from: nanoGPT's `GPTConfig` and litgpt's `Config.from_name`. A preset names both a
model shape (`ModelConfig`) and the optimisation settings that suit it (`TrainConfig`); the
trainer's command line overrides single fields with `dataclasses.replace`.

Names used across training, export and the engine (one vocabulary, see docs/training.md):
`n_layers` blocks of width `d_model`, `n_heads` query heads and `n_kv_heads` key/value heads of
`head_dim = d_model // n_heads`, SwiGLU hidden width `d_ff`, `vocab_size`, `context_length`.

What it does not handle: serving settings (those live in `datashark.server.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a llama-style decoder (RMSNorm, RoPE, SwiGLU, optional GQA, tied embeddings)."""

    n_layers: int = 8
    d_model: int = 320
    n_heads: int = 8
    n_kv_heads: int = 8
    d_ff: int = 768
    vocab_size: int = 4096
    context_length: int = 256
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    dropout: float = 0.0
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for RoPE")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_name(cls, name: str) -> ModelConfig:
        return _preset(name)[0]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. `batch_size` is the global batch (sequences per optimizer step),
    split over `grad_accum` micro-steps and over DDP ranks."""

    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    max_steps: int = 5000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 200
    eval_batches: int = 16
    patience: int = 5
    min_delta: float = 1e-3
    overfit_gap: float = 0.5
    vocab_size: int = 4096
    tokenizer: str = "bpe"
    seed: int = 1337
    log_every: int = 10
    checkpoint_every: int = 0


_PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    # A few hundred thousand parameters: trains in seconds on the fixture corpus (tests).
    "tiny": (
        ModelConfig(
            n_layers=2,
            d_model=64,
            n_heads=4,
            n_kv_heads=2,
            d_ff=160,
            vocab_size=512,
            context_length=64,
        ),
        TrainConfig(
            batch_size=8,
            lr=3e-3,
            min_lr=3e-4,
            warmup_steps=10,
            max_steps=200,
            eval_every=50,
            eval_batches=4,
            vocab_size=512,
            log_every=10,
        ),
    ),
    # The original beta model's shape: 8 layers, d=320, 8 heads, context 256 (~10M parameters).
    "beta-10m": (
        ModelConfig(
            n_layers=8,
            d_model=320,
            n_heads=8,
            n_kv_heads=8,
            d_ff=768,
            vocab_size=4096,
            context_length=256,
            dropout=0.0,  # a CPU hour sees < 1 epoch; early stopping guards longer runs
        ),
        TrainConfig(
            batch_size=16,
            lr=1e-3,
            min_lr=1e-4,
            warmup_steps=50,
            max_steps=20000,
            eval_every=50,
            eval_batches=4,
            patience=6,
            vocab_size=4096,
        ),
    ),
    # ~50M parameters: 12 layers, d=576, GQA 9/3 heads like SmolLM2, context 512.
    "beta-50m": (
        ModelConfig(
            n_layers=12,
            d_model=576,
            n_heads=9,
            n_kv_heads=3,
            d_ff=1536,
            vocab_size=8192,
            context_length=512,
            dropout=0.1,
        ),
        TrainConfig(
            batch_size=32,
            lr=6e-4,
            min_lr=6e-5,
            warmup_steps=200,
            max_steps=50000,
            eval_every=250,
            eval_batches=16,
            vocab_size=8192,
        ),
    ),
}

PRESET_NAMES = tuple(_PRESETS)


def _preset(name: str) -> tuple[ModelConfig, TrainConfig]:
    try:
        return _PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(_PRESETS)}") from None


def from_name(name: str) -> tuple[ModelConfig, TrainConfig]:
    """The (model, train) configs of a named preset: `tiny`, `beta-10m` or `beta-50m`."""
    return _preset(name)
