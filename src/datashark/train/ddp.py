"""PyTorch DDP for the trainer: process group setup under `torchrun`, model wrapping, reductions.

Where it comes from: PyTorch's DistributedDataParallel tutorial and nanoGPT's DDP setup. Under
`torchrun` (WORLD_SIZE > 1 in the environment) it joins the process group with NCCL on GPUs and
gloo on CPU; otherwise everything is a no-op for one process. DDP averages gradients over ranks,
so with each rank taking its share of one global batch the update equals a single process's on the
whole batch (up to float summation order).

What it does not handle: FSDP / model sharding, elastic membership changes.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def single(cls, device: str | None = None) -> DistEnv:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        return cls(0, 1, 0, dev)

    @classmethod
    def from_env(cls, device: str | None = None) -> DistEnv:
        """Join the torchrun process group when WORLD_SIZE > 1, else one local process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls.single(device)
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available() and device != "cpu"
        if cuda:
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")
        return cls(rank, world, local, torch.device(f"cuda:{local}" if cuda else "cpu"))

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.distributed:
            return model
        ids = [self.local_rank] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def no_sync(self, model: torch.nn.Module, enabled: bool) -> AbstractContextManager:
        """Skip the gradient all-reduce on accumulation micro-steps before the last."""
        if enabled and isinstance(model, DistributedDataParallel):
            return model.no_sync()
        return nullcontext()

    def mean(self, value: torch.Tensor) -> float:
        if self.distributed:
            value = value.detach().clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= self.world_size
        return float(value)

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's decision (e.g. early stop) on every rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], device=self.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
