"""Checkpoints: model weights + configs + tokenizer, and for resuming, the optimizer and RNG states.

A checkpoint is one `torch.save` dict:
`{"format": "datashark-ckpt-1", "model_config", "train_config", "tokenizer", "model", "state"}`
where `state` holds what exact resume needs (step, optimizer, RNG states of torch, the data
generator and Python, best val loss, early-stopping counter, elapsed seconds, tokens seen).
`best.pt` (best val loss) drops the optimizer to stay small. Loading never unpickles arbitrary
objects (`weights_only=True`).

What it does not handle: sharded (FSDP) checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from datashark.config import ModelConfig, TrainConfig
from datashark.train.model import GPT
from datashark.train.tokenizer import Tokenizer

FORMAT = "datashark-ckpt-1"


def save(
    path: Path,
    model: GPT,
    train_cfg: TrainConfig,
    tok: Tokenizer,
    state: dict[str, Any] | None = None,
) -> None:
    """Write atomically (tmp file + rename) so a killed run never leaves half a checkpoint."""
    data = {
        "format": FORMAT,
        "model_config": asdict(model.cfg),
        "train_config": asdict(train_cfg),
        "tokenizer": tok.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "state": state or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def load(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a DataShark checkpoint (format {FORMAT})")
    return data


def load_model(path: Path | str) -> tuple[GPT, Tokenizer, dict[str, Any]]:
    """The model (eval mode, on CPU), its tokenizer and the raw checkpoint dict."""
    data = load(path)
    model = GPT(ModelConfig.from_dict(data["model_config"]))
    model.load_state_dict(data["model"])
    model.eval()
    return model, Tokenizer.from_dict(data["tokenizer"]), data
