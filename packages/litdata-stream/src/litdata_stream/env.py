"""Where this process sits: its rank among training processes and its DataLoader worker.

The rank and world size come from an initialized ``torch.distributed`` process group,
else from the variables launchers set (``WORLD_SIZE`` and ``RANK``, as torchrun and
Lightning do), else a single process is assumed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch.distributed as dist
from torch.utils.data import get_worker_info


@dataclass(frozen=True)
class DistributedEnv:
    world_size: int
    rank: int

    @classmethod
    def detect(cls) -> DistributedEnv:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_world_size(), dist.get_rank())
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", os.environ.get("GLOBAL_RANK", "0")))
        if not 0 <= rank < world_size:
            raise RuntimeError(f"RANK={rank} is outside WORLD_SIZE={world_size}")
        return cls(world_size, rank)


@dataclass(frozen=True)
class WorkerEnv:
    """The DataLoader worker running this code (worker 0 of 1 in the main process)."""

    num_workers: int
    worker_id: int

    @classmethod
    def detect(cls) -> WorkerEnv:
        info = get_worker_info()
        if info is None:
            return cls(1, 0)
        return cls(info.num_workers, info.id)
