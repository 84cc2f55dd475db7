"""``CombinedStreamingDataset``: mix several streaming datasets by weight, resumably.

Mixing is planned like a single dataset: each rank's mixed sequence is a pure function
of the seed and the epoch (position p draws dataset d with the given weights; the k-th
draw of d is the k-th sample of d's own plan for this rank). The same draws are made on
every rank, so all ranks yield the same number of samples. The sequence is then cut
into batches and dealt to DataLoader workers exactly as for one dataset, which makes
``StreamingDataLoader`` state (epoch, batches consumed) enough to resume.

The state nests each dataset's own state (its segment and the draws of it consumed), so
a resume on another world size re-plans every dataset over what no rank has served and
mixes the rest anew; on another batch size the same mixed sequence continues.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset

from .dataset import StreamingDataset
from .env import DistributedEnv, WorkerEnv
from .plan import RankPlan, num_batches
from .resume import dataset_identity, resolve_segment, saved_segment
from .state_override import overridden_dataset_state, overridden_mixture_state
from .steering import LoaderSteered, Steering

STATE_VERSION = 1
STATE_TYPE = "CombinedStreamingDataset"


def mix(lengths: Sequence[int], weights: Sequence[float], *, seed: int, epoch: int, iterate_over_all: bool,
        replans: int = 0) -> np.ndarray:
    """Which dataset each position of the mixed sequence draws from.

    Draws follow ``weights`` among the datasets that still have samples. Without
    ``iterate_over_all`` the sequence ends just before the first draw from an exhausted
    dataset; with it, an exhausted dataset leaves the draw and the others continue until
    all are exhausted.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF, 23, *([replans] if replans else [])])
    remaining = np.asarray(lengths, dtype=np.int64).copy()
    weights_array = np.asarray(weights, dtype=np.float64)
    alive = (remaining > 0) & (weights_array > 0)
    if not iterate_over_all and ((remaining == 0) & (weights_array > 0)).any():
        return np.zeros(0, dtype=np.int64)  # a drawn dataset is exhausted from the start (weight 0: never drawn)
    parts: list[np.ndarray] = []
    while alive.any():
        candidates = np.flatnonzero(alive)
        probabilities = weights_array[candidates] / weights_array[candidates].sum()
        draws = candidates[rng.choice(len(candidates), size=int(remaining[candidates].sum()), p=probabilities)]
        # The first position at which some dataset would be drawn once more than it has.
        stop = len(draws)
        for d in candidates:
            hits = np.flatnonzero(draws == d)
            if len(hits) > remaining[d]:
                stop = min(stop, int(hits[remaining[d]]))
        taken = draws[:stop]
        parts.append(taken)
        remaining -= np.bincount(taken, minlength=len(remaining))
        if stop == len(draws) or not iterate_over_all:
            break
        alive = (remaining > 0) & (weights_array > 0)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class CombinedStreamingDataset(LoaderSteered, IterableDataset):
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
        force_override_state_dict: resume from a state saved with other weights, seed or
            ``iterate_over_all``, or of fewer datasets (those added at the end start their
            epoch afresh): the mixture's arguments win, with a warning, instead of an
            error; see :mod:`litdata_stream.state_override`.
    """

    def __init__(
        self,
        datasets: Sequence[StreamingDataset],
        seed: int = 42,
        weights: Sequence[float] | None = None,
        iterate_over_all: bool | None = None,
        force_override_state_dict: bool = False,
    ) -> None:
        super().__init__()
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("CombinedStreamingDataset needs at least one dataset")
        for dataset in self.datasets:
            if not isinstance(dataset, StreamingDataset):
                raise TypeError(f"CombinedStreamingDataset mixes StreamingDatasets, got {type(dataset).__name__}")
        if weights is not None:
            if (
                len(weights) != len(self.datasets)
                or not all(isinstance(w, numbers.Real) and math.isfinite(w) and w >= 0 for w in weights)
                or sum(weights) <= 0
            ):
                raise ValueError(f"weights must be {len(self.datasets)} non-negative numbers with a positive sum, got {weights}")
            self.weights = [float(w) for w in weights]
        else:
            self.weights = [float(d.num_items) for d in self.datasets]
        self.iterate_over_all = (weights is None) if iterate_over_all is None else bool(iterate_over_all)
        self.seed = int(seed)
        self.force_override_state_dict = bool(force_override_state_dict)
        self._init_steering()

    def set_distributed_env(self, env: DistributedEnv | None) -> None:
        super().set_distributed_env(env)
        for dataset in self.datasets:
            dataset.set_distributed_env(env)

    def set_num_workers(self, num_workers: int) -> None:
        super().set_num_workers(num_workers)
        for dataset in self.datasets:
            dataset.set_num_workers(num_workers)

    # -- the plan ----------------------------------------------------------------------
    def _child_plans(self, steering: Steering) -> list[RankPlan]:
        env = steering.env or self._env()
        children = steering.children_intervals or (None,) * len(self.datasets)
        return [
            dataset.rank_plan(Steering(epoch=steering.epoch, batch_size=1, env=env, intervals=intervals,
                                       epoch_set=True))
            for dataset, intervals in zip(self.datasets, children)
        ]

    def _plan(self, steering: Steering) -> tuple[np.ndarray, list[RankPlan]]:
        """(dataset drawn at each position of this rank's mixed sequence, each dataset's plan)."""
        plans = self._child_plans(steering)
        choices = mix([p.per_rank for p in plans], self.weights, seed=self.seed, epoch=steering.epoch,
                      iterate_over_all=self.iterate_over_all, replans=steering.replans)
        return choices, plans

    def __len__(self) -> int:
        """Samples this rank yields in the epoch (after a resume point)."""
        steering = self._resolved_steering()
        choices, _ = self._plan(steering)
        return max(len(choices) - steering.first_sample, 0)

    def batches_left(self) -> int:
        """Batches of this rank's epoch still to come (after a resume point)."""
        return num_batches(len(self), self._current_steering().batch_size) - self._current_steering().first_batch

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The mixture's position plus each dataset's own state (its draws consumed)."""
        steering = self._resolved_steering()
        env = steering.env or self._env()
        choices, plans = self._plan(steering)
        consumed = min(steering.first_sample + steering.first_batch * steering.batch_size, len(choices))
        draws = np.bincount(choices[:consumed], minlength=len(self.datasets))
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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` on the next iteration, on any topology."""
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
        return state

    def check_state(self, state: dict[str, Any]) -> None:
        """Refuse a state saved from another mixture (a clear ``ValueError``)."""
        if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
            raise ValueError(f"not a {STATE_TYPE} state")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown {STATE_TYPE} state version {state.get('version')!r}")
        state = self._overridden(state, warn=False)
        for key, now in (("seed", self.seed), ("weights", list(self.weights)),
                         ("iterate_over_all", self.iterate_over_all)):
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
        if int(state["world_size"]) == env.world_size and not state.get("overridden"):  # the same mix goes on
            children = tuple(
                None if c["intervals"] is None else tuple((int(a), int(b)) for a, b in c["intervals"])
                for c in state["datasets"]
            )
            self._steer(epoch=epoch, children_intervals=children, replans=int(state["replans"]),
                        first_sample=int(state["samples_consumed"]), first_batch=0, epoch_set=True)
            return
        children = []
        for d, dataset in enumerate(self.datasets):
            if d >= len(state["datasets"]):  # added after the state was saved (an override)
                children.append(None)
                continue
            child = state["datasets"][d]
            if state.get("overridden"):  # what no rank has served, whatever the topology
                saved = saved_segment(child)
                order = dataset.epoch_order(epoch)
                children.append(RankPlan(order, saved, 0).remaining_after(int(child["batches_consumed"])
                                                                          * saved.batch_size))
                continue
            segment = dataset.rank_plan(Steering(epoch=epoch, batch_size=1, env=env, epoch_set=True)).segment
            intervals, _ = resolve_segment(child, dataset.epoch_order(epoch), segment)
            children.append(intervals)
        self._steer(epoch=epoch, children_intervals=tuple(children), replans=int(state["replans"]) + 1,
                    first_sample=0, first_batch=0, epoch_set=True)

    def _resolved_steering(self) -> Steering:
        self.resolve_resume()
        return self._current_steering()

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        self.resolve_resume()
        worker = WorkerEnv.detect()
        steering = self._start_iteration()
        choices, plans = self._plan(steering)
        size, start = steering.batch_size, steering.first_sample
        total = num_batches(max(len(choices) - start, 0), size)
        batches = range(steering.first_batch + worker.worker_id, total, max(worker.num_workers, 1))
        draw = np.zeros(len(choices), dtype=np.int64)  # the k-th draw of its dataset
        for d in range(len(self.datasets)):
            hits = choices == d
            draw[hits] = np.arange(int(hits.sum()))

        def span(j: int) -> slice:
            """The positions of the mixed sequence that batch ``j`` holds."""
            return slice(start + j * size, min(start + (j + 1) * size, len(choices)))

        def positions_of(d: int) -> Iterator[np.ndarray]:
            for j in batches:
                yield plans[d].stored_at(draw[span(j)][choices[span(j)] == d])

        def chunks_of(d: int) -> Iterator[int]:
            seen: set[int] = set()
            for j in batches:
                local = draw[span(j)][choices[span(j)] == d]
                if len(local):
                    for chunk in plans[d].order.chunks_for(plans[d].local_epoch_positions(local)):
                        if chunk not in seen:
                            seen.add(chunk)
                            yield chunk

        streams = [dataset.stream(positions_of(d), chunks_of(d), keep_open=plans[d].order.window_chunks)
                   for d, dataset in enumerate(self.datasets)]
        order = (d for j in batches for d in choices[span(j)].tolist())
        return self._interleave(order, streams)

    @staticmethod
    def _interleave(order: Iterator[int], streams: list[Iterator[Any]]) -> Iterator[Any]:
        try:
            for d in order:
                yield next(streams[d])
        finally:
            for stream in streams:
                stream.close()  # type: ignore[attr-defined]
