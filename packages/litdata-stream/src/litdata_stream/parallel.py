"""``ParallelStreamingDataset``: one sample of each of several datasets at a time, as a tuple.

For an image stream and its caption stream, several augmentations of one source, or a
dataset next to its precomputed features. Planned, not improvised in workers:

- Each dataset is read as a stream of passes (:mod:`litdata_stream.passes`): with
  ``length=None`` one pass per epoch, and the epoch ends with the shortest dataset; with
  ``length=N`` every dataset cycles (each new pass re-shuffled) until each rank has
  yielded ``ceil(N / world_size)`` tuples; ``float("inf")`` never ends.
- Epoch sample ``q`` of a rank takes stream index ``base + q`` of every dataset, where
  ``base`` is 0 (``length=None``, or ``resume=False``: the same samples each epoch) or
  where the previous epoch stopped (``resume=True``, LitData's default).
- The epoch's tuples are cut into batches dealt to DataLoader workers in turn, as for a
  single dataset, so the loader's counters resume it exactly. The state keeps, for each
  dataset, its pass and what every rank has consumed of it, so a resume on another world
  size re-plans the rest of each pass: no sample of a pass is lost or repeated.
- ``transform(samples, rngs)`` gets generators seeded from ``seed``, the epoch, the rank
  and the batch (``reset_rngs=True``: not the epoch), so its randomness does not depend
  on the number of workers and replays exactly after a resume.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from .chunk_runs import chunk_runs
from .dataset import StreamingDataset
from .env import DistributedEnv, WorkerEnv
from .epoch_plan import RankPlan, Segment, num_batches
from .passes import Cursor, PassStream
from .resume import check_dataset_state, dataset_identity
from .steering import SteeredComposite, Steering

STATE_VERSION = 1
STATE_TYPE = "ParallelStreamingDataset"


@dataclass(frozen=True)
class Anchor:
    """A resume point: in ``epoch``, ``samples_consumed`` tuples had been yielded per rank,
    and each dataset's stream stood at ``offsets[d]`` from ``cursors[d]``."""

    epoch: int
    samples_consumed: int
    cursors: tuple[Cursor, ...]
    offsets: tuple[int, ...]


def _transform_arity(transform: Callable[..., Any] | None) -> int | None:
    if transform is None:
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    arity = sum(p.kind in positional for p in inspect.signature(transform).parameters.values())
    if arity not in (1, 2):
        raise ValueError(f"transform must take 1 argument (samples) or 2 (samples, rngs), it takes {arity}")
    return arity


def _check_length(length: int | float | None) -> int | float | None:
    if length is None or length == float("inf"):
        return length
    if isinstance(length, bool) or not isinstance(length, int):
        raise ValueError(f"length must be None, a positive int or float('inf'), got {length!r}")
    if length < 1:
        raise ValueError(f"length must be None, a positive int or float('inf'), got {length}")
    return length


