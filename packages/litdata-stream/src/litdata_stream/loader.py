"""``StreamingDataLoader``: a torch DataLoader that can pause and resume mid-epoch.

It tells its dataset the batch size (the epoch plan cuts batches), counts the batches it
hands out, and saves ``{epoch, batches consumed, ...}`` as plain Python. Because the plan
makes a rank's batch sequence independent of the number of workers, resuming means
skipping the consumed batches: the samples after a resume are exactly those an
uninterrupted run would have yielded, for any ``num_workers``.
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader, default_convert

from .collate import BatchFastPath, WorkerCollate, default_collate, restore_tensors
from .env import DistributedEnv
from .heap import release_free_heap
from .ipc import read_results_into_reused_buffer, widen_result_pipe
from .litdata_state import from_litdata_state, is_litdata_state
from .loader_args import apply_drop_last, positional_arguments
from .profiler import CProfiler, Profiler, TracedCollate
from .steering import SteeringChannel
from .torch_private import end_worker_threads, forget_persistent_iterator, worker_processes
from .worker_setup import WorkerSetup
from .worker_start import ATTEMPTS, START_TIMEOUT_ENV, WorkerStarts, kill_workers, start_timeout

STATE_VERSION = 2


def _end_worker_threads(iterator: Any, timeout: float = 5.0) -> None:
    """Stop an epoch's workers and wait for the threads feeding them to end.

    Each worker's index queue has a feeder thread in this process, which ends shortly
    after the workers are shut down: often just as the next epoch forks its workers.
    A process that forks while one of its threads is ending can leave the child stuck
    for ever inside CPython 3.11's fork handling (seen: a worker hung in
    PyOS_AfterFork_Child), so those threads are joined before this iteration returns.
    With ``num_workers=0`` there are neither workers nor feeder threads.
    """
    end_worker_threads(iterator, timeout)


class StreamingDataLoader(DataLoader[Any]):
    """A DataLoader over a ``StreamingDataset`` or ``CombinedStreamingDataset``.

    The dataset plans the epoch (which rank and worker serves which batch), so the loader
    takes no sampler: it tells the dataset its batch size and worker count, counts the
    batches it hands out, and can save and restore that position with
    :meth:`state_dict` and :meth:`load_state_dict`, even on another world size, batch
    size or number of workers. Iterating it again starts the next epoch.

    Args:
        dataset: a ``StreamingDataset``, ``CombinedStreamingDataset`` or
            ``ParallelStreamingDataset`` (anything with their epoch and resume methods).
        *args: torch DataLoader arguments by position (``batch_size``, ``shuffle``, ...);
            see :mod:`litdata_stream.loader_args`.
        batch_size: samples per batch; with a ``CombinedStreamingDataset`` of
            ``batching_method="per_stream"``, also a list of one batch size per dataset.
        num_workers: DataLoader worker processes (0: read in the training process).
        shuffle: sets the dataset's ``shuffle`` (None: keep it).
        drop_last: sets the dataset's ``drop_last`` (None: keep it; see ``loader_args``).
        collate_fn: turns a list of samples into a batch (default: :func:`default_collate`).
        profile_batches: write a Chrome trace (``result.json`` in ``profile_dir``) of this
            many batches after ``profile_skip_batches``; ``True``: of the whole epoch.
        profile_skip_batches: batches handed out before the trace starts.
        profile_dir: where ``result.json`` and the cProfile files go (default: the cwd).
        profile_cprofile: write cProfile statistics of the training process's loading
            loop and of worker 0 (``cprofile_main.prof``/``.txt``,
            ``cprofile_worker0.prof``/``.txt``), on rank 0; not with ``profile_batches``.
        prefetch_factor: batches each worker loads ahead (torch's; default 2 with workers).
        **kwargs: other torch DataLoader arguments (``pin_memory``, ``persistent_workers``,
            ``worker_init_fn``, ...); ``sampler``, ``batch_sampler`` and ``in_order=False``
            are refused.

    Raises:
        TypeError: if ``dataset`` is not a streaming dataset.
        ValueError: for a sampler, ``in_order=False``, both profilers at once, or a list
            of batch sizes without a ``per_stream`` mixture.
    """

    # A StreamingDataset, CombinedStreamingDataset or ParallelStreamingDataset: any object
    # with their epoch and resume methods (torch types it as a plain Dataset).
    dataset: Any

    def __init__(
        self,
        dataset: Any,
        *args: Any,
        batch_size: int = 1,
        num_workers: int = 0,
        profile_batches: bool | int = False,
        profile_skip_batches: int = 0,
        profile_dir: str | None = None,
        profile_cprofile: bool = False,
        prefetch_factor: int | None = None,
        shuffle: bool | None = None,
        drop_last: bool | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if args:
            defaults = {"batch_size": (batch_size, 1), "num_workers": (num_workers, 0), "shuffle": (shuffle, None),
                        "drop_last": (drop_last, None), "collate_fn": (collate_fn, None)}
            named = positional_arguments(args, kwargs, {k for k, (v, d) in defaults.items() if v is not d})
            batch_size = named.pop("batch_size", batch_size)
            num_workers = named.pop("num_workers", num_workers)
            shuffle = named.pop("shuffle", shuffle)
            drop_last = named.pop("drop_last", drop_last)
            collate_fn = named.pop("collate_fn", collate_fn)
            kwargs.update(named)
        if profile_batches and profile_cprofile:
            raise ValueError("profile_batches and profile_cprofile both install a profiler: enable only one of them")
        if prefetch_factor is not None:
            kwargs["prefetch_factor"] = prefetch_factor
        if drop_last is not None:
            apply_drop_last(dataset, drop_last)
            kwargs["drop_last"] = bool(drop_last)
        if not hasattr(dataset, "set_epoch") or not hasattr(dataset, "resume_from"):
            raise TypeError(
                f"StreamingDataLoader needs a StreamingDataset or CombinedStreamingDataset, got {type(dataset).__name__}"
            )
        if kwargs.get("in_order") is False:
            raise ValueError(
                "in_order=False is not supported: the epoch plan deals batches to workers in turn, and an exact "
                "resume needs them back in that order"
            )
        if kwargs.get("sampler") is not None or kwargs.get("batch_sampler") is not None:
            raise ValueError("a StreamingDataLoader plans its own batches: remove sampler/batch_sampler")
        if shuffle is not None:
            dataset.shuffle = bool(shuffle)
        # A per_stream mixture yields whole batches (lists, of per-dataset sizes): torch then
        # batches nothing and the collate_fn is applied to each list as it comes.
        self._whole_batches = bool(getattr(dataset, "yields_batches", False))
        if isinstance(batch_size, (list, tuple)) and not self._whole_batches:
            raise ValueError(f"batch_size={list(batch_size)!r}: a list of per-dataset batch sizes needs a "
                             "CombinedStreamingDataset(batching_method='per_stream')")
        dataset.set_batch_size(1 if batch_size is None else batch_size)  # None: torch's unbatched items
        dataset.set_num_workers(num_workers)
        if collate_fn is None and batch_size is None and not self._whole_batches:
            collate_fn = default_convert  # as torch: an unbatched item is converted, not collated
        if collate_fn is None and hasattr(dataset, "check_default_collation"):
            dataset.check_default_collation()
        if self._whole_batches:
            kwargs.pop("drop_last", None)  # the mixture's plan applies drop_last to each dataset's batches
        self._profiler = Profiler(profile_batches, profile_dir, profile_skip_batches) if profile_batches else None
        self._cprofiler = CProfiler(profile_dir) if profile_cprofile and DistributedEnv.detect().rank == 0 else None
        worker_profiler = self._profiler or self._cprofiler
        super().__init__(
            dataset,
            batch_size=None if self._whole_batches else batch_size,
            num_workers=num_workers,
            collate_fn=WorkerCollate(
                TracedCollate(collate_fn or default_collate) if self._profiler else (collate_fn or default_collate),
                fast_path := BatchFastPath(),  # the batch fast path, carried into the workers by both
            ),
            worker_init_fn=WorkerSetup(
                fast_path, worker_profiler.worker_init if worker_profiler else None, kwargs.pop("worker_init_fn", None)
            ),
            **kwargs,
        )
        self._fast_path = fast_path
        self.current_epoch = 0
        self._consumed = 0
        self._started = False
        self._finished = False
        self._restored: dict[str, Any] | None = None
        self._started_iterator: Any = None
        if self.persistent_workers and num_workers > 0:  # workers that outlive an epoch read its steering here
            dataset.attach_channel(SteeringChannel(self.multiprocessing_context))

    # torch declares its iterator class; this generator wraps it with the epoch bookkeeping.
    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # a generator around torch's iterator
        dataset = self.dataset
        dataset.set_distributed_env(DistributedEnv.detect())  # workers cannot see the process group
        if self._restored is not None:
            state, self._restored = self._restored, None
            self.current_epoch = state["epoch"]
            if state["finished"]:
                self.current_epoch += 1
            dataset.set_epoch(self.current_epoch)
            if not state["finished"]:
                if "dataset" in state:
                    dataset.load_state_dict(state["dataset"])
                    dataset.resolve_resume()
                else:  # a state of the first release: same topology, checked on load
                    dataset.resume_from(state["batches_consumed"])
                if dataset.batches_left() <= 0:  # saved after the epoch's last batch
                    self.current_epoch += 1
                    dataset.set_epoch(self.current_epoch)
        else:
            if self._started:
                self.current_epoch += 1
            dataset.set_epoch(self.current_epoch)
            dataset.resume_from(0)
        consumed = dataset._current_steering().first_batch
        dataset.publish_steering()
        self._consumed = consumed
        self._started = True
        self._finished = False
        context = self.multiprocessing_context
        start_method = context.get_start_method() if context else mp.get_start_method()
        fast_path = self._fast_path  # the one WorkerCollate and WorkerSetup carry
        if self.num_workers > 0 and start_method == "fork":
            release_free_heap()  # or every worker maps (and counts) the parent's free heap pages
        with fast_path.epoch(self.num_workers, start_method) as arena:  # the workers start (fork) here
            iterator = self._start_workers(start_method)
        widen_result_pipe(iterator)
        read_results_into_reused_buffer(iterator)
        profiler = self._profiler
        if self._cprofiler is not None:  # after the workers forked: they do not inherit it
            self._cprofiler.start_epoch()
        piped = self.num_workers > 0
        try:
            for batch in iterator:
                if piped:
                    batch = restore_tensors(batch, arena)
                self._consumed += 1
                if profiler is not None:
                    profiler.batch_done(self._consumed)
                yield batch
            self._finished = True
            # A resume point is used up: len(loader) asked before the next iteration
            # (list(loader) does) counts a whole epoch, not the rest of this one.
            dataset.epoch_finished()
            if profiler is not None:
                profiler.epoch_done()
        finally:
            if self._cprofiler is not None:
                self._cprofiler.end_epoch()
            if not self.persistent_workers:  # persistent workers stay for the next epoch
                _end_worker_threads(iterator)

    def _start_workers(self, start_method: str) -> Any:
        """torch's iterator for this epoch, its forked workers all started (see
        :mod:`litdata_stream.worker_start`): a worker stuck in its fork is replaced."""
        setup: WorkerSetup = self.worker_init_fn  # type: ignore[assignment]  # set in __init__
        for attempt in range(1, ATTEMPTS + 1):
            watch = self.num_workers > 0 and start_method == "fork"
            setup.starts = starts = WorkerStarts(self.num_workers) if watch else None
            iterator = super().__iter__()
            if starts is None or iterator is self._started_iterator:  # persistent workers started earlier
                break
            workers = worker_processes(iterator)
            timeout = start_timeout()
            stuck = starts.wait(workers, timeout)
            if not stuck:
                break
            _end_worker_threads(iterator)  # torch stops (and at last terminates) every worker
            kill_workers(workers, stuck)
            forget_persistent_iterator(self)
            what = f"DataLoader worker(s) {stuck} did not start within {timeout:g}s ({START_TIMEOUT_ENV})"
            if attempt == ATTEMPTS:
                raise RuntimeError(f"{what}, {ATTEMPTS} times in a row: a forked worker is stuck before running "
                                   "any Python code. Try multiprocessing_context='forkserver' or 'spawn'.")
            warnings.warn(f"{what}: stuck in the fork (a CPython bug, gh-112275, fixed in 3.11.10 and 3.12.6); "
                          "forking the epoch's workers again", RuntimeWarning, stacklevel=3)
        self._started_iterator = iterator
        return iterator

    def __len__(self) -> int:
        if self._whole_batches:  # torch would count the samples of len(dataset)
            length: int = self.dataset.loader_len()
            return length
        return super().__len__()

    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands, as plain Python (``torch.save`` stores it).

        The loader's own counters plus its dataset's state (which nests the states of
        mixed datasets): enough, from any one rank, to resume every rank of another
        world size, batch size or number of workers. Before the next iteration after
        :meth:`load_state_dict`, it returns the loaded state unchanged.

        Returns:
            A dict of plain values: ``version``, ``epoch``, ``batches_consumed``,
            ``finished``, the topology it was saved on (``batch_size``, ``num_workers``,
            ``world_size``, ``rank``), ``seed``, ``shuffle`` and the dataset's own state
            under ``dataset``.
        """
        env = DistributedEnv.detect()
        dataset = self.dataset
        if self._restored is not None:  # loaded and not iterated yet: hand the same state on
            return dict(self._restored)
        dataset.resume_from(self._consumed)  # the dataset's state counts what this loader consumed
        return {
            "version": STATE_VERSION,
            "epoch": self.current_epoch,
            "batches_consumed": self._consumed,
            "finished": self._finished,
            "batch_size": dataset.batch_size if self._whole_batches else self.batch_size,
            "num_workers": self.num_workers,
            "world_size": env.world_size,
            "rank": env.rank,
            "seed": getattr(dataset, "seed", None),
            "shuffle": getattr(dataset, "shuffle", None),
            "dataset": dataset.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` on the next iteration.

        States of this release resume on any topology; states of the first release resume
        on the same topology. A state saved by LitData's own ``StreamingDataLoader``
        resumes too (see :mod:`litdata_stream.litdata_state`). The state is checked
        against the dataset now, so a wrong one fails here rather than at the next epoch.

        Args:
            state: a dict returned by :meth:`state_dict` (or by LitData's loader).

        Raises:
            ValueError: if the state has an unknown version, or was saved with another
                seed, shuffle or dataset (unless the dataset has
                ``force_override_state_dict``), or, for a first-release state, on another
                batch size or world size.
        """
        if is_litdata_state(state):
            state = from_litdata_state(self, state, STATE_VERSION)
        version = state.get("version") if isinstance(state, dict) else None
        if version not in (1, STATE_VERSION):
            raise ValueError(f"unknown StreamingDataLoader state version {version!r}")
        if version == 1:
            env = DistributedEnv.detect()
            for key, now in (("batch_size", self.batch_size), ("world_size", env.world_size)):
                if state[key] != now:
                    raise ValueError(
                        f"cannot resume: the state was saved with {key}={state[key]}, this loader has {key}={now} "
                        "(states of the first release resume only on the same topology)"
                    )
        overriding = getattr(self.dataset, "force_override_state_dict", False)  # the dataset's state is checked
        for key in ("seed", "shuffle"):
            if state.get(key) is not None and state[key] != getattr(self.dataset, key, None) and not overriding:
                raise ValueError(
                    f"cannot resume: the state was saved with {key}={state[key]!r}, "
                    f"the dataset has {key}={getattr(self.dataset, key, None)!r}"
                )
        if "dataset" in state and not state["finished"]:
            self.dataset.check_state(state["dataset"])  # a wrong dataset fails here, not at the next epoch
        self._restored = dict(state)
        self.current_epoch = state["epoch"]
        self._consumed = state["batches_consumed"]
        self._finished = state["finished"]
        self._started = True
