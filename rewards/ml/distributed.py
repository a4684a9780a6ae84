"""Several processes, one run: DDP through accelerate (or FSDP2) under torchrun, else one rank.

`rewards.ml.launch` starts the processes; here each one learns its rank and how to average.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Ranks:
    """This process's place in the run; `accelerator` is None in a one-process run."""

    rank: int = 0
    world: int = 1
    accelerator: Any = None
    # FSDP2 (`fully_shard`) instead of DDP: each process holds a shard of every weight.
    sharded: bool = False

    @property
    def is_main(self) -> bool:
        """The process that reports progress, evaluates and writes the checkpoint."""
        return self.rank == 0

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module DDP-wrapped (gradients averaged over processes), or as is."""
        if self.accelerator is None:
            return module
        if self.sharded:
            shard(module)
            return module
        wrapped: torch.nn.Module = self.accelerator.prepare_model(module)
        return wrapped

    def mean(self, value: float) -> float:
        """The mean of `value` over processes."""
        if self.accelerator is None:
            return value
        tensor = torch.tensor([value], device=self.accelerator.device, dtype=torch.float64)
        return float(self.accelerator.reduce(tensor, reduction="mean"))

    def total(self, value: int) -> int:
        """The sum of `value` over processes."""
        if self.accelerator is None:
            return value
        tensor = torch.tensor([value], device=self.accelerator.device, dtype=torch.int64)
        return int(self.accelerator.reduce(tensor, reduction="sum"))

    @contextlib.contextmanager
    def no_sync(self, module: torch.nn.Module, skip: bool) -> Iterator[None]:
        """Skip the gradient all-reduce on accumulation micro-steps (the last one syncs)."""
        if self.accelerator is None or not skip:
            yield
            return
        if self.sharded:  # FSDP2: hold the reduce-scatter until the last micro-step
            module.set_requires_gradient_sync(False)  # type: ignore[operator]
            try:
                yield
            finally:
                module.set_requires_gradient_sync(True)  # type: ignore[operator]
            return
        with self.accelerator.no_sync(module):
            yield

    def reshard(self, module: torch.nn.Module) -> None:
        """FSDP2: put every weight back in its shard, so state copies see shards (else no-op).

        The root group keeps its weights gathered after a forward, which a copy would mix up.
        """
        if not self.sharded:
            return
        from torch.distributed.fsdp import FSDPModule

        for sub in module.modules():
            if isinstance(sub, FSDPModule):
                sub.reshard()

    def barrier(self) -> None:
        """Wait for every process (before the main one's checkpoint is read)."""
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


def world_size() -> int:
    """Processes in this run, from torchrun's environment (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def shard(module: torch.nn.Module) -> None:
    """FSDP2 in place: each transformer block its own shard group, the rest in the root's.

    The blocks are the classes transformers keeps whole when it splits a model over devices
    (`_no_split_modules`), so one block's weights are gathered at a time.
    """
    from torch.distributed.fsdp import fully_shard

    blocks: set[str] = set()
    for sub in module.modules():
        blocks.update(getattr(sub, "_no_split_modules", None) or ())
    for sub in list(module.modules()):
        if sub is not module and type(sub).__name__ in blocks:
            fully_shard(sub)
    fully_shard(module)


def current_ranks(device: torch.device, *, sharding: str = "ddp") -> Ranks:
    """This process's Ranks: accelerate's DDP state under torchrun (gloo on CPU, NCCL on GPU)."""
    if world_size() <= 1:
        return Ranks()
    from accelerate import Accelerator  # type: ignore[import-untyped]
    from accelerate.utils import DistributedDataParallelKwargs  # type: ignore[import-untyped]

    # Encoders carry a pooler that pooled embeddings never use; DDP must not wait for its grads.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(cpu=device.type == "cpu", kwargs_handlers=[ddp])
    state = accelerator.state
    return Ranks(
        rank=state.process_index,
        world=state.num_processes,
        accelerator=accelerator,
        sharded=sharding == "fsdp",
    )


def local_device_index() -> int | None:
    """The GPU this process owns under torchrun (LOCAL_RANK), or None outside it."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value is not None and world_size() > 1 else None
