"""``CombinedStreamingDataset``: weighted mixing, determinism, exhaustion rules, workers, resume."""

from __future__ import annotations

import io
import random
from collections import Counter

import numpy as np
import pytest
import torch

from litdata_format import write_dataset
from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset, TokensLoader

BLOCK = 9


@pytest.fixture
def three(tmp_path):
    """Three small datasets of (source, id) pairs: 60, 25 and 41 items."""
    paths = []
    for source, n in enumerate((60, 25, 41)):
        path = tmp_path / f"d{source}"
        write_dataset(path, [(source, i) for i in range(n)], chunk_size=7)
        paths.append(str(path))
    return paths


def pairs(batches) -> list[tuple[int, int]]:
    return [(s, i) for b in batches for s, i in zip(b[0].tolist(), b[1].tolist())]


def combined(paths, *, shuffle=True, **kwargs) -> CombinedStreamingDataset:
    return CombinedStreamingDataset([StreamingDataset(p, shuffle=shuffle, seed=1) for p in paths], **kwargs)


# ------------------------------------------------------------------- the seed README example
@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true:UserWarning")
def test_seed_readme_token_mixture(tmp_path):
    """Two TokensLoader datasets, shuffle=True, drop_last=True, mixed 0.69/0.31, batch_size=8."""
    sizes = {"slimpajama": 5000, "starcoder": 3000}
    datasets, blocks = [], []
    for base, (name, total) in zip((0, 1_000_000), sizes.items()):
        stream = np.arange(base, base + total, dtype=np.int32)
        documents = np.split(stream, [37, 500, 1200, 2000, 2400, 2999])
        index = write_dataset(tmp_path / name, [d for d in documents if len(d)], chunk_size=700,
                              item_loader="TokensLoader")
        starts = []
        offset = base
        for info in index.chunks:  # blocks never cross a chunk; leftovers are dropped
            starts += [offset + k * BLOCK for k in range(info.dim // BLOCK)]
            offset += info.dim
        blocks.append(set(starts))
        datasets.append(StreamingDataset(str(tmp_path / name), item_loader=TokensLoader(block_size=BLOCK),
                                         shuffle=True, drop_last=True))
    weights = (0.693584, 0.306416)
    mixture = CombinedStreamingDataset(datasets=datasets, seed=42, weights=weights)
    loader = StreamingDataLoader(mixture, batch_size=8, pin_memory=True, num_workers=2)
    starts = []
    for batch in loader:
        assert batch.shape[1] == BLOCK and batch.dtype == torch.int32
        assert batch.shape[0] == 8 or len(starts) + batch.shape[0] == len(mixture)
        # each row is a contiguous run of tokens of one dataset
        assert torch.equal(batch - batch[:, :1], torch.arange(BLOCK, dtype=torch.int32).expand_as(batch))
        starts += batch[:, 0].tolist()
    assert len(starts) == len(mixture) == len(set(starts))
    drawn = [[s for s in starts if s in blocks[d]] for d in range(2)]
    assert len(drawn[0]) + len(drawn[1]) == len(starts)  # every row is a real block
    # without iterate_over_all the mixture stops at the first exhausted dataset
    exhausted = [len(drawn[d]) == len(blocks[d]) for d in range(2)]
    assert any(exhausted) and not all(exhausted)
    share = len(drawn[0]) / len(starts)
    assert 0.6 < share < 0.78, share


# ------------------------------------------------------------------------------- the mixing
def test_order_is_fixed_by_the_seed_and_changes_each_epoch(three):
    def run(seed):
        loader = StreamingDataLoader(combined(three, seed=seed, weights=[1, 1, 1]), batch_size=4)
        return [pairs(loader) for _ in range(2)]

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first != other
    assert first[0] != first[1]


def test_proportions_follow_the_weights(tmp_path):
    paths = []
    for source in range(3):
        write_dataset(tmp_path / f"w{source}", [(source, i) for i in range(1000)], chunk_size=50)
        paths.append(str(tmp_path / f"w{source}"))
    weights = [0.6, 0.3, 0.1]
    mixture = combined(paths, seed=0, weights=weights)
    seen = pairs(StreamingDataLoader(mixture, batch_size=50))
    counts = Counter(s for s, _ in seen)
    assert counts[0] == 1000  # the heaviest runs out first and ends the epoch
    for source, weight in enumerate(weights):
        assert abs(counts[source] / len(seen) - weight) < 0.05, (counts, len(seen))
    # a zero weight is never drawn
    zero = pairs(StreamingDataLoader(combined(paths, weights=[1, 0, 1]), batch_size=50))
    assert {s for s, _ in zero} == {0, 2}


@pytest.mark.parametrize("weights", [None, [0.2, 0.5, 0.3]])
def test_iterate_over_all_yields_every_sample_of_every_dataset_once(three, weights):
    mixture = combined(three, weights=weights, iterate_over_all=True)
    expected = [(s, i) for s, n in enumerate((60, 25, 41)) for i in range(n)]
    for epoch in range(2):
        seen = pairs(StreamingDataLoader(mixture, batch_size=5, num_workers=2) if epoch else
                     StreamingDataLoader(mixture, batch_size=5))
        assert sorted(seen) == expected
        assert len(mixture) == len(expected)
    sources = [s for s, _ in seen]
    assert sources != sorted(sources)  # interleaved, not one dataset after another


def test_without_iterate_over_all_the_first_exhausted_dataset_ends_it(three):
    mixture = combined(three, weights=[1, 1, 1], iterate_over_all=False)
    seen = pairs(StreamingDataLoader(mixture, batch_size=4))
    counts = Counter(s for s, _ in seen)
    sizes = (60, 25, 41)
    assert len(seen) == len(set(seen)) == len(mixture)
    assert counts[1] == 25  # the smallest ran out (equal weights, seeded)
    assert all(counts[s] < sizes[s] for s in (0, 2))
    assert len(seen) < sum(sizes)
    assert seen[-1][0] == 1  # the last sample drawn was the last of the exhausted dataset


def test_workers_do_not_change_the_order(three):
    orders = []
    for workers in (0, 2):
        loader = StreamingDataLoader(combined(three, weights=[0.5, 0.2, 0.3], seed=9), batch_size=3,
                                     num_workers=workers)
        orders.append([pairs(loader) for _ in range(2)])
    assert orders[0] == orders[1]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_at_random_points_matches_the_uninterrupted_run(three, num_workers):
    def make():
        return StreamingDataLoader(combined(three, weights=[0.4, 0.3, 0.3], seed=5, iterate_over_all=True),
                                   batch_size=4, num_workers=num_workers)

    loader = make()
    reference = [pairs(loader) for _ in range(2)]
    flat = [p for epoch in reference for p in epoch]
    batches_per_epoch = len(loader)
    rng = random.Random(num_workers)
    for stop_after in sorted(rng.sample(range(1, 2 * batches_per_epoch), 3)):
        loader, seen, state, taken = make(), [], None, 0
        for _ in range(2):
            for batch in loader:
                seen += pairs([batch])
                taken += 1
                if taken == stop_after:
                    buffer = io.BytesIO()
                    torch.save(loader.state_dict(), buffer)
                    state = buffer.getvalue()
                    break
            if state is not None:
                break
        assert state is not None
        resumed = make()
        resumed.load_state_dict(torch.load(io.BytesIO(state)))
        rest = []
        while len(seen) + len(rest) < len(flat):
            rest += pairs(resumed)
        assert seen + rest == flat, stop_after


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "weights",
    [[1, 1], [1, 1, 1, 1], [1, -1, 1], [0, 0, 0], [float("nan"), 1, 1], [float("inf"), 1, 1]],
    ids=["too-few", "too-many", "negative", "all-zero", "nan", "inf"],
)
def test_bad_weights_are_refused(three, weights):
    datasets = [StreamingDataset(p) for p in three]
    with pytest.raises(ValueError, match="weights"):
        CombinedStreamingDataset(datasets, weights=weights)


def test_numpy_weights_are_accepted(three):
    mixture = CombinedStreamingDataset([StreamingDataset(p) for p in three], weights=np.array([2, 1, 1], np.float32))
    assert mixture.weights == [2.0, 1.0, 1.0]


def test_only_streaming_datasets_are_mixed(three):
    with pytest.raises(ValueError):
        CombinedStreamingDataset([])
    with pytest.raises(TypeError):
        CombinedStreamingDataset([StreamingDataset(three[0]), list(range(3))])
