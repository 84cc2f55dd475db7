"""``StreamingDataLoader``: a torch DataLoader that can pause and resume mid-epoch.

It tells its dataset the batch size (the epoch plan cuts batches), counts the batches it
hands out, and saves ``{epoch, batches consumed, ...}`` as plain Python. Because the plan
makes a rank's batch sequence independent of the number of workers, resuming means
skipping the consumed batches: the samples after a resume are exactly those an
uninterrupted run would have yielded, for any ``num_workers``.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader

from .arena import new_arena
from .collate import WorkerCollate, default_collate, restore_tensors
from .env import DistributedEnv
from .ipc import read_results_into_reused_buffer, widen_result_pipe
from .profiler import Profiler, TracedCollate
from .workers import WorkerSetup

STATE_VERSION = 1


def _end_worker_threads(iterator: Any, timeout: float = 5.0) -> None:
    """Stop an epoch's workers and wait for the threads feeding them to end.

    Each worker's index queue has a feeder thread in this process, which ends shortly
    after the workers are shut down: often just as the next epoch forks its workers.
    A process that forks while one of its threads is ending can leave the child stuck
    for ever inside CPython 3.11's fork handling (seen: a worker hung in
    PyOS_AfterFork_Child), so those threads are joined before this iteration returns.
    """
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is None:  # num_workers=0: no workers, no feeder threads
        return
    shutdown()
    for queue in getattr(iterator, "_index_queues", []):
        thread = getattr(queue, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


class StreamingDataLoader(DataLoader):
    """A DataLoader over a ``StreamingDataset`` or ``CombinedStreamingDataset``."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        num_workers: int = 0,
        shuffle: bool | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        profile_batches: int | None = None,
        profile_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not hasattr(dataset, "set_epoch") or not hasattr(dataset, "resume_from"):
            raise TypeError(
                f"StreamingDataLoader needs a StreamingDataset or CombinedStreamingDataset, got {type(dataset).__name__}"
            )
        if kwargs.get("persistent_workers"):
            raise ValueError("persistent_workers=True is not supported: each epoch starts workers with the epoch's plan")
        if kwargs.get("sampler") is not None or kwargs.get("batch_sampler") is not None:
            raise ValueError("a StreamingDataLoader plans its own batches: remove sampler/batch_sampler")
        if shuffle is not None:
            dataset.shuffle = bool(shuffle)
        dataset.set_batch_size(batch_size)
        dataset.set_num_workers(num_workers)
        self._profiler = Profiler(profile_batches, profile_dir) if profile_batches else None
        super().__init__(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=WorkerCollate(
                TracedCollate(collate_fn or default_collate) if self._profiler else (collate_fn or default_collate)
            ),
            worker_init_fn=WorkerSetup(self._profiler.worker_init if self._profiler else None, kwargs.pop("worker_init_fn", None)),
            **kwargs,
        )
        self.current_epoch = 0
        self._consumed = 0
        self._started = False
        self._finished = False
        self._restored: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        if self._restored is not None:
            state, self._restored = self._restored, None
            self.current_epoch = state["epoch"]
            consumed = state["batches_consumed"]
            if state["finished"]:
                self.current_epoch += 1
                consumed = 0
        else:
            if self._started:
                self.current_epoch += 1
            consumed = 0
        self.dataset.set_epoch(self.current_epoch)
        self.dataset.resume_from(consumed)
        if hasattr(self.dataset, "set_distributed_env"):  # workers cannot see the process group
            self.dataset.set_distributed_env(DistributedEnv.detect())
        self._consumed = consumed
        self._started = True
        self._finished = False
        context = self.multiprocessing_context
        arena = new_arena(  # noqa: F841 - referenced until the iterator ends: its handles look it up
            self.num_workers, context.get_start_method() if context else mp.get_start_method())
        iterator = super().__iter__()
        widen_result_pipe(iterator)
        read_results_into_reused_buffer(iterator)
        profiler = self._profiler
        piped = self.num_workers > 0
        try:
            for batch in iterator:
                if piped:
                    batch = restore_tensors(batch)
                self._consumed += 1
                if profiler is not None:
                    profiler.batch_done(self._consumed)
                yield batch
            self._finished = True
        finally:
            _end_worker_threads(iterator)

    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands, as plain Python (``torch.save`` stores it)."""
        env = DistributedEnv.detect()
        dataset = self.dataset
        return {
            "version": STATE_VERSION,
            "epoch": self.current_epoch,
            "batches_consumed": self._consumed,
            "finished": self._finished,
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "world_size": env.world_size,
            "rank": env.rank,
            "seed": getattr(dataset, "seed", None),
            "shuffle": getattr(dataset, "shuffle", None),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` on the next iteration."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown StreamingDataLoader state version {state.get('version')!r}")
        env = DistributedEnv.detect()
        for key, now in (("batch_size", self.batch_size), ("world_size", env.world_size)):
            if state[key] != now:
                raise ValueError(
                    f"cannot resume: the state was saved with {key}={state[key]}, this loader has {key}={now}"
                )
        for key in ("seed", "shuffle"):
            if state.get(key) is not None and state[key] != getattr(self.dataset, key, None):
                raise ValueError(
                    f"cannot resume: the state was saved with {key}={state[key]!r}, "
                    f"the dataset has {key}={getattr(self.dataset, key, None)!r}"
                )
        self._restored = dict(state)
        self.current_epoch = state["epoch"]
        self._consumed = state["batches_consumed"]
        self._finished = state["finished"]
        self._started = True
