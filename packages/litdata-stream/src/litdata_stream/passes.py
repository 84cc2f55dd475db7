"""One rank's samples of one dataset over consecutive passes, for datasets that cycle.

A composition that cycles a dataset (``ParallelStreamingDataset(length=N)``) reads it
as an endless stream: pass 0 is the dataset's epoch-0 plan for this rank, pass 1 its
epoch-1 plan (re-shuffled), and so on. Stream index ``s`` names one sample of that
stream; the composition only does arithmetic on stream indexes, and this module turns
a range of them into stored positions, pass by pass, at O(chunks) per pass.

A :class:`Cursor` says where the stream starts: in which pass, and which part of that
pass is left (``intervals``, after a resume on another world size; ``None``: all of it).
Every pass after the first is whole. Every rank of a world has the same number of
samples in each pass (the plan makes shares equal), so ranks cross pass boundaries at
the same stream index and one rank's position tells every rank's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .env import DistributedEnv
from .epoch_plan import Intervals, RankPlan, Segment
from .steering import Steering


@dataclass(frozen=True)
class Cursor:
    """Where a dataset's stream starts: a pass and what is left of it."""

    pass_number: int = 0
    intervals: Intervals | None = None


class PassStream:
    """The stream of one dataset for one rank, starting at a :class:`Cursor`."""

    def __init__(self, dataset: Any, env: DistributedEnv, cursor: Cursor) -> None:
        self.dataset, self.env, self.cursor = dataset, env, cursor
        self._plans: dict[int, RankPlan] = {}
        self.first = self._plan(cursor.pass_number, cursor.intervals)
        self._per_pass: int | None = None

    def _plan(self, pass_number: int, intervals: Intervals | None = None) -> RankPlan:
        steering = Steering(epoch=pass_number, batch_size=1, env=self.env, intervals=intervals, epoch_set=True)
        plan: RankPlan = self.dataset.rank_plan(steering)
        return plan

    @property
    def first_length(self) -> int:
        """Samples of this rank in the first (possibly partial) pass."""
        return self.first.per_rank

    @property
    def per_pass(self) -> int:
        """Samples of this rank in every later, whole pass."""
        if self._per_pass is None:
            self._per_pass = self.plan_of(self.cursor.pass_number + 1).per_rank
        return self._per_pass

    def plan_of(self, pass_number: int) -> RankPlan:
        """This rank's plan of pass ``pass_number`` of the dataset (the two last used are kept)."""
        if pass_number == self.cursor.pass_number:
            return self.first
        plan = self._plans.get(pass_number)
        if plan is None:
            if len(self._plans) >= 2:  # readers move forward: keep the passes in use
                self._plans.pop(min(self._plans))
            plan = self._plans[pass_number] = self._plan(pass_number)
        return plan

    def locate(self, index: int) -> tuple[int, int]:
        """(pass, sample of this rank within that pass's plan) of stream index ``index``."""
        if index < self.first_length:
            return self.cursor.pass_number, index
        if self.per_pass == 0:
            raise ValueError(
                f"{self.dataset!r} has no sample for rank {self.env.rank} of {self.env.world_size}: "
                "it cannot be cycled"
            )
        later = index - self.first_length
        return self.cursor.pass_number + 1 + later // self.per_pass, later % self.per_pass

    def pieces(self, start: int, stop: int) -> Iterator[tuple[RankPlan, np.ndarray]]:
        """Stream indexes ``start .. stop-1`` as (plan of a pass, its local sample numbers)."""
        while start < stop:
            pass_number, local = self.locate(start)
            plan = self.plan_of(pass_number)
            take = min(stop - start, plan.per_rank - local)
            yield plan, np.arange(local, local + take, dtype=np.int64)
            start += take

    def stored(self, start: int, stop: int) -> np.ndarray:
        """Stored positions of stream indexes ``start .. stop-1``, in order."""
        parts = [plan.stored_at(local) for plan, local in self.pieces(start, stop)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def chunks(self, start: int, stop: int) -> Iterator[int]:
        """The chunks stream indexes ``start .. stop-1`` read, in order of use (repeats allowed)."""
        for plan, local in self.pieces(start, stop):
            yield from plan.order.chunks_for(plan.local_epoch_positions(local))

    def position(self, index: int) -> tuple[int, Intervals | None, Segment, int]:
        """Where stream index ``index`` stands: (pass, that segment's intervals, its
        segment, samples of it every rank has consumed), for a saved state."""
        pass_number, local = self.locate(index)
        plan = self.plan_of(pass_number)
        return pass_number, plan.segment.intervals, plan.segment, local
