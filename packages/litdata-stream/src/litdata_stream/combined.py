"""``CombinedStreamingDataset``: mix several streaming datasets by weight, resumably.

Mixing is planned like a single dataset: each rank's mixed sequence is a pure function
of the seed and the epoch (position p draws dataset d with the given weights; the k-th
draw of d is the k-th sample of d's own plan for this rank), planned in blocks and laid
out only where a reader reaches them (:mod:`litdata_stream.mixing`: O(blocks), never
O(samples)). The same draws are made on
every rank, so all ranks yield the same number of samples. The sequence is then cut
into batches and dealt to DataLoader workers exactly as for one dataset, which makes
``StreamingDataLoader`` state (epoch, batches consumed) enough to resume.

The state nests each dataset's own state (its segment and the draws of it consumed), so
a resume on another world size re-plans every dataset over what no rank has served and
mixes the rest anew; on another batch size the same mixed sequence continues.

With ``batching_method="per_stream"`` the draws pick a dataset per batch instead of per
sample (see :mod:`litdata_stream.per_stream`), and the mixture yields whole batches
(lists of samples), which the loader collates one by one: per-dataset batch sizes make
batches of different sizes, which torch's batching of single samples cannot cut.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset

from .chunk_runs import chunk_runs
from .dataset import StreamingDataset
from .env import DistributedEnv, WorkerEnv
from .epoch_plan import Intervals, RankPlan, num_batches
from .mixing import LazyMix, lazy_mix
from .per_stream import StreamBatches, check_batch_sizes, plan_stream_batches
from .resume import dataset_identity, resolve_segment, saved_segment
from .state_override import overridden_dataset_state, overridden_mixture_state
from .steering import SteeredComposite, Steering

STATE_VERSION = 1
STATE_TYPE = "CombinedStreamingDataset"
BATCHING_METHODS = ("stratified", "per_stream")


class CombinedStreamingDataset(SteeredComposite, IterableDataset[Any]):
    """Iterate several ``StreamingDataset``s as one, mixed by ``weights``.

    Args:
        datasets: the datasets to mix.
        seed: seeds the draws (new draws each epoch).
        weights: the sampling weights; by default proportional to the datasets' sizes.
        iterate_over_all: continue until every dataset is exhausted (default when no
            weights are given) or stop at the first exhausted one (default with weights).
            With ``weights`` given it defaults to False: LitData refuses weights with its
            default ``iterate_over_all=True`` and so requires ``iterate_over_all=False`` to
            be written; here both spellings mean the same. ``iterate_over_all=True`` with
            weights draws by the weights until all datasets are exhausted.
        batching_method: ``"stratified"`` (default): each sample of a batch is drawn by
            weight, so a batch mixes datasets. ``"per_stream"``: each batch is drawn by
            weight and holds samples of that one dataset only, ``batch_size`` of them, or
            per dataset with ``set_batch_size([b1, b2, ...])`` /
            ``StreamingDataLoader(..., batch_size=[b1, b2, ...])``; a dataset's last batch
            may be shorter unless it has ``drop_last=True``. The mixture then yields whole
            batches (lists of samples). Unlike LitData, a dataset may be drawn for two
            batches in a row (LitData switches dataset after every batch while others
            are left, which skews the weights).
        force_override_state_dict: resume from a state saved with other weights, seed,
            ``iterate_over_all`` or ``batching_method``, or of fewer datasets (those
            added at the end start their epoch afresh): the mixture's arguments win, with
            a warning, instead of an error; see :mod:`litdata_stream.state_override`.
    """

    def __init__(
        self,
        datasets: Sequence[StreamingDataset],
        seed: int = 42,
        weights: Sequence[float] | None = None,
        iterate_over_all: bool | None = None,
        batching_method: str = "stratified",
        force_override_state_dict: bool = False,
    ) -> None:
        super().__init__()
        if batching_method not in BATCHING_METHODS:
            raise ValueError(f"batching_method must be 'stratified' or 'per_stream', got {batching_method!r}")
        self.batching_method = batching_method
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("CombinedStreamingDataset needs at least one dataset")
        for dataset in self.datasets:
            if not isinstance(dataset, StreamingDataset):
                raise TypeError(f"CombinedStreamingDataset mixes StreamingDatasets, got {type(dataset).__name__}")
        if weights is not None:
            if (
                not hasattr(weights, "__len__") or isinstance(weights, (str, bytes))
                or len(weights) != len(self.datasets)
                or not all(isinstance(w, numbers.Real) and math.isfinite(w) and w >= 0 for w in weights)
                or sum(weights) <= 0
            ):
                raise ValueError(f"weights must be {len(self.datasets)} non-negative numbers with a positive sum "
                                 f"(one per dataset), got weights={weights!r}")
            self.weights = [float(w) for w in weights]
        else:
            self.weights = [float(d.num_items) for d in self.datasets]
        self.iterate_over_all = (weights is None) if iterate_over_all is None else bool(iterate_over_all)
        self.seed = int(seed)
        self.force_override_state_dict = bool(force_override_state_dict)
        self._init_steering()

    # -- batches -------------------------------------------------------------------------
    @property
    def yields_batches(self) -> bool:
        """Whether iteration yields whole batches (lists of samples) for the loader to collate."""
        return self.batching_method == "per_stream"

    @property
    def batch_size(self) -> int | list[int]:  # type: ignore[override]
        """The batch size, or the list of per-dataset batch sizes when one was set."""
        sizes = self._steering.batch_sizes
        return list(sizes) if sizes is not None else self._steering.batch_size

    def set_batch_size(self, batch_size: int | Sequence[int]) -> None:
        """One batch size, or (``per_stream``) one per dataset, in the order of ``datasets``.

        ``StreamingDataLoader`` calls this with its ``batch_size``.

        Args:
            batch_size: samples per batch, or with ``batching_method="per_stream"`` a list
                of each dataset's samples per batch.

        Raises:
            ValueError: for a batch size below 1, or a list of them without ``per_stream`` or
                not one per dataset.
        """
        sizes = check_batch_sizes(batch_size, len(self.datasets))
        if sizes is not None and not self.yields_batches:
            raise ValueError(f"batch_size={list(sizes)!r}: per-dataset batch sizes need "
                             "batching_method='per_stream' (a 'stratified' batch mixes the datasets)")
        self._steer(batch_size=sizes[0] if sizes else int(batch_size), batch_sizes=sizes)  # type: ignore[arg-type]

    def _batch_sizes(self, steering: Steering) -> tuple[int, ...]:
        return steering.batch_sizes or (steering.batch_size,) * len(self.datasets)

    def check_default_collation(self) -> None:
        """Refuse, before any worker starts, a stratified batch the default collate cannot build:
        token blocks next to items, or token blocks of different sizes."""
        if self.yields_batches or self._steering.batch_size <= 1:
            return
        kinds = [(d, f"token blocks of {dataset.item_loader.block_size}" if dataset.item_loader is not None
                  else "items") for d, (dataset, w) in enumerate(zip(self.datasets, self.weights)) if w > 0]
        for d, kind in kinds[1:]:
            if kind != kinds[0][1]:
                raise ValueError(
                    f"batching_method='stratified' puts samples of every dataset in one batch, and the default "
                    f"collate cannot join datasets[{kinds[0][0]}] ({kinds[0][1]}) with datasets[{d}] ({kind}): use "
                    "batching_method='per_stream', batch_size=1 or a collate_fn of your own"
                )

    # -- the plan ----------------------------------------------------------------------
    def _child_plans(self, steering: Steering) -> list[RankPlan]:
        env = steering.env or self._env()
        children = steering.children_intervals or (None,) * len(self.datasets)
        return [
            dataset.rank_plan(Steering(epoch=steering.epoch, batch_size=1, env=env, intervals=intervals,
                                       epoch_set=True))
            for dataset, intervals in zip(self.datasets, children)
        ]

    def _stream_plan(self, steering: Steering) -> tuple[StreamBatches, list[RankPlan]]:
        """``per_stream``: this rank's mixed batches and each dataset's plan."""
        plans = self._child_plans(steering)
        drop = [dataset.drop_last is True for dataset in self.datasets]  # an explicit drop_last: full batches
        batches = plan_stream_batches([p.per_rank for p in plans], self._batch_sizes(steering), drop, self.weights,
                                      seed=self.seed, epoch=steering.epoch, iterate_over_all=self.iterate_over_all,
                                      replans=steering.replans)
        return batches, plans

    def _plan(self, steering: Steering) -> tuple[LazyMix, list[RankPlan]]:
        """(this rank's mixed sequence, planned lazily; each dataset's plan)."""
        plans = self._child_plans(steering)
        choices = lazy_mix([p.per_rank for p in plans], self.weights, seed=self.seed, epoch=steering.epoch,
                           iterate_over_all=self.iterate_over_all, replans=steering.replans)
        return choices, plans

    def __len__(self) -> int:
        """Samples this rank yields in the epoch (after a resume point)."""
        steering = self._resolved_steering()
        if self.yields_batches:
            batches, _ = self._stream_plan(steering)
            return batches.total_samples(steering.first_sample)
        choices, _ = self._plan(steering)
        return max(len(choices) - steering.first_sample, 0)

    def loader_len(self) -> int:
        """``per_stream``: the batches of this rank's epoch after a resume point (``len(loader)``)."""
        steering = self._resolved_steering()
        batches, _ = self._stream_plan(steering)
        return max(len(batches) - steering.first_sample, 0)

    def batches_left(self) -> int:
        """Batches of this rank's epoch still to come (after a resume point)."""
        if self.yields_batches:
            return self.loader_len() - self._current_steering().first_batch
        return num_batches(len(self), self._current_steering().batch_size) - self._current_steering().first_batch

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The mixture's position plus each dataset's own state (its draws consumed).

        Returns:
            A dict of plain values (the mixture's settings, epoch and position, and a
            ``datasets`` list of each dataset's :meth:`StreamingDataset.state_dict`).
        """
        steering = self._resolved_steering()
        env = steering.env or self._env()
        extra: dict[str, Any] = {}
        if self.yields_batches:
            batches, _ = self._stream_plan(steering)
            consumed = min(steering.first_sample + steering.first_batch, len(batches))  # mixed batches
            draws = np.asarray(batches.samples_per_dataset(consumed))
            extra = {"batching_method": self.batching_method, "batch_sizes": list(self._batch_sizes(steering)),
                     "batches_consumed": consumed}
            consumed = int(draws.sum())
        else:
            choices, _ = self._plan(steering)
            consumed = min(steering.first_sample + steering.first_batch * steering.batch_size, len(choices))
            draws = choices.counts_before(consumed)
        children = steering.children_intervals or (None,) * len(self.datasets)
        states = []
        for dataset, intervals, drawn in zip(self.datasets, children, draws.tolist()):
            child = Steering(epoch=steering.epoch, batch_size=1, env=env, intervals=intervals, first_batch=drawn)
            states.append(dataset.state_dict(child))
        return {
            "version": STATE_VERSION,
            "type": STATE_TYPE,
            "seed": self.seed,
            "weights": list(self.weights),
            "iterate_over_all": self.iterate_over_all,
            "epoch": steering.epoch,
            "world_size": env.world_size,
            "replans": steering.replans,
            "samples_consumed": consumed,
            "datasets": states,
            **extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` on the next iteration, on any topology.

        Args:
            state: a dict from :meth:`state_dict`; checked now (see :meth:`check_state`).
        """
        if self.force_override_state_dict or any(getattr(d, "force_override_state_dict", False) for d in self.datasets):
            state = self._overridden(state)
        self.check_state(state)
        self._steer(epoch=int(state["epoch"]), epoch_set=True)
        self._pending_state = dict(state)

    def _settings(self) -> dict[str, Any]:
        return {"seed": self.seed, "weights": list(self.weights), "iterate_over_all": self.iterate_over_all}

    def _overridden(self, state: dict[str, Any], warn: bool = True) -> dict[str, Any]:
        """``state`` with the settings of this mixture and of its datasets that override theirs."""
        if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
            return state
        if self.force_override_state_dict:
            state = overridden_mixture_state(self._settings(), len(self.datasets), state, warn=warn)
        children = list(state.get("datasets", []))
        for d, (dataset, child) in enumerate(zip(self.datasets, children)):
            if dataset.force_override_state_dict:
                children[d] = overridden_dataset_state(dataset_identity(dataset), child, url=dataset.source.url,
                                                       warn=warn)
        if any(new is not old for new, old in zip(children, state.get("datasets", []))):
            state = {**state, "datasets": children, "overridden": True}
        if self.force_override_state_dict and state.get("batching_method", "stratified") != self.batching_method:
            if warn:
                warnings.warn(
                    "CombinedStreamingDataset: force_override_state_dict: resuming with batching_method="
                    f"{self.batching_method!r} instead of the state's {state.get('batching_method', 'stratified')!r}; "
                    "the rest of the epoch is mixed anew", UserWarning, stacklevel=3)
            state = {**state, "batching_method": self.batching_method, "overridden": True}
        return state

    def check_state(self, state: dict[str, Any]) -> None:
        """Refuse a state saved from another mixture (a clear ``ValueError``).

        The seed, weights, ``iterate_over_all``, ``batching_method`` and number of datasets
        must match, and each dataset checks its own part.

        Args:
            state: a dict from :meth:`state_dict`.
        """
        if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
            raise ValueError(f"not a {STATE_TYPE} state")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown {STATE_TYPE} state version {state.get('version')!r}")
        state = self._overridden(state, warn=False)
        for key, now in (("seed", self.seed), ("weights", list(self.weights)),
                         ("iterate_over_all", self.iterate_over_all),
                         ("batching_method", self.batching_method)):
            if key == "batching_method" and key not in state:  # states saved before per_stream existed
                state = {**state, key: "stratified"}
            if state.get(key) != now:
                raise ValueError(f"cannot resume: the state was saved with {key}={state.get(key)!r}, "
                                 f"the mixture has {key}={now!r}")
        if len(state["datasets"]) != len(self.datasets) and not self.force_override_state_dict:
            raise ValueError(f"cannot resume: the state mixes {len(state['datasets'])} datasets, "
                             f"this mixture {len(self.datasets)}")
        for dataset, child in zip(self.datasets, state["datasets"]):
            dataset.check_state(child)

    def resolve_resume(self) -> None:
        """Turn a loaded state into this topology's plan (see ``StreamingDataset.resolve_resume``)."""
        state = self.__dict__.pop("_pending_state", None)
        if state is None:
            return
        env = self._env()
        epoch = int(state["epoch"])
        if self.yields_batches:
            self._resolve_stream_resume(state, env)
            return
        if int(state["world_size"]) == env.world_size and not state.get("overridden"):  # the same mix goes on
            children = tuple(
                None if c["intervals"] is None else tuple((int(a), int(b)) for a, b in c["intervals"])
                for c in state["datasets"]
            )
            self._steer(epoch=epoch, children_intervals=children, replans=int(state["replans"]),
                        first_sample=int(state["samples_consumed"]), first_batch=0, epoch_set=True)
            return
        replanned: list[Intervals | None] = []
        for d, dataset in enumerate(self.datasets):
            if d >= len(state["datasets"]):  # added after the state was saved (an override)
                replanned.append(None)
                continue
            child = state["datasets"][d]
            if state.get("overridden"):  # what no rank has served, whatever the topology
                saved = saved_segment(child)
                order = dataset.epoch_order(epoch)
                replanned.append(RankPlan(order, saved, 0).remaining_after(int(child["batches_consumed"])
                                                                          * saved.batch_size))
                continue
            segment = dataset.rank_plan(Steering(epoch=epoch, batch_size=1, env=env, epoch_set=True)).segment
            intervals, _ = resolve_segment(child, dataset.epoch_order(epoch), segment)
            replanned.append(intervals)
        self._steer(epoch=epoch, children_intervals=tuple(replanned), replans=int(state["replans"]) + 1,
                    first_sample=0, first_batch=0, epoch_set=True)

    def _resolve_stream_resume(self, state: dict[str, Any], env: DistributedEnv) -> None:
        """``per_stream``: the same batches go on for the same world size and batch sizes;
        otherwise every dataset is re-planned over what no rank has served."""
        epoch = int(state["epoch"])
        same = (int(state["world_size"]) == env.world_size and not state.get("overridden")
                and state.get("batch_sizes") == list(self._batch_sizes(self._current_steering())))
        saved_children = state["datasets"]
        if same:
            children = tuple(
                None if c["intervals"] is None else tuple((int(a), int(b)) for a, b in c["intervals"])
                for c in saved_children
            )
            self._steer(epoch=epoch, children_intervals=children, replans=int(state["replans"]),
                        first_sample=int(state["batches_consumed"]), first_batch=0, epoch_set=True)
            return
        remaining: list[Any] = []
        for d, dataset in enumerate(self.datasets):
            if d >= len(saved_children):  # added after the state was saved (an override)
                remaining.append(None)
                continue
            child = saved_children[d]
            saved = saved_segment(child)
            remaining.append(RankPlan(dataset.epoch_order(epoch), saved, 0).remaining_after(
                int(child["batches_consumed"]) * saved.batch_size))
        self._steer(epoch=epoch, children_intervals=tuple(remaining), replans=int(state["replans"]) + 1,
                    first_sample=0, first_batch=0, epoch_set=True)

    def _resolved_steering(self) -> Steering:
        self.resolve_resume()
        return self._current_steering()

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        self.resolve_resume()
        worker = WorkerEnv.detect()
        steering = self._start_iteration()
        if self.yields_batches:
            return self._iter_stream_batches(steering, worker)
        choices, plans = self._plan(steering)
        size, start = steering.batch_size, steering.first_sample
        total = num_batches(max(len(choices) - start, 0), size)
        batches = range(steering.first_batch + worker.worker_id, total, max(worker.num_workers, 1))

        def drawn(j: int) -> tuple[np.ndarray, np.ndarray]:
            """(dataset, how-many-th draw of it) at each position of batch ``j``."""
            return choices.draws(start + j * size, start + (j + 1) * size)

        def positions_of(d: int) -> Iterator[np.ndarray]:
            for j in batches:
                datasets, draws = drawn(j)
                yield plans[d].stored_at(draws[datasets == d])

        def chunks_of(d: int) -> Iterator[int]:
            def used() -> Iterator[int]:
                for j in batches:
                    datasets, draws = drawn(j)
                    local = draws[datasets == d]
                    if len(local):
                        yield from plans[d].order.chunks_for(plans[d].local_epoch_positions(local))
            return chunk_runs(used(), plans[d].order.window_chunks)

        streams = [dataset.stream(positions_of(d), chunks_of(d), keep_open=plans[d].order.window_chunks)
                   for d, dataset in enumerate(self.datasets)]
        order = (d for j in batches for d in drawn(j)[0].tolist())
        return self._interleave(order, streams)

    def _iter_stream_batches(self, steering: Steering, worker: WorkerEnv) -> Iterator[list[Any]]:
        """``per_stream``: this worker's mixed batches, each a list of one dataset's samples."""
        planned, plans = self._stream_plan(steering)
        start = steering.first_sample
        mine = range(start + steering.first_batch + worker.worker_id, len(planned), max(worker.num_workers, 1))

        def mixed(j: int) -> tuple[int, np.ndarray]:
            """(dataset, its rank plan's samples) of mixed batch ``j``."""
            datasets, starts, sizes = planned.batches(j, j + 1)
            begin = int(starts[0])
            return int(datasets[0]), np.arange(begin, begin + int(sizes[0]), dtype=np.int64)

        def positions_of(d: int) -> Iterator[np.ndarray]:
            for j in mine:
                drawn, local = mixed(j)
                if drawn == d:
                    yield plans[d].stored_at(local)

        def chunks_of(d: int) -> Iterator[int]:
            def used() -> Iterator[int]:
                for j in mine:
                    drawn, local = mixed(j)
                    if drawn == d:
                        yield from plans[d].order.chunks_for(plans[d].local_epoch_positions(local))
            return chunk_runs(used(), plans[d].order.window_chunks)

        streams = [dataset.stream(positions_of(d), chunks_of(d), keep_open=plans[d].order.window_chunks)
                   for d, dataset in enumerate(self.datasets)]
        return self._batched(((drawn, len(local)) for drawn, local in map(mixed, mine)), streams)

    @staticmethod
    def _batched(order: Iterator[tuple[int, int]], streams: list[Iterator[Any]]) -> Iterator[list[Any]]:
        try:
            for d, size in order:
                yield [next(streams[d]) for _ in range(size)]
        finally:
            for stream in streams:
                stream.close()  # type: ignore[attr-defined]

    @staticmethod
    def _interleave(order: Iterator[int], streams: list[Iterator[Any]]) -> Iterator[Any]:
        try:
            for d in order:
                yield next(streams[d])
        finally:
            for stream in streams:
                stream.close()  # type: ignore[attr-defined]
