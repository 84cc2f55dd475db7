"""Real ``torch.distributed`` (gloo) runs: two rank processes, each with its DataLoader workers.

The ranks run a script written next to the test (one process group, many scenarios, so
that torch is imported and the group formed only once); every rank gathers the sample ids
of every rank with ``all_gather_object`` and writes what it saw as JSON for the test to
check.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections import Counter

import pytest

from litdata_format import write_dataset

from .ranks import rank_env, run_ranks

N = 103  # not a multiple of the world size nor of any batch size below
WORLD = 2

SCENARIOS = [
    # num_workers, batch_size, shuffle, drop_last
    (1, 4, True, False),
    (2, 5, True, False),
    (2, 5, True, True),
    (2, 1, False, True),
    (1, 7, False, False),
]

RANK_SCRIPT = textwrap.dedent(
    r"""
    import io, json, sys
    import torch
    import torch.distributed as dist
    from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset


    def main():
        rank, world, port, data, out, scenarios, extra = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                                          sys.argv[5], json.loads(sys.argv[6]), json.loads(sys.argv[7]))
        out = out.format(rank=rank)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)

        def ids(batch):
            return batch[0].tolist()

        def loader(workers, batch_size, shuffle, drop_last):
            ds = StreamingDataset(data, shuffle=shuffle, drop_last=drop_last, seed=7)
            return StreamingDataLoader(ds, batch_size=batch_size, num_workers=workers)

        result = {"scenarios": [], "resume": {}}
        for workers, batch_size, shuffle, drop_last in scenarios:
            dl = loader(workers, batch_size, shuffle, drop_last)
            epochs = []
            for _ in range(2):
                batches = [ids(b) for b in dl]
                gathered = [None] * world
                dist.all_gather_object(gathered, batches)
                epochs.append(gathered)
            result["scenarios"].append({"len": len(dl), "dataset_len": len(dl.dataset), "epochs": epochs})

        # resume: each rank stops after its own number of batches, saves, and a new loader goes on
        workers, batch_size = 2, 4
        reference = []
        dl = loader(workers, batch_size, True, False)
        for _ in range(2):
            reference += [ids(b) for b in dl]
        for stop_after in ([3, 9], [14, 1], [13, 20]):  # per rank; 13 batches per epoch per rank
            k = stop_after[rank]
            dl, seen, state = loader(workers, batch_size, True, False), [], None
            for _ in range(2):
                for batch in dl:
                    seen.append(ids(batch))
                    if len(seen) == k:
                        buffer = io.BytesIO()
                        torch.save(dl.state_dict(), buffer)
                        state = buffer.getvalue()
                        break
                if state is not None:
                    break
            resumed = loader(workers, batch_size, True, False)
            resumed.load_state_dict(torch.load(io.BytesIO(state)))
            rest = []
            while len(seen) + len(rest) < len(reference):
                rest += [ids(b) for b in resumed]
            result["resume"][str(k)] = {"seen": seen, "rest": rest}
        result["reference"] = reference

        def gather(batches):
            gathered = [None] * world
            dist.all_gather_object(gathered, batches)
            return gathered

        # the same dataset on an S3 server: both ranks (two workers each) share the node's cache
        ds = StreamingDataset(extra["url"], shuffle=True, storage_options=extra["options"],
                              max_cache_size=extra["max_cache_size"])
        dl = StreamingDataLoader(ds, batch_size=4, num_workers=2)
        result["remote"] = [gather([ids(b) for b in dl]) for _ in range(2)]

        # spawned workers do not inherit the process group: the loader tells them the rank
        dl = StreamingDataLoader(StreamingDataset(data, shuffle=True, drop_last=False, seed=7), batch_size=4,
                                 num_workers=1, multiprocessing_context="spawn")
        result["spawn"] = gather([ids(b) for b in dl])

        # a weighted mixture of two datasets, every sample of both
        mixture = CombinedStreamingDataset([StreamingDataset(data, shuffle=True, drop_last=False),
                                            StreamingDataset(extra["small"], drop_last=False)],
                                           weights=[0.7, 0.3], iterate_over_all=True, seed=3)
        dl = StreamingDataLoader(mixture, batch_size=3, num_workers=2)
        result["combined"] = {"len": len(dl), "epochs": [gather([[b[0].tolist(), b[1].tolist()] for b in dl])
                                                         for _ in range(2)]}
        gathered = [None] * world
        dist.all_gather_object(gathered, reference)
        result["all_references"] = gathered
        with open(out, "w") as f:
            json.dump(result, f)
        dist.barrier()
        dist.destroy_process_group()


    if __name__ == "__main__":  # spawned DataLoader workers import this file again
        main()
    """
)


SMALL = 31


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, s3_server):
    tmp = tmp_path_factory.mktemp("dist")
    data = tmp / "data"
    index = write_dataset(data, [(i, i * i) for i in range(N)], chunk_size=8)
    write_dataset(tmp / "small", [(1000 + i, -i) for i in range(SMALL)], chunk_size=5)
    from litdata_storage import open_store

    url = f"{s3_server.new_location()}/data"
    store = open_store(url, **s3_server.storage_options())
    for name in sorted(os.listdir(data), key=lambda n: n == "index.json"):
        store.put_file(name, data / name)
    # room for 6 chunks: 4 readers (2 ranks x 2 workers) hold one each, the rest is evicted
    extra = {"url": url, "options": s3_server.storage_options(), "small": str(tmp / "small"),
             "max_cache_size": 6 * max(c.chunk_bytes for c in index.chunks)}
    script = tmp / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = rank_env(tmp / "cache")
    outs = [tmp / f"rank{rank}.json" for rank in range(WORLD)]
    run_ranks(script, WORLD, [str(data), str(tmp / "rank{rank}.json"), json.dumps(SCENARIOS), json.dumps(extra)],
              env, tmp)
    results = [json.loads(out.read_text()) for out in outs]
    results[0]["cache_dir"] = env["LITDATA_CACHE_DIR"]
    results[0]["max_cache_size"] = extra["max_cache_size"]
    return results


@pytest.mark.parametrize("scenario", range(len(SCENARIOS)), ids=[f"w{w}-b{b}-s{int(s)}-d{int(d)}" for w, b, s, d in SCENARIOS])
def test_every_rank_gets_the_same_batches_and_all_samples_once(two_rank_run, scenario):
    workers, batch_size, shuffle, drop_last = SCENARIOS[scenario]
    results = [r["scenarios"][scenario] for r in two_rank_run]
    assert results[0]["epochs"] == results[1]["epochs"]  # both ranks gathered the same thing
    per_rank = -(-N // WORLD) if not drop_last else (N // WORLD) - (N // WORLD) % batch_size
    orders = []
    for epoch in results[0]["epochs"]:
        counts = [len(batches) for batches in epoch]
        assert counts[0] == counts[1] == results[0]["len"] == results[1]["len"] == -(-per_rank // batch_size)
        assert results[0]["dataset_len"] == results[1]["dataset_len"] == per_rank
        samples = [[x for b in batches for x in b] for batches in epoch]
        assert [len(s) for s in samples] == [per_rank, per_rank]
        everything = samples[0] + samples[1]
        if drop_last:
            assert all(len(b) == batch_size for batches in epoch for b in batches)
            assert len(set(everything)) == len(everything) == WORLD * per_rank
            assert set(everything) <= set(range(N))
        else:
            assert set(everything) == set(range(N))
            repeats = Counter(everything) - Counter(range(N))
            assert sum(repeats.values()) == WORLD * per_rank - N  # padding only evens the ranks out
            assert max(Counter(everything).values()) <= 2
        if not shuffle:
            assert samples[0] == list(range(per_rank))  # rank 0 holds the first contiguous share
        orders.append(everything)
    if shuffle:
        assert orders[0] != orders[1]  # a new order in the second epoch
    else:
        assert orders[0] == orders[1]


@pytest.mark.parametrize("stop_after", [3, 9, 14, 1, 13, 20])
def test_resume_under_two_ranks_matches_the_uninterrupted_run(two_rank_run, stop_after):
    runs = [result for result in two_rank_run if str(stop_after) in result["resume"]]
    assert len(runs) == 1  # each stop point was taken by one rank
    run = runs[0]["resume"][str(stop_after)]
    assert len(run["seen"]) == stop_after
    assert run["seen"] + run["rest"] == runs[0]["reference"]


def test_ranks_share_the_epoch_without_overlap(two_rank_run):
    references = two_rank_run[0]["all_references"]
    assert references == two_rank_run[1]["all_references"]
    assert [r["reference"] for r in two_rank_run] == references
    for epoch in range(2):
        per_rank = [[x for b in ref[epoch * 13 : (epoch + 1) * 13] for x in b] for ref in references]
        assert len(per_rank[0]) == len(per_rank[1]) == 52
        assert set(per_rank[0] + per_rank[1]) == set(range(N))


def test_two_ranks_stream_from_s3_through_one_bounded_node_cache(two_rank_run):
    remote = two_rank_run[0]["remote"]
    assert remote == two_rank_run[1]["remote"]
    for epoch in remote:  # drop_last defaults to True under torch.distributed: 51 -> 48 per rank
        assert len(epoch[0]) == len(epoch[1]) == 12
        everything = [x for batches in epoch for b in batches for x in b]
        assert len(everything) == len(set(everything)) == 96 and set(everything) <= set(range(N))
    assert remote[0] != remote[1]
    cache = two_rank_run[0]["cache_dir"]
    held = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(cache)
               if ".locks" not in root for f in files if f.startswith("chunk-"))
    assert 0 < held <= two_rank_run[0]["max_cache_size"]


def test_two_ranks_mix_datasets_with_equal_batches(two_rank_run):
    combined = [r["combined"] for r in two_rank_run]
    assert combined[0]["epochs"] == combined[1]["epochs"]
    assert combined[0]["len"] == combined[1]["len"]
    per_rank_big, per_rank_small = -(-N // WORLD), -(-SMALL // WORLD)
    for epoch in combined[0]["epochs"]:
        assert len(epoch[0]) == len(epoch[1]) == combined[0]["len"] == -(-(per_rank_big + per_rank_small) // 3)
        everything = [x for batches in epoch for b in batches for x in b[0]]
        assert len(everything) == WORLD * (per_rank_big + per_rank_small)
        assert set(everything) == set(range(N)) | set(range(1000, 1000 + SMALL))
        assert all(v <= 2 for v in Counter(everything).values())


def test_spawned_workers_follow_their_rank(two_rank_run):
    """The first scenario (1 worker, batch 4, shuffle, no drop_last) again, with spawned workers."""
    assert SCENARIOS[0] == (1, 4, True, False)
    assert two_rank_run[0]["spawn"] == two_rank_run[1]["spawn"] == two_rank_run[0]["scenarios"][0]["epochs"][0]
