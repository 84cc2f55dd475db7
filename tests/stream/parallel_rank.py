"""One rank of ``test_parallel.test_real_ranks_get_equal_batches``: argv RANK WORLD PORT A B OUT.

Reads ``ParallelStreamingDataset(length=24)`` of the two datasets with 2 DataLoader workers
inside a real gloo process group, checks with the other rank that both got the same
number of batches, and saves its tuples as ``OUT/rank{RANK}.npy``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.distributed as dist

from litdata_stream import ParallelStreamingDataset, StreamingDataLoader, StreamingDataset


def main() -> None:
    rank, world, port, a, b, out = sys.argv[1:]
    rank, world = int(rank), int(world)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    ds = ParallelStreamingDataset([StreamingDataset(a, shuffle=True, seed=1), StreamingDataset(b, shuffle=True, seed=2)],
                                  length=24)
    rows = []
    batches = 0
    for first, second in StreamingDataLoader(ds, batch_size=4, num_workers=2):
        rows.extend(zip(first.tolist(), second.tolist()))
        batches += 1
    counts = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([batches]))
    assert len({int(c) for c in counts}) == 1, f"unequal batch counts {counts}"
    np.save(f"{out}/rank{rank}.npy", np.asarray(rows, dtype=np.int64))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
