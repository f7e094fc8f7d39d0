"""Shared fixtures for the engine tests (GGUF reader, quant formats, kernels, forward pass, ...).

Real model files come from the model cache through `datashark.registry.resolve_model` (never a
fixed path); `make test` pulls them first, and a missing file fails with a message saying how to
get it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datashark.registry import ModelNotFoundError, resolve_model


def cached_model(name: str) -> Path:
    """The cached model file for `name`, or a test failure explaining how to pull it."""
    try:
        return resolve_model(name, pull=False)
    except ModelNotFoundError as exc:
        pytest.fail(f"{exc} (`make test` pulls the models first)")


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from the model cache."""
    return cached_model("smollm2")


@pytest.fixture(scope="session")
def gemma3_path() -> Path:
    """Gemma 3 270M Q4_K_M from the model cache."""
    return cached_model("gemma3-270m")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so a failing random case can be reproduced."""
    return np.random.default_rng(1234)
