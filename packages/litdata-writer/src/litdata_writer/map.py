"""``map()``: run ``fn(input, output_dir)`` over many inputs in parallel worker processes.

``fn`` writes whatever files it likes under the folder it is given. For a local output
that folder is the output itself. For a cloud output it is a private staging folder of
the worker: after each call returns, the files that call wrote are moved aside and
queued for upload (keeping their relative paths), so they reach the store while the
next inputs are processed, and the staging disk holds only what is still uploading.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .output import local_folder, make_staging_root, open_output, remove_staging_root
from .partition import Task
from .plan import make_plan
from .progress import Progress
from .uploader import Uploader
from .workers import Job, Reporter, run_workers


@dataclass
class MapJob:
    rank: int
    tasks: list[Task]
    fn: Callable[[Any, str], Any]
    output_url: str
    storage_options: dict[str, Any]
    staging_root: str | None
    max_pending_uploads: int = 4


def _collect(staging: str, outbox: str, counter: itertools.count) -> list[tuple[str, str]]:
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
    for task in job.tasks:
        reporter.begin(task.positions, task.argument)
        job.fn(task.argument, folder)
        if uploader is not None:
            assert staging is not None and outbox is not None
            for key, path in _collect(staging, outbox, counter):
                uploader.upload_file(key, path)
        reporter.progress(inputs=len(task.positions))
    reporter.end()
    if uploader is not None:
        uploader.close()


def map(  # noqa: A001 - LitData's name
    fn: Callable[[Any, str], Any],
    inputs: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    num_workers: int | None = None,
    fast_dev_run: bool | int = False,
    num_nodes: int | None = None,
    machine: Any = None,
    reorder_files: bool = True,
    batch_size: int | None = None,
    error_when_not_empty: bool = False,
    start_method: str | None = None,
    storage_options: dict[str, Any] | None = None,
    verbose: bool = True,
    max_pending_uploads: int = 4,
) -> None:
    """Call ``fn(input, output_dir)`` for every input (``fn(batch, output_dir)`` with ``batch_size``).

    Files ``fn`` writes under the folder it receives end up under ``output_dir`` (a local
    path, ``local:``, ``s3://``, ``gs://`` or ``azure://``) with the same relative paths.
    ``error_when_not_empty`` refuses an output that already holds files. Workers, nodes,
    progress and errors behave as in :func:`optimize`.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if machine is not None:
        raise ValueError(
            "machine= needs the Lightning platform; run this call on each node with NODE_RANK set"
        )
    plan = make_plan(
        inputs,
        num_workers=num_workers,
        num_nodes=num_nodes,
        batch_size=batch_size,
        fast_dev_run=fast_dev_run,
        reorder_files=reorder_files,
    )
    options = dict(storage_options or {})
    store = open_output(output_dir, options)
    if error_when_not_empty and next(iter(store.list()), None) is not None:
        raise FileExistsError(
            f"{store.url()} is not empty (error_when_not_empty=True): choose an empty output_dir"
        )
    staging_root = None if local_folder(store) is not None else make_staging_root("map")
    jobs = [
        Job(
            rank=rank,
            body=map_rank,
            payload=MapJob(
                rank=rank,
                tasks=plan.rank_tasks(rank),
                fn=fn,
                output_url=os.fspath(output_dir),
                storage_options=options,
                staging_root=staging_root,
                max_pending_uploads=max_pending_uploads,
            ),
        )
        for rank in plan.busy_ranks(plan.node_ranks)
    ]
    desc = "map" if plan.node.num_nodes == 1 else f"map (node {plan.node.node_rank}/{plan.node.num_nodes})"
    try:
        run_workers(
            jobs,
            start_method=start_method,
            make_progress=lambda: Progress(plan.node_input_count(), desc=desc, verbose=verbose),
            what="map",
        )
    finally:
        remove_staging_root(staging_root)
