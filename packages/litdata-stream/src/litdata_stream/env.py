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
    """The training process running this code: its rank among ``world_size`` processes."""

    world_size: int
    rank: int

    @classmethod
    def detect(cls) -> DistributedEnv:
        """Find this process's rank and world size.

        Asks an initialized ``torch.distributed`` group first, then the ``WORLD_SIZE`` and ``RANK``
        (or ``GLOBAL_RANK``) variables set by launchers; without either it is rank 0 of 1.

        Raises:
            RuntimeError: if the variables name a rank outside the world size.
        """
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
        """Find this DataLoader worker's id and the worker count (0 of 1 outside a worker)."""
        info = get_worker_info()
        if info is None:
            return cls(1, 0)
        return cls(info.num_workers, info.id)
