"""pytest-benchmark: epoch planning for 1 B samples x 1,024 ranks x 8 workers, and loading an index."""

from __future__ import annotations

import json

from litdata_format import Index
from litdata_stream.epoch_plan import RankPlan, Segment
from litdata_stream.selection import Selection
from litdata_stream.shuffle import epoch_order

SIZES = [10_000] * 100_000  # 1 B samples in 100,000 chunks


def _first_batch(algorithm: str) -> int:
    """What a DataLoader worker does before its first sample: plan the epoch, find its batches."""
    order = epoch_order(Selection.full(SIZES), shuffle=True, algorithm=algorithm, seed=42, epoch=3,
                        block_size=80_000)
    plan = RankPlan(order, Segment(1024, 64, True), 517)
    batches = plan.worker_batches(8, 5)
    return len(plan.batch(batches[0])) + len(batches)


def test_epoch_plan_a_billion_samples_1024_ranks_8_workers_block_shuffle(benchmark):
    result = benchmark(_first_batch, "block")
    assert result == 64 + len(range(5, 976_562 // 64, 8))


def test_epoch_plan_a_billion_samples_1024_ranks_8_workers_chunk_shuffle(benchmark):
    result = benchmark(_first_batch, "chunk")
    assert result == 64 + len(range(5, 976_562 // 64, 8))


def test_index_load_ten_thousand_chunks(benchmark, tmp_path):
    index = {
        "chunks": [
            {"chunk_bytes": 64_000_000, "chunk_size": 1000, "dim": None, "filename": f"chunk-{i % 16}-{i // 16}.bin",
             "checksum": f"crc32:{i:08x}"}
            for i in range(10_000)
        ],
        "config": {"chunk_bytes": 64_000_000, "chunk_size": None, "compression": None, "data_format": ["int", "jpeg"],
                   "data_spec": None, "encryption": None, "item_loader": "PyTreeLoader"},
        "updated_at": "1.0",
    }
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index, sort_keys=True))
    loaded = benchmark(Index.load, path)
    assert len(loaded.chunks) == 10_000 and loaded.num_items == 10_000_000
