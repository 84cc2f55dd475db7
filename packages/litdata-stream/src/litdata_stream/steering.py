"""What a loader tells a streaming dataset before each epoch: the settings its plan needs.

``StreamingDataLoader`` sets these on its dataset in the training process: the epoch,
the batch size, the batch to start at, a saved state to resume from, and the rank and
world size (workers cannot see the process group). They travel to DataLoader workers in
one picklable :class:`Steering` value: copied into the workers with the dataset when
they start, or, for persistent workers that outlive an epoch, read from a
:class:`SteeringChannel` of shared memory each time a worker starts an epoch.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import pickle
import struct
from dataclasses import dataclass
from typing import Any

from torch.utils.data import get_worker_info

from .env import DistributedEnv


@dataclass(frozen=True)
class Steering:
    """The per-epoch settings of a dataset that follows the epoch plan."""

    epoch: int = 0
    batch_size: int = 1
    first_batch: int = 0
    env: DistributedEnv | None = None
    #: The epoch positions left to serve (None: the whole epoch), set by a resume that
    #: changed the topology; the segment of the plan for the current topology.
    intervals: tuple[tuple[int, int], ...] | None = None
    #: Mixing only: how many times this epoch was re-planned, and the position of the
    #: mixed sequence to start at.
    replans: int = 0
    first_sample: int = 0
    children_intervals: tuple[tuple[tuple[int, int], ...] | None, ...] | None = None
    #: Whether a loader set the epoch (plain iteration moves to the next epoch by itself).
    epoch_set: bool = False
    #: A composition's resume point that outlives the epoch it was saved in (a cycling
    #: ``ParallelStreamingDataset`` continues from it); kept across ``set_epoch``.
    anchor: Any = None
    #: A ``per_stream`` mixture's batch size for each dataset (None: ``batch_size`` for all).
    batch_sizes: tuple[int, ...] | None = None


class SteeringChannel:
    """Shared memory through which persistent DataLoader workers learn each epoch's steering.

    The training process writes before it starts an epoch (while the workers wait for
    their next indices); a worker reads when its iteration starts. Created before the
    workers start, so that it reaches them with fork, spawn and forkserver alike.
    """

    CAPACITY = 1 << 20

    def __init__(self, context: Any = None) -> None:
        self._buffer = (context or mp).RawArray("B", self.CAPACITY)

    def write(self, steering: Steering) -> None:
        """Publish ``steering`` to the workers (pickled, behind its 8-byte length).

        Raises:
            ValueError: if it does not fit in :attr:`CAPACITY` bytes.
        """
        data = pickle.dumps(steering)
        if len(data) + 8 > self.CAPACITY:
            raise ValueError(f"the epoch's steering takes {len(data)} bytes, more than {self.CAPACITY}")
        view = memoryview(self._buffer).cast("B")
        view[8 : 8 + len(data)] = data
        view[:8] = struct.pack("<Q", len(data))

    def read(self) -> Steering | None:
        """The last steering written, or None if nothing was written yet."""
        view = memoryview(self._buffer).cast("B")
        (size,) = struct.unpack("<Q", bytes(view[:8]))
        return pickle.loads(bytes(view[8 : 8 + size])) if size else None


class LoaderControls:
    """What a StreamingDataLoader sets on a dataset that follows the epoch plan: epoch,
    batch size(s), worker count, distributed environment and resume point (a mixin of
    every streaming dataset; the values travel to the workers as one ``Steering``)."""

    def _init_steering(self) -> None:
        self._steering = Steering()
        self._channel: SteeringChannel | None = None
        self.num_workers = 0

    def _steer(self, **changes: Any) -> None:
        self._steering = dataclasses.replace(self._steering, **changes)

    @property
    def epoch(self) -> int:
        """The epoch the next (or current) iteration serves."""
        return self._current_steering().epoch

    @property
    def batch_size(self) -> int:
        """The batch size the epoch plan cuts each rank's share into."""
        return self._steering.batch_size

    @property
    def distributed_env(self) -> DistributedEnv | None:
        """The rank and world size pinned by the loader (None: detected when iterating)."""
        return self._steering.env

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order on the next iteration (the loader calls this every epoch).

        Another epoch than the current one starts whole: a resume point is forgotten.
        Without a call, iterating the dataset again moves on to the next epoch by itself.

        Args:
            epoch: the epoch number; it seeds the shuffle, so every rank must pass the same one.
        """
        if int(epoch) != self._steering.epoch:
            self._steer(epoch=int(epoch), epoch_set=True, first_batch=0, intervals=None, replans=0, first_sample=0,
                        children_intervals=None)
        else:
            self._steer(epoch_set=True)

    def epoch_finished(self) -> None:
        """The loader served the whole epoch: forget where it resumed (same epoch, whole)."""
        self._steer(first_batch=0, intervals=None, replans=0, first_sample=0, children_intervals=None)

    def set_batch_size(self, batch_size: int) -> None:
        """Plan the next iterations in batches of ``batch_size``.

        The plan gives whole batches to DataLoader workers in turn, so it must know the loader's
        batch size; ``StreamingDataLoader`` calls this for you.

        Args:
            batch_size: the number of samples in each batch the loader makes.
        """
        self._steer(batch_size=int(batch_size))

    def set_num_workers(self, num_workers: int) -> None:
        """Record how many DataLoader workers share this process's batches.

        Args:
            num_workers: the loader's ``num_workers`` (0: the main process reads).
        """
        self.num_workers = int(num_workers)

    def resume_from(self, batches_consumed: int) -> None:
        """Start the next iteration after ``batches_consumed`` batches of the current epoch.

        Args:
            batches_consumed: how many batches of this epoch each rank has already received.
        """
        self._steer(first_batch=int(batches_consumed))

    def set_distributed_env(self, env: DistributedEnv | None) -> None:
        """Pin the rank and world size for the next iterations.

        DataLoader workers cannot see the process group, so the loader pins them in the
        training process before the workers start.

        Args:
            env: the rank and world size to plan for, or None to detect them when iterating.
        """
        self._steer(env=env)

    def attach_channel(self, channel: SteeringChannel | None) -> None:
        """Read the steering from ``channel`` in workers (persistent workers).

        Persistent workers keep their copy of the dataset across epochs, so the loader
        publishes each epoch's settings through shared memory instead.

        Args:
            channel: the shared channel made before the workers start, or None to stop using one.
        """
        self._channel = channel

    def publish_steering(self) -> None:
        """Send the current steering to persistent workers (before an epoch starts)."""
        if self._channel is not None:
            self._channel.write(self._steering)

    def _current_steering(self) -> Steering:
        if self._channel is not None:
            if get_worker_info() is not None:
                steering = self._channel.read()
                if steering is not None:
                    return steering
        return self._steering

    def _env(self) -> DistributedEnv:
        return self._current_steering().env or DistributedEnv.detect()

    def _start_iteration(self) -> Steering:
        """The steering of the iteration starting now; the next plain one is a new epoch."""
        steering = self._current_steering()
        if not steering.epoch_set:  # iterated without a loader: the next pass is a new epoch
            self._steer(epoch=steering.epoch + 1, first_batch=0, intervals=None, replans=0, first_sample=0,
                        children_intervals=None)
        else:
            self._steer(first_batch=0)
        return steering


class SteeredComposite(LoaderControls):
    """A composition of datasets (``self.datasets``) that a loader steers as one: the rank
    and the number of workers reach every dataset, whose plans it composes."""

    datasets: list[Any]

    def set_distributed_env(self, env: DistributedEnv | None) -> None:
        """Pin the rank and world size here and in every dataset of the composition.

        Args:
            env: the rank and world size to plan for, or None to detect them when iterating.
        """
        super().set_distributed_env(env)
        for dataset in self.datasets:
            dataset.set_distributed_env(env)

    def set_num_workers(self, num_workers: int) -> None:
        """Record the number of DataLoader workers here and in every dataset of the composition.

        Args:
            num_workers: the loader's ``num_workers`` (0: the main process reads).
        """
        super().set_num_workers(num_workers)
        for dataset in self.datasets:
            dataset.set_num_workers(num_workers)
