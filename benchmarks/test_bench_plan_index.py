"""pytest-benchmark: epoch planning for 1 M samples, and loading an index of 10,000 chunks."""

from __future__ import annotations

import json

from litdata_format import Index
from litdata_stream.plan import chunk_offsets, full_selection, rank_samples, worker_plan

SIZES = [1000] * 1000  # 1 M samples in 1,000 chunks


def test_epoch_plan_one_million_samples(benchmark):
    selection, offsets = full_selection(SIZES), chunk_offsets(SIZES)

    def plan():
        samples = rank_samples(selection, offsets, seed=42, epoch=3, shuffle=True, world_size=8, rank=5,
                               drop_last=True, batch_size=64)
        return worker_plan(samples, batch_size=64, num_workers=4, worker_id=1)

    result = benchmark(plan)
    assert len(result.batch_numbers) == 488  # 1,953 batches of this rank, every 4th from batch 1
    benchmark.extra_info["samples_per_s"] = round(1_000_000 / benchmark.stats.stats.median)


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
