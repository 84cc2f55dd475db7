"""Resume from a checkpoint that LitData 0.2.76's ``StreamingDataLoader.state_dict()`` wrote.

A long run may switch libraries at a checkpoint. LitData's state does not say which
samples were served, only how many: ``num_samples_yielded`` (one count per rank for a
``StreamingDataset``; per DataLoader worker and per dataset for a
``CombinedStreamingDataset``), with the topology, seed and epoch it was planned for.
Which samples those were follows from LitData's epoch plan, which this module replays
(from its documented behaviour, for a single node, its default shuffle on object stores
and local disks):

* the chunks, in stored order or, shuffled, permuted by ``RandomState([seed, epoch])``;
* each of the ``world_size * num_workers`` workers (rank-major) takes a budget of whole
  batches, filled with consecutive chunks (a chunk may be split between two workers); the
  last rank's leftover items go to one of its workers unless ``drop_last``;
* a worker reads its pieces in turn, each piece's items permuted (shuffled) by
  ``RandomState([seed, number of chunks, epoch, chunk])`` in blocks of
  ``item_shuffle_window`` items;
* a rank's count is dealt back to its workers batch by batch, round robin from worker 0
  (what LitData's own resume assumes); every rank is taken to have served as many samples
  as the saving rank (LitData assumes so too).

The samples no worker of any rank had served form the rest of the epoch. They are turned
into one of our own states: the epoch's segment is the positions of *our* epoch order
that hold them, so the rest of the epoch is served exactly once, on any topology, but in
our order, not LitData's (a ``UserWarning`` says so). LitData counts epochs from 1, we
count from 0.

Not replayed, and refused with a clear error where the state shows it: an elastic LitData
resume (``resume_mode="elastic"``), subsampled datasets, token datasets, shuffled epochs
after the first on several nodes, ``ParallelStreamingDataset``. A mixture's state carries
no seed or weights of the mixture, only its datasets' states: those are checked. A shuffled run on a parallel file system (NFS, Lustre,
...), where LitData swaps in a windowed shuffle, cannot be told apart from the state.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .env import DistributedEnv
from .epoch_plan import merge_intervals
from .resume import dataset_identity

#: The keys of LitData's ``StreamingDataLoader.state_dict()`` (ours carry a ``version``).
LOADER_KEYS = frozenset({"current_epoch", "dataset", "latest_worker_idx", "num_samples_yielded"})

#: The keys of LitData's ``StreamingDataset.state_dict()`` the translation reads.
DATASET_KEYS = ("num_samples_yielded", "num_workers", "batch_size", "current_epoch", "input_dir_path",
                "input_dir_url", "item_loader", "drop_last", "seed", "world_size", "shuffle",
                "subsampled_files", "region_of_interest")

#: Stored positions handled at once when mapping them to epoch positions (bounds memory).
_POSITIONS_PER_STEP = 1 << 20

_WARNING = ("resuming from a LitData checkpoint: the rest of the epoch is served exactly once, "
            "but in this library's order, not in the order LitData would have served it")


def is_litdata_state(state: Any) -> bool:
    """Whether ``state`` is LitData's loader state (recognized by its keys)."""
    return isinstance(state, dict) and "version" not in state and LOADER_KEYS <= state.keys()


# -- LitData's epoch plan ---------------------------------------------------------------------------------
def _item_window(value: Any) -> int:
    """LitData's in-chunk shuffle block (0 or 1: a full permutation; absent: full, as before it existed)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"cannot replay the LitData state: item_shuffle_window={value!r} is not a number of items")
    return max(value, 0)


def _permute_items(items: np.ndarray, window: int, rng: np.random.RandomState) -> np.ndarray:
    """LitData's in-chunk order: blocks of ``window`` items, each shuffled, then the blocks shuffled."""
    if len(items) < 2:
        return items
    if window <= 1:
        return rng.permutation(items)
    blocks = [items[start:start + window].copy() for start in range(0, len(items), window)]
    for block in blocks:
        rng.shuffle(block)
    if len(blocks) > 1:
        rng.shuffle(blocks)
    return np.concatenate(blocks)


