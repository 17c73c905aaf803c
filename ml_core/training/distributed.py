"""Data-parallel training over several GPUs or hosts with torch DDP.

Launch the same command under `torchrun` and training becomes data-parallel by itself:

    torchrun --nproc_per_node=4 -m ml_core train-classifier --train data.csv ... --out model/
    torchrun --nnodes=2 --node_rank=0 --master_addr=10.0.0.1 --master_port=29500 \
             --nproc_per_node=8 -m ml_core train-classifier ...

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; each process takes a different share of every
epoch's batches, DDP averages gradients so every rank holds the same weights, and only rank 0
writes the artifact and the checkpoints (on a file system all ranks see, for resuming). CUDA
uses the NCCL backend with one GPU per process (cuda:LOCAL_RANK); CPUs use gloo.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def broadcast_flags(self, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's decisions (stop now, new best...) for every rank."""
        if not self.enabled:
            return tuple(flags)
        tensor = torch.tensor([int(f) for f in flags], dtype=torch.long)
        if torch.distributed.get_backend() == "nccl":
            tensor = tensor.cuda()
        torch.distributed.broadcast(tensor, src=0)
        return tuple(bool(v) for v in tensor.cpu().tolist())


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def env_rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def init_distributed(device_preference: str = "auto") -> DistributedContext:
    """Join the process group torchrun describes; a single process gets a context of one."""
    world_size = env_world_size()
    if world_size <= 1:
        return DistributedContext()
    rank = env_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    if not torch.distributed.is_initialized():
        use_cuda = torch.cuda.is_available() and device_preference != "cpu"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size)


def device_for_rank(context: DistributedContext, device: str) -> str:
    """One GPU per process: cuda:LOCAL_RANK when the run is distributed on CUDA."""
    if context.enabled and device.startswith("cuda"):
        return f"cuda:{context.local_rank}"
    return device