class ParallelStreamingDataset(SteeredComposite, IterableDataset[Any]):
    """Yield a tuple of one sample of each dataset at a time.

    Args:
        datasets: the ``StreamingDataset``s to read side by side.
        length: ``None``: the epoch ends with the shortest dataset. An int ``N``: cycle the
            datasets (each re-shuffled on its next pass) until ``N`` tuples are yielded in
            the epoch (``ceil(N / world_size)`` per rank, so every rank has the same number
            of batches). ``float("inf")``: an endless stream.
        force_override_state_dict: resume from a state saved with other settings
            (length, resume, seed, or datasets of other sizes or order) instead of refusing it.
        transform: ``transform(samples)`` or ``transform(samples, rngs)``; ``rngs`` holds
            ``"random"`` (``random.Random``), ``"numpy"`` (``numpy.random.Generator``) and
            ``"torch"`` (``torch.Generator``), seeded per batch (see the module docstring).
        seed: seeds those generators.
        resume: with a ``length``, start each epoch where the previous one stopped
            (``True``) or yield the same samples every epoch (``False``).
        reset_rngs: seed the generators without the epoch, so that every epoch gets the
            same random numbers (with ``resume=False``: the same tuples every epoch).
    """

    def __init__(
        self,
        datasets: Sequence[StreamingDataset],
        length: int | float | None = None,
        force_override_state_dict: bool = False,
        transform: Callable[..., Any] | None = None,
        seed: int = 42,
        resume: bool = True,
        reset_rngs: bool = False,
    ) -> None:
        super().__init__()
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ParallelStreamingDataset needs at least one dataset")
        for index, dataset in enumerate(self.datasets):
            if not isinstance(dataset, StreamingDataset):
                raise TypeError(
                    f"ParallelStreamingDataset reads StreamingDatasets, got {type(dataset).__name__} at datasets[{index}]"
                )
            if dataset.num_items == 0:
                raise ValueError(f"datasets[{index}] ({dataset.input_dir}) is empty")
        self.length = _check_length(length)
        self.transform = transform
        self._arity = _transform_arity(transform)
        self.force_override_state_dict = bool(force_override_state_dict)
        self.seed = int(seed)
        self.resume = bool(resume)
        self.reset_rngs = bool(reset_rngs)
        self._init_steering()
        self._anchor: Anchor | None = None

    @property
    def cycling(self) -> bool:
        """Whether a ``length`` was given, so that shorter datasets are cycled to fill it."""
        return self.length is not None

    # -- the plan ----------------------------------------------------------------------
    def _epoch_length(self, streams: list[PassStream], env: DistributedEnv) -> int | None:
        """Tuples per rank in the epoch (None: endless)."""
        if self.length is None:
            return min(s.first_length for s in streams)
        if self.length == float("inf"):
            return None
        return -(-int(self.length) // env.world_size)

    def _layout(self, steering: Steering) -> tuple[list[PassStream], list[int], int | None]:
        """(each dataset's stream, the stream index of this epoch's sample 0 in it, tuples per rank)."""
        env = steering.env or self._env()
        epoch = steering.epoch
        anchor = steering.anchor if isinstance(steering.anchor, Anchor) else None
        if anchor is not None and not (anchor.epoch == epoch or (self.cycling and self.resume and epoch > anchor.epoch)):
            anchor = None
        if anchor is not None:
            cursors: Sequence[Cursor] = anchor.cursors
        elif self.cycling:
            cursors = [Cursor(0)] * len(self.datasets)
        else:
            cursors = [Cursor(epoch)] * len(self.datasets)
        streams = [PassStream(d, env, c) for d, c in zip(self.datasets, cursors)]
        length = self._epoch_length(streams, env)
        if anchor is not None:
            later = (epoch - anchor.epoch) * (length or 0)
            bases = [k - anchor.samples_consumed + later for k in anchor.offsets]
        elif self.cycling and self.resume:
            bases = [epoch * (length or 0)] * len(streams)
        else:
            bases = [0] * len(streams)
        return streams, bases, length

    def __len__(self) -> int:
        """Tuples this rank yields in the epoch (after a resume point)."""
        steering = self._resolved_steering()
        _, _, length = self._layout(steering)
        if length is None:
            raise TypeError("an endless ParallelStreamingDataset (length=float('inf')) has no length")
        return max(length - steering.first_sample, 0)

    def batches_left(self) -> int:
        """Batches of this rank's epoch still to come (after a resume point)."""
        steering = self._resolved_steering()
        _, _, length = self._layout(steering)
        if length is None:
            return sys.maxsize
        return num_batches(max(length - steering.first_sample, 0), steering.batch_size) - steering.first_batch

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The epoch, the tuples yielded per rank, and where each dataset's stream stands.

        Returns:
            A dict of plain values, with each dataset's own state nested in it.
        """
        steering = self._resolved_steering()
        env = steering.env or self._env()
        streams, bases, length = self._layout(steering)
        consumed = steering.first_sample + steering.first_batch * steering.batch_size
        if length is not None:
            consumed = min(consumed, length)
        states = []
        for dataset, stream, base in zip(self.datasets, streams, bases):
            pass_number, intervals, segment, local = stream.position(base + consumed)
            states.append({
                **dataset_identity(dataset),
                "pass": pass_number,
                "intervals": None if intervals is None else [list(i) for i in intervals],
                "drop_last": segment.drop_last,
                "consumed": local,
            })
        return {
            "version": STATE_VERSION,
            "type": STATE_TYPE,
            "length": self.length,
            "resume": self.resume,
            "seed": self.seed,
            "epoch": steering.epoch,
            "world_size": env.world_size,
            "samples_consumed": consumed,
            "datasets": states,
        }

    def check_state(self, state: dict[str, Any]) -> None:
        """Refuse a state saved from another composition (a clear ``ValueError``), unless
        ``force_override_state_dict``: then only the number of datasets must match.

        Args:
            state: a dict from :meth:`state_dict`.
        """
        if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
            raise ValueError(f"not a {STATE_TYPE} state")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown {STATE_TYPE} state version {state.get('version')!r}")
        if len(state["datasets"]) != len(self.datasets):
            raise ValueError(f"cannot resume: the state reads {len(state['datasets'])} datasets, "
                             f"this ParallelStreamingDataset {len(self.datasets)}")
        if self.force_override_state_dict:
            return
        for key, now in (("length", self.length), ("resume", self.resume), ("seed", self.seed)):
            if state.get(key) != now:
                raise ValueError(f"cannot resume: the state was saved with {key}={state.get(key)!r}, "
                                 f"the dataset has {key}={now!r} (force_override_state_dict=True resumes anyway)")
        for dataset, child in zip(self.datasets, state["datasets"]):
            check_dataset_state(dataset, child)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` on the next iteration, on any topology.

        Args:
            state: a dict from :meth:`state_dict`; checked now (see :meth:`check_state`).
        """
        self.check_state(state)
        self._steer(epoch=int(state["epoch"]), epoch_set=True)
        self._pending_state = dict(state)

    def resolve_resume(self) -> None:
        """Turn a loaded state into this topology's plan."""
        state = self.__dict__.pop("_pending_state", None)
        if state is None:
            return
        env = self._env()
        epoch, saved_world = int(state["epoch"]), int(state["world_size"])
        consumed = int(state["samples_consumed"])
        cursors, offsets = [], []
        for dataset, child in zip(self.datasets, state["datasets"]):
            intervals = None if child["intervals"] is None else tuple((int(a), int(b)) for a, b in child["intervals"])
            pass_number, local = int(child["pass"]), int(child["consumed"])
            if saved_world == env.world_size:
                cursors.append(Cursor(pass_number, intervals))
                offsets.append(local)
            else:  # what no rank has served of the pass, re-planned over the new world
                order = dataset.epoch_order(pass_number)
                rest = RankPlan(order, Segment(saved_world, 1, bool(child["drop_last"]), intervals), 0)
                cursors.append(Cursor(pass_number, rest.remaining_after(local)))
                offsets.append(0)
        if saved_world != env.world_size:
            consumed = 0 if self.length is None else consumed * saved_world // env.world_size
        anchor = Anchor(epoch, consumed, tuple(cursors), tuple(offsets))
        streams, _, length = self._layout(Steering(epoch=epoch, env=env, anchor=anchor))
        if length is not None:
            consumed = min(consumed, length)
            anchor = Anchor(epoch, consumed, anchor.cursors, anchor.offsets)
        self._steer(epoch=epoch, anchor=anchor, first_sample=consumed, first_batch=0, epoch_set=True)

    def _resolved_steering(self) -> Steering:
        self.resolve_resume()
        return self._current_steering()

    # -- iteration ---------------------------------------------------------------------
    def _rngs(self, epoch: int, env: DistributedEnv, first: int) -> dict[str, Any]:
        """Generators for the batch that starts at epoch sample ``first`` of this rank."""
        key = (self.seed, env.rank, first) if self.reset_rngs else (self.seed, env.rank, first, epoch)
        seed = int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:4], "little")
        return {
            "random": random.Random(seed),  # noqa: S311 (augmentations, not secrets)
            "numpy": np.random.default_rng(seed),
            "torch": torch.Generator().manual_seed(seed),
        }

    def __iter__(self) -> Iterator[Any]:
        self.resolve_resume()
        worker = WorkerEnv.detect()
        steering = self._start_iteration()
        env = steering.env or self._env()
        streams, bases, length = self._layout(steering)
        size, start = steering.batch_size, steering.first_sample
        workers = max(worker.num_workers, 1)
        first = steering.first_batch + worker.worker_id
        bounded = length

        def span(j: int) -> tuple[int, int]:
            """This epoch's samples (per rank) that batch ``j`` holds."""
            a = start + j * size
            b = a + size if bounded is None else min(a + size, bounded)
            return a, b

        def positions_of(d: int, numbers: Iterator[int]) -> Iterator[np.ndarray]:
            for j in numbers:
                a, b = span(j)
                yield streams[d].stored(bases[d] + a, bases[d] + b)

        def chunks_of(d: int, numbers: Iterator[int]) -> Iterator[int]:
            """Chunks in order of use, again on each later pass (lazily: a cycling epoch is endless)."""
            def used() -> Iterator[int]:
                for j in numbers:
                    a, b = span(j)
                    yield from streams[d].chunks(bases[d] + a, bases[d] + b)
            return chunk_runs(used(), streams[d].first.order.window_chunks)

        def numbers() -> Iterator[int]:
            """The batch numbers this worker produces, lazily (an endless epoch has no last one)."""
            if length is None:
                return itertools.count(first, workers)
            return iter(range(first, num_batches(max(length - start, 0), size), workers))

        readers = [
            dataset.stream(positions_of(d, numbers()), chunks_of(d, numbers()),
                           keep_open=streams[d].first.order.window_chunks)
            for d, dataset in enumerate(self.datasets)
        ]
        return self._zip(steering, env, numbers(), span, readers)

    def _zip(self, steering: Steering, env: DistributedEnv, numbers: Iterator[int],
             span: Callable[[int], tuple[int, int]], readers: list[Iterator[Any]]) -> Iterator[Any]:
        try:
            for j in numbers:
                a, b = span(j)
                rngs = self._rngs(steering.epoch, env, a) if self._arity == 2 else None
                for _ in range(b - a):
                    samples = tuple(next(reader) for reader in readers)
                    if self._arity == 1:
                        yield self.transform(samples)  # type: ignore[misc]
                    elif self._arity == 2:
                        yield self.transform(samples, rngs)  # type: ignore[misc]
                    else:
                        yield samples
        finally:
            for reader in readers:
                reader.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.datasets)} datasets, length={self.length})"

