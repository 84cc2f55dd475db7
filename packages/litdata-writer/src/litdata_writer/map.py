"""``map()``: run ``fn(input, output_dir)`` over many inputs in parallel worker processes.

``fn`` writes whatever files it likes under the folder it is given. For a local output
that folder is the output itself. For a cloud output it is a private staging folder of
the worker: after each call returns, the files that call wrote are moved aside and
queued for upload (keeping their relative paths), so they reach the store while the
next inputs are processed, and the staging disk holds only what is still uploading.
"""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from litdata_format import DatasetExistsError

from .output import local_folder, make_staging_root, open_output, remove_staging_root
from .partition import Task
from .platform_args import check_platform_args
from .progress import Progress
from .ray_executor import check_static, cluster_shape, run_ray_jobs, wants_ray
from .uploader import Uploader
from .work_queue import QueuedTasks
from .work_setup import plan_work
from .worker_processes import Job, Reporter, run_workers


@dataclass
class MapJob:
    """What one ``map`` writer rank runs in its worker: its tasks, ``fn`` and where the files go.

    ``staging_root`` is None for a local output (``fn`` writes in place); ``pass_is_last`` and
    ``pass_device`` say which extra keyword arguments ``fn``'s signature asks for.
    """

    rank: int
    tasks: list[Task] | QueuedTasks
    fn: Callable[[Any, str], Any]
    output_url: str
    storage_options: dict[str, Any]
    staging_root: str | None
    max_pending_uploads: int = 4
    pass_is_last: bool = False
    pass_device: bool = False
    prepare_tasks: Callable[[Iterable[Task]], Iterable[Task]] | None = None


def extra_parameters(fn: Callable[..., Any]) -> tuple[bool, bool]:
    """Whether ``fn`` takes ``is_last`` / ``device``: LitData passes them only then, by name."""
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else getattr(fn, "__call__", fn)  # noqa: B004
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False, False
    return "is_last" in params, "device" in params


