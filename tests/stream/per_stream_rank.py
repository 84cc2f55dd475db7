"""One rank of ``test_per_stream.test_real_ranks_get_equal_per_stream_batches``: argv RANK WORLD PORT A B OUT.

Reads a ``per_stream`` mixture of the two datasets (batch sizes 3 and 4) with 2 DataLoader
workers inside a real gloo process group, checks with the other rank that both got the
same number of batches, and saves one row (source, id, batch size) per sample as
``OUT/rank{RANK}.npy``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.distributed as dist

from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset


def main() -> None:
    rank, world, port, a, b, out = sys.argv[1:]
    rank, world = int(rank), int(world)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    ds = CombinedStreamingDataset([StreamingDataset(a, shuffle=True, seed=1), StreamingDataset(b, shuffle=True, seed=2)],
                                  batching_method="per_stream", seed=11)
    rows = []
    batches = 0
    for sources, ids in StreamingDataLoader(ds, batch_size=[3, 4], num_workers=2):
        rows.extend((s, i, len(ids)) for s, i in zip(sources.tolist(), ids.tolist()))
        batches += 1
    counts = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([batches]))
    assert len({int(c) for c in counts}) == 1, f"unequal batch counts {counts}"
    np.save(f"{out}/rank{rank}.npy", np.asarray(rows, dtype=np.int64))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
