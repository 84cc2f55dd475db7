"""Memory stays flat: a generator over one huge input does not accumulate its items."""

from __future__ import annotations

import pytest

from litdata_format import Index
from litdata_writer import optimize

from . import fns


@pytest.mark.slow
def test_generator_of_300mb_keeps_worker_memory_flat(tmp_path, monkeypatch):
    rss_file = tmp_path / "rss"
    monkeypatch.setenv("WRITER_TEST_RSS_FILE", str(rss_file))
    out = str(tmp_path / "ds")
    optimize(fns.big_generator, [0], out, num_workers=1, chunk_bytes="8MB", verbose=False)
    before, peak = (int(x) for x in rss_file.read_text().split())
    growth_mb = (peak - before) / 1024
    assert growth_mb < 100, f"worker RSS grew by {growth_mb:.0f} MB"
    index = Index.load(out)
    assert index.num_items == 300
    assert len(index.chunks) >= 37  # 8 MB chunks of 1 MB items


def test_inputs_are_not_copied_whole_into_each_worker():
    """Each rank's job holds its own tasks only (what spawn pickles, and fork never touches)."""
    from litdata_writer.rank_tasks import make_plan

    plan = make_plan(
        list(range(1000)), num_workers=4, num_nodes=1, batch_size=None, fast_dev_run=False, reorder_files=True
    )
    sizes = [len(plan.rank_tasks(r)) for r in range(4)]
    assert sizes == [250, 250, 250, 250]
    assert plan.rank_tasks(3)[0].argument == 750