def _device_for(rank: int) -> str | None:
    """``cuda:{rank % gpus}`` when torch sees GPUs (as LitData), else None."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return f"cuda:{rank % torch.cuda.device_count()}"


def _collect(staging: str, outbox: str, counter: itertools.count[int]) -> list[tuple[str, str]]:
    """Move every file under ``staging`` into ``outbox``; return (key, moved path) pairs."""
    moved = []
    for dirpath, _dirs, files in os.walk(staging):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            key = os.path.relpath(path, staging).replace(os.sep, "/")
            target = os.path.join(outbox, f"{next(counter)}")
            os.replace(path, target)
            moved.append((key, target))
    return moved


def map_rank(job: MapJob, reporter: Reporter) -> None:
    """Worker body of ``map``: call ``fn`` on each task of the rank and deliver the files it writes.

    For a cloud output ``fn`` writes into a staging folder; after each call its files are
    moved to an outbox and queued for upload under their relative paths.
    """
    store = open_output(job.output_url, job.storage_options)
    folder = local_folder(store)
    uploader = None
    staging = outbox = None
    if folder is None:
        assert job.staging_root is not None
        staging = os.path.join(job.staging_root, f"rank-{job.rank}", "output")
        outbox = os.path.join(job.staging_root, f"rank-{job.rank}", "outbox")
        os.makedirs(staging, exist_ok=True)
        os.makedirs(outbox, exist_ok=True)
        uploader = Uploader(store, job.max_pending_uploads)
        folder = staging
    else:
        os.makedirs(folder, exist_ok=True)
    counter = itertools.count()
    # is_last: the last input of this worker's static slice; with the shared queue a
    # worker never knows, so it is always False there (as in LitData).
    last = len(job.tasks) - 1 if isinstance(job.tasks, list) else -1
    kwargs: dict[str, Any] = {}
    if job.pass_device:
        kwargs["device"] = _device_for(job.rank)
    tasks: Iterable[Task] = job.tasks if job.prepare_tasks is None else job.prepare_tasks(job.tasks)
    for number, task in enumerate(tasks):
        reporter.begin(task.positions, task.argument)
        if job.pass_is_last:
            kwargs["is_last"] = number == last
        job.fn(task.argument, folder, **kwargs)
        if uploader is not None:
            assert staging is not None and outbox is not None
            for key, path in _collect(staging, outbox, counter):
                uploader.upload_file(key, path)
        reporter.progress(inputs=len(task.positions))
    reporter.end()
    if uploader is not None:
        uploader.close()


def map(  # noqa: A001 - LitData's name
    fn: Callable[..., Any],
    inputs: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    input_dir: str | os.PathLike[str] | None = None,
    weights: list[int] | None = None,
    num_workers: int | None = None,
    fast_dev_run: bool | int = False,
    num_nodes: int | None = None,
    machine: Any = None,
    num_downloaders: int | None = None,
    num_uploaders: int | None = None,
    reorder_files: bool = True,
    error_when_not_empty: bool = False,
    reader: Any = None,
    batch_size: int | None = None,
    start_method: str | None = None,
    optimize_dns: bool | None = None,
    storage_options: dict[str, Any] | None = None,
    keep_data_ordered: bool | None = None,
    broadcast_paths: bool = False,
    verbose: bool = True,
    max_pending_uploads: int = 4,
    executor: str | None = None,
) -> None:
    """Call ``fn(input, output_dir)`` for every input (``fn(batch, output_dir)`` with ``batch_size``).

    Files ``fn`` writes under the folder it receives end up under ``output_dir`` (a local
    path, ``local:``, ``s3://``, ``gs://`` or ``azure://``) with the same relative paths.
    ``error_when_not_empty`` refuses an output that already holds files (local outputs
    too; LitData checks only cloud ones), with a ``DatasetExistsError`` that is also the
    ``RuntimeError`` LitData raises. Workers, nodes, progress and errors behave as in
    :func:`optimize`.

    As in LitData, ``fn`` also receives ``is_last=`` when its signature names it (True
    for the last input of the worker's slice; always False with
    ``keep_data_ordered=False``, where a worker cannot know), and ``device=`` when it
    names that (``"cuda:{rank % gpus}"`` when torch sees GPUs, else None). ``inputs`` may
    be a data loader (each batch one input); ``reader``, ``weights``, ``input_dir`` /
    ``num_downloaders``, ``keep_data_ordered`` and the platform-only arguments mean what
    they mean for :func:`optimize`. Here ``keep_data_ordered=None`` is the static plan
    (LitData: the shared queue); map never resumes, so the queue is only a choice of
    balance. ``executor="ray"`` runs the writer ranks as Ray tasks, as for :func:`optimize`
    (a rank whose node dies runs its whole share again: ``fn`` should name its files
    by input, so the rerun overwrites rather than adds).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    check_platform_args(
        machine=machine, optimize_dns=optimize_dns, broadcast_paths=broadcast_paths, num_uploaders=num_uploaders
    )
    options = dict(storage_options or {})
    shape = cluster_shape(num_nodes, num_workers) if wants_ray(executor) else None
    work = plan_work(
        fn,
        inputs,
        None,
        input_dir=None if input_dir is None else os.fspath(input_dir),
        weights=weights,
        reader=reader,
        batch_size=batch_size,
        num_workers=num_workers if shape is None else shape.world_size,  # Ray: the driver plans every rank
        num_nodes=num_nodes if shape is None else 1,
        fast_dev_run=fast_dev_run,
        reorder_files=reorder_files,
        keep_data_ordered=keep_data_ordered,
        use_checkpoint=False,
        resume=False,
        align_chunking=False,
        chunk_size=None,
        num_downloaders=num_downloaders,
        storage_options=options,
        allow_queue=False,
        skip_none_reads=False,
    )
    if shape is not None:
        check_static(work.ordering.ordered)
    plan = work.plan
    pass_is_last, pass_device = extra_parameters(fn)
    store = open_output(output_dir, options)
    if error_when_not_empty and next(iter(store.list()), None) is not None:
        raise DatasetExistsError(
            f"{store.url()} is not empty (error_when_not_empty=True): choose an empty output_dir"
        )
    staging_root = None if local_folder(store) is not None else make_staging_root("map")
    jobs = [
        Job(
            rank=rank,
            body=map_rank,
            payload=MapJob(
                rank=rank,
                tasks=work.rank_tasks(rank),
                fn=work.fn,
                output_url=os.fspath(output_dir),
                storage_options=options,
                staging_root=staging_root,
                max_pending_uploads=max_pending_uploads,
                pass_is_last=pass_is_last,
                pass_device=pass_device,
                prepare_tasks=work.prepare_tasks,
            ),
        )
        for rank in plan.busy_ranks(plan.node_ranks)
    ]
    desc = "map" if plan.node.num_nodes == 1 else f"map (node {plan.node.node_rank}/{plan.node.num_nodes})"
    if shape is not None:
        desc = f"map (ray: {shape.num_nodes} x {shape.workers_per_node})"
    try:
        if shape is not None:
            run_ray_jobs(
                jobs,
                shape=shape,
                make_progress=lambda: Progress(plan.node_input_count(), desc=desc, verbose=verbose),
                what="map",
            )
        else:
            run_workers(
                jobs,
                start_method=start_method,
                make_progress=lambda: Progress(plan.node_input_count(), desc=desc, verbose=verbose),
                what="map",
                feeder=work.feeder(),
            )
    finally:
        remove_staging_root(staging_root)