class LitDataPlan:
    """Which items each LitData worker serves in one epoch, in its order.

    ``chunk_sizes``: items per chunk in stored order (a chunk's items are the global
    indices after those of the chunks before it, as LitData numbers them).
    """

    def __init__(self, chunk_sizes: Sequence[int], *, world_size: int, num_workers: int, batch_size: int,
                 drop_last: bool, shuffle: bool, seed: int, epoch: int, item_window: int) -> None:
        if world_size < 1 or num_workers < 1 or batch_size < 1:
            raise ValueError(f"cannot replay the LitData state: world_size={world_size}, num_workers={num_workers}, "
                             f"batch_size={batch_size}")
        self.world_size, self.num_workers, self.batch_size = world_size, num_workers, batch_size
        self.shuffle, self.seed, self.epoch, self.item_window = shuffle, seed, epoch, item_window
        sizes = np.asarray(chunk_sizes, dtype=np.int64)
        self.num_chunks = len(sizes)
        begins = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes[:-1], out=begins[1:])
        order = np.random.RandomState([seed, epoch]).permutation(len(sizes)) if shuffle else np.arange(len(sizes))
        budgets = self._budgets(int(sizes.sum()), drop_last)
        #: Per global worker (rank * num_workers + worker): its pieces (chunk, first item, end item).
        self.pieces: list[list[tuple[int, int, int]]] = [[] for _ in budgets]
        worker = 0
        for chunk in order.tolist():
            start, end = int(begins[chunk]), int(begins[chunk] + sizes[chunk])
            while start < end and worker < len(budgets):
                take = min(end - start, budgets[worker])
                if take:
                    self.pieces[worker].append((chunk, start, start + take))
                    budgets[worker] -= take
                    start += take
                if budgets[worker] == 0:
                    worker += 1
        self.lengths = [sum(b - a for _, a, b in pieces) for pieces in self.pieces]

    def _budgets(self, num_items: int, drop_last: bool) -> list[int]:
        """Items per global worker: whole batches spread evenly, the leftover to one worker of the last rank."""
        per_rank = (num_items // self.batch_size) // self.world_size
        base, extra = divmod(per_rank, self.num_workers)
        batches = [base + (1 if w < extra else 0) for w in range(self.num_workers)] * self.world_size
        budgets = [b * self.batch_size for b in batches]
        left = num_items - sum(budgets)
        if not drop_last and left > 0:
            budgets[(self.world_size - 1) * self.num_workers + extra % self.num_workers] += left
        return budgets

    def rank_length(self, rank: int) -> int:
        """How many samples LitData's workers of ``rank`` serve in the epoch, together."""
        return sum(self.lengths[rank * self.num_workers:(rank + 1) * self.num_workers])

    def piece_items(self, piece: tuple[int, int, int]) -> np.ndarray:
        """The items of one piece, in the order its worker serves them."""
        chunk, start, end = piece
        items = np.arange(start, end, dtype=np.int64)
        if not self.shuffle:
            return items
        rng = np.random.RandomState([self.seed, self.num_chunks, self.epoch, chunk])
        return _permute_items(items, self.item_window, rng)

    def rest_of_worker(self, worker: int, served: int) -> tuple[list[tuple[int, int]], np.ndarray]:
        """What global worker ``worker`` had not served after ``served`` samples: (whole pieces
        as ``(start, end)`` item ranges, the leftover items of the piece it was in)."""
        ranges: list[tuple[int, int]] = []
        partial = np.zeros(0, dtype=np.int64)
        for piece in self.pieces[worker]:
            size = piece[2] - piece[1]
            if served >= size:
                served -= size
            elif served > 0:
                partial = self.piece_items(piece)[served:]
                served = 0
            else:
                ranges.append((piece[1], piece[2]))
        return ranges, partial


def replay_counts(num_samples_yielded: int, batch_size: int, num_workers: int) -> list[int]:
    """A rank's count dealt back to its workers: batch by batch, round robin from worker 0."""
    rounds, left = divmod(num_samples_yielded, num_workers * batch_size)
    counts = [rounds * batch_size] * num_workers
    worker = 0
    while left > 0:
        take = min(left, batch_size)
        counts[worker] += take
        left -= take
        worker = (worker + 1) % num_workers
    return counts


# -- checking a LitData dataset state against our dataset -------------------------------------------------
def _local(path: str) -> str:
    return os.path.realpath(path[len("local:"):] if path.startswith("local:") else path)


def check_litdata_dataset_state(dataset: Any, state: Any) -> None:
    """Refuse a LitData dataset state saved from another dataset or order (a clear ``ValueError``)."""
    if not isinstance(state, dict):
        raise ValueError(f"not a LitData StreamingDataset state (got {type(state).__name__})")
    missing = [key for key in DATASET_KEYS if key not in state]
    if missing:
        raise ValueError(f"not a LitData StreamingDataset state: it lacks {', '.join(missing)}")
    url = dataset.source.url
    if state.get("resume_mode") == "elastic":
        raise ValueError(f"cannot resume {url} from this LitData state: it was saved by a run LitData had itself "
                         "resumed on another topology (resume_mode='elastic'), whose order is not replayed here")
    saved_url, saved_path = state["input_dir_url"], state["input_dir_path"]
    if saved_url:
        same = saved_url.rstrip("/") == url.rstrip("/") or ("://" not in url and _local(saved_url) == _local(url))
        saved = saved_url
    else:
        same = "://" not in url and saved_path is not None and _local(saved_path) == _local(url)
        saved = saved_path
    if not same:
        raise ValueError(f"cannot resume {url}: the LitData state was saved with input_dir={saved!r}, "
                         f"the dataset has input_dir={url!r}")
    for key in ("shuffle", "seed"):
        if state[key] != getattr(dataset, key):
            raise ValueError(f"cannot resume {url}: the LitData state was saved with {key}={state[key]!r}, "
                             f"the dataset has {key}={getattr(dataset, key)!r}")
    if state["item_loader"] is not None or dataset.item_loader is not None:
        raise ValueError(f"cannot resume {url} from a LitData state: token datasets (TokensLoader) are not "
                         "supported")
    chunks = dataset.source.index.chunks
    if (list(state["subsampled_files"]) != [c.filename for c in chunks]
            or [list(r) for r in state["region_of_interest"]] != [[0, c.chunk_size] for c in chunks]):
        raise ValueError(f"cannot resume {url}: the LitData state was saved over other chunks or a subsample of "
                         f"them ({len(state['subsampled_files'])} chunk(s) listed, the dataset has {len(chunks)})")
    if dataset.num_items != sum(c.chunk_size for c in chunks):
        raise ValueError(f"cannot resume {url} from a LitData state: the dataset is subsampled or split "
                         f"({dataset.num_items} of {sum(c.chunk_size for c in chunks)} items)")


def _plan_for(dataset: Any, state: dict[str, Any], epoch: int, num_nodes: int) -> LitDataPlan:
    if num_nodes > 1 and state["shuffle"] and epoch > 1:
        raise ValueError(f"cannot resume {dataset.source.url} from a LitData state: shuffled epochs after the first "
                         f"on {num_nodes} nodes are not replayed")
    return LitDataPlan([c.chunk_size for c in dataset.source.index.chunks], world_size=int(state["world_size"]),
                       num_workers=int(state["num_workers"]), batch_size=int(state["batch_size"]),
                       drop_last=bool(state["drop_last"]), shuffle=bool(state["shuffle"]), seed=int(state["seed"]),
                       epoch=epoch, item_window=_item_window(state.get("item_shuffle_window")))


# -- the rest of the epoch as one of our states -----------------------------------------------------------
def _rest(plan: LitDataPlan, worker_counts: Sequence[int]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Items no worker of any rank had served, each worker having served ``worker_counts[w]``."""
    ranges: list[tuple[int, int]] = []
    partials = []
    for rank in range(plan.world_size):
        for local, served in enumerate(worker_counts):
            whole, partial = plan.rest_of_worker(rank * plan.num_workers + local, int(served))
            ranges.extend(whole)
            partials.append(partial)
    return ranges, np.concatenate(partials) if partials else np.zeros(0, dtype=np.int64)


def _epoch_intervals(dataset: Any, epoch: int, ranges: list[tuple[int, int]], items: np.ndarray) -> list[list[int]]:
    """The positions of our epoch order holding the given stored items, as intervals."""
    if not dataset.shuffle:  # our stored order: a position is the stored item
        stored = sorted(ranges + [(int(i), int(i) + 1) for i in items.tolist()])
        return [list(piece) for piece in merge_intervals(stored)]
    size = dataset.num_items
    wanted = np.zeros(size, dtype=bool)
    for start, end in ranges:
        wanted[start:end] = True
    wanted[items] = True
    order = dataset.epoch_order(epoch)
    pieces: list[tuple[int, int]] = []
    for first in range(0, size, _POSITIONS_PER_STEP):
        positions = np.arange(first, min(first + _POSITIONS_PER_STEP, size), dtype=np.int64)
        hit = np.concatenate(([False], wanted[order.stored(positions)], [False]))
        edges = np.flatnonzero(hit[1:] != hit[:-1])
        pieces.extend(zip((first + edges[0::2]).tolist(), (first + edges[1::2]).tolist()))
    return [list(piece) for piece in merge_intervals(pieces)]


def _our_dataset_state(dataset: Any, epoch: int, world_size: int, intervals: list[list[int]]) -> dict[str, Any]:
    """Our own dataset state serving ``intervals`` of ``epoch`` from their start."""
    return {**dataset_identity(dataset), "epoch": epoch, "world_size": world_size, "batch_size": 1,
            "drop_last": dataset._drop_last(world_size), "intervals": intervals, "batches_consumed": 0}


def _dataset_rest(
    dataset: Any, state: dict[str, Any], epoch: int, worker_counts: Sequence[int] | None
) -> tuple[dict[str, Any], int]:
    """(our state for the rest of ``dataset``'s epoch, samples left in it)."""
    check_litdata_dataset_state(dataset, state)
    plan = _plan_for(dataset, state, epoch, int(state.get("initial_num_nodes", 1) or 1))
    if worker_counts is None:  # a plain dataset: one count for the rank, dealt to its workers
        served = int(state["num_samples_yielded"])
        # LitData counts a worker's short last batch as a whole one.
        if served > plan.rank_length(0) + plan.num_workers * (plan.batch_size - 1):
            raise ValueError(f"cannot resume {dataset.source.url}: the LitData state counts {served} samples served, "
                             f"more than the {plan.rank_length(0)} of a rank's epoch")
        worker_counts = replay_counts(served, plan.batch_size, plan.num_workers)
    ranges, items = _rest(plan, worker_counts)
    left = sum(b - a for a, b in ranges) + len(items)
    return _our_dataset_state(dataset, epoch - 1, plan.world_size, _epoch_intervals(dataset, epoch - 1, ranges,
                                                                                      items)), left


def _combined_state(dataset: Any, state: dict[str, Any], epoch: int) -> tuple[dict[str, Any], int]:
    from .combined import STATE_TYPE, STATE_VERSION  # the mixture's own state format

    per_worker = state["num_samples_yielded"]
    if not isinstance(per_worker, dict):
        raise ValueError("cannot resume a CombinedStreamingDataset from this LitData state: it was saved from a "
                         "StreamingDataset")
    children = state["dataset"]
    if not isinstance(children, dict) or len(children) != len(dataset.datasets):
        found = len(children) if isinstance(children, dict) else type(children).__name__
        raise ValueError(f"cannot resume: the LitData state mixes {found} datasets, this mixture "
                         f"{len(dataset.datasets)}")
    states, left, world_size = [], 0, 1
    for index, child in enumerate(dataset.datasets):
        saved = children.get(str(index), children.get(index))
        if not isinstance(saved, dict):
            raise ValueError(f"not a LitData CombinedStreamingDataset state: no state for dataset {index}")
        workers = int(saved.get("num_workers", 1))
        counts = [0] * workers
        for worker, served in per_worker.items():
            if not isinstance(served, list) or len(served) != len(dataset.datasets):
                raise ValueError(f"not a LitData CombinedStreamingDataset state: worker {worker} counts {served!r}, "
                                 f"not one count per dataset")
            if not 0 <= int(worker) < workers:
                raise ValueError(f"cannot resume: the LitData state counts samples of worker {worker}, "
                                 f"it was saved with {workers} worker(s)")
            counts[int(worker)] = int(served[index])
        child_state, child_left = _dataset_rest(child, saved, epoch, counts)
        states.append(child_state)
        left += child_left
        world_size = child_state["world_size"]
    return {"version": STATE_VERSION, "type": STATE_TYPE, "seed": dataset.seed, "weights": list(dataset.weights),
            "iterate_over_all": dataset.iterate_over_all, "epoch": epoch - 1, "world_size": world_size,
            "replans": 1, "samples_consumed": 0, "datasets": states,
            "batching_method": getattr(dataset, "batching_method", "stratified")}, left


def from_litdata_state(loader: Any, state: dict[str, Any], version: int) -> dict[str, Any]:
    """LitData's loader ``state`` as one of our loader states (of ``version``), for ``loader``.

    Raises ``ValueError`` when the state was saved from another dataset or order, or from
    a plan this module does not replay (see the module docstring).
    """
    dataset = loader.dataset
    epoch = state["current_epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"not a LitData StreamingDataLoader state: current_epoch={epoch!r}")
    env = DistributedEnv.detect()
    ours: dict[str, Any] = {"version": version, "epoch": max(epoch - 1, 0), "batches_consumed": 0,
                            "finished": False, "batch_size": loader.batch_size, "num_workers": loader.num_workers,
                            "world_size": env.world_size, "rank": env.rank, "seed": None, "shuffle": None}
    if "num_cycles" in state:
        raise ValueError("cannot resume from this LitData state: it was saved from a ParallelStreamingDataset")
    if hasattr(dataset, "datasets"):
        dataset_state, left = _combined_state(dataset, state, max(epoch, 1))
    else:
        if not isinstance(state["dataset"], dict) or isinstance(state["num_samples_yielded"], dict):
            raise ValueError("cannot resume a StreamingDataset from this LitData state: it was saved from a "
                             "CombinedStreamingDataset")
        dataset_state, left = _dataset_rest(dataset, state["dataset"], max(epoch, 1), None)
    if epoch == 0:  # saved before the first epoch started (the state was still checked): start it whole
        return ours
    if left == 0:  # saved after the epoch's last batch: the next epoch starts whole
        ours["finished"] = True
        return ours
    warnings.warn(_WARNING, UserWarning, stacklevel=3)
    ours["dataset"] = dataset_state
    return ours
