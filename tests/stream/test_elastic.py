"""Elastic resume on real ``torch.distributed`` (gloo) groups: saved on N ranks, resumed on M.

Frameworks save the data state of rank 0 only (Lightning does). A first group of N rank
processes serves a few batches of every scenario and rank 0 saves its state; a second
group of M ranks loads that one file on every rank and finishes the epoch. Together they
must have served every sample of the epoch, repeating nothing but the padding that
evens ranks out, and every rank of the second group the same number of batches.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter

import pytest

from litdata_format import write_dataset

from .ranks import rank_env, run_ranks

N, SMALL = 103, 29
BATCH, STOP_AFTER = 4, 3

SCENARIOS = [  # name, num_workers, shuffle, mixture
    *[(f"w{w}-s{int(s)}", w, s, False) for w in (0, 1, 2) for s in (False, True)],
    ("mixture-w2", 2, True, True),
]

ELASTIC_SCRIPT = textwrap.dedent(
    r"""
    import json, sys
    import torch
    import torch.distributed as dist
    from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset


    def loader(data, small, workers, shuffle, mixture):
        ds = StreamingDataset(data, shuffle=shuffle, drop_last=False, seed=7)
        if mixture:
            ds = CombinedStreamingDataset([ds, StreamingDataset(small, shuffle=True, drop_last=False)],
                                          weights=[0.7, 0.3], iterate_over_all=True, seed=3)
        return StreamingDataLoader(ds, batch_size=BATCH, num_workers=workers)


    def main():
        rank, world, port, phase, data, small, states, out, scenarios = sys.argv[1:]
        rank, world = int(rank), int(world)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        result = {}
        for name, workers, shuffle, mixture in json.loads(scenarios):
            dl = loader(data, small, workers, shuffle, mixture)
            seen, batches = [], 0
            if phase == "resume":
                dl.load_state_dict(torch.load(f"{states}/{name}.pt"))  # rank 0's state, on every rank
            for batch in dl:
                seen += batch[0].tolist()
                batches += 1
                if phase == "save" and batches == STOP_AFTER:
                    break
            if phase == "save" and rank == 0:
                torch.save(dl.state_dict(), f"{states}/{name}.pt")
            gathered = [None] * world
            dist.all_gather_object(gathered, {"seen": seen, "batches": batches, "len": len(dl)})
            result[name] = gathered
        if rank == 0:
            with open(out, "w") as f:
                json.dump(result, f)
        dist.barrier()
        dist.destroy_process_group()


    if __name__ == "__main__":
        main()
    """
).replace("BATCH", str(BATCH)).replace("STOP_AFTER", str(STOP_AFTER))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("elastic")
    write_dataset(tmp / "data", [(i, i) for i in range(N)], chunk_size=8)
    write_dataset(tmp / "small", [(1000 + i, i) for i in range(SMALL)], chunk_size=5)
    script = tmp / "elastic.py"
    script.write_text(ELASTIC_SCRIPT)
    return tmp


def run_phase(datasets, tmp, phase, world):
    out = tmp / f"{phase}.json"
    run_ranks(datasets / "elastic.py", world,
              [phase, str(datasets / "data"), str(datasets / "small"), str(tmp), str(out), json.dumps(SCENARIOS)],
              rank_env(tmp / "cache"), tmp)
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("old, new", [(2, 3), (3, 1), (4, 2)])
def test_a_state_saved_on_n_ranks_resumes_on_m_ranks(datasets, tmp_path, old, new):
    saved = run_phase(datasets, tmp_path, "save", old)
    resumed = run_phase(datasets, tmp_path, "resume", new)
    for name, _, _, mixture in SCENARIOS:
        before, after = saved[name], resumed[name]
        assert [r["batches"] for r in before] == [STOP_AFTER] * old
        assert len({r["batches"] for r in after}) == 1, f"{name}: ranks served unequal batch counts"
        assert len({r["len"] for r in after}) == 1
        everything = [x for r in before + after for x in r["seen"]]
        counts = Counter(everything)
        expected = set(range(N)) | (set(range(1000, 1000 + SMALL)) if mixture else set())
        assert set(counts) == expected, f"{name}: lost {sorted(expected - set(counts))[:10]}"
        padding = (old + new) * (2 if mixture else 1)  # fewer than one per rank, segment and dataset
        assert sum(c - 1 for c in counts.values()) < padding, f"{name}: served twice beyond the padding"
