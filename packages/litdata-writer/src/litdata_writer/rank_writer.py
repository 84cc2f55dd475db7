"""One writer rank's work inside its worker process: run ``fn``, write chunks, checkpoint.

The rank owns a fixed list of tasks. It encodes every item ``fn`` returns or yields with
a :class:`litdata_format.ChunkWriter`; each chunk that closes is stored (in place, or
queued for upload) and followed by a checkpoint (see ``resume``). At the end the rank
writes its partial index ``{rank}.index.json``, which is how node 0 learns it is done.
"""

from __future__ import annotations

import inspect
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from litdata_format import ChunkInfo, ChunkWriter, Index, IndexConfig
from litdata_storage import Store

from .keys import RankKeys
from .modes import config_differences, mismatch_error
from .names import checkpoint_key, partial_index_key
from .output import local_folder, open_output
from .partition import Task
from .resume import Checkpoint, fingerprint, load_checkpoint
from .uploader import Uploader, UploadError
from .work_queue import QueuedTasks
from .worker_processes import Reporter


@dataclass
class RankJob:
    """What one ``optimize`` writer rank runs in its worker: its tasks, ``fn`` and the write settings.

    ``first_chunk`` numbers the rank's first new chunk (after its old ones when appending),
    ``settings`` goes into its fingerprint and ``old_config`` is the config an append must match.
    """

    rank: int
    tasks: list[Task] | QueuedTasks  # the rank's own tasks, or its node's shared queue
    fn: Callable[[Any], Any]
    output_url: str
    storage_options: dict[str, Any]
    staging_root: str | None
    chunk_bytes: int | None
    chunk_size: int | None
    compression: str | None
    item_loader: str
    first_chunk: int
    settings: dict[str, Any]
    old_config: IndexConfig | None = None
    resume: bool = True
    max_pending_uploads: int = 2
    checkpoint_interval: float = 1.0
    compression_level: str | None = None
    compression_batch_size: int | None = None
    key_fn: Callable[[Any], Any] | None = None
    encryption: Any = None
    # The parent's fingerprint for this rank (work_setup): needed when ``tasks`` is the
    # node's shared work queue, whose tasks are not known in advance (resume is off then).
    # Computed from ``tasks`` when None.
    fingerprint: str | None = None
    prepare_tasks: Callable[[Iterable[Task]], Iterable[Task]] | None = None


def rank_fingerprint(settings: dict[str, Any], rank: int, first_chunk: int, tasks: list[Task]) -> str:
    """The fingerprint of one rank's work, which tags its checkpoints and its partial index."""
    return fingerprint(
        {**settings, "rank": rank, "first_chunk": first_chunk}, ((t.positions, t.argument) for t in tasks)
    )


def iterate_items(result: Any) -> Iterator[Any]:
    """The items of one ``fn`` call: a generator's items, or the single returned value.

    ``None`` (returned or yielded) means "nothing to store for this input".
    """
    if inspect.isgenerator(result):
        for item in result:
            if item is not None:
                yield item
    elif result is not None:
        yield result


def _task_list(job: RankJob) -> list[Task]:
    """The rank's own tasks (a shared queue carries its fingerprint and is never resumed)."""
    if not isinstance(job.tasks, list):
        raise RuntimeError(f"rank {job.rank} takes its tasks from a shared queue: they cannot be counted")
    return job.tasks


def _job_fingerprint(job: RankJob) -> str:
    return job.fingerprint or rank_fingerprint(job.settings, job.rank, job.first_chunk, _task_list(job))


def stored_progress(store: Store, job: RankJob) -> tuple[int, int]:
    """Inputs and items of ``job`` an earlier run already stored, per its checkpoint.

    The parent asks this before starting the workers, so that the progress of a resumed
    run starts from them and says so once for the whole node; the rank itself then only
    reports what it does now.
    """
    checkpoint = load_checkpoint(store, job.rank, _job_fingerprint(job)) if job.resume else None
    if checkpoint is None or not checkpoint.tasks_done:
        return 0, 0
    inputs = sum(len(t.positions) for t in _task_list(job)[: checkpoint.tasks_done])
    return inputs, sum(c.chunk_size for c in checkpoint.chunks)


def write_rank(job: RankJob, reporter: Reporter) -> None:
    """Worker body of ``optimize``: write one rank's chunks, checkpoints and partial index.

    It resumes from the rank's checkpoint when that matches this run. For a cloud output the
    chunks are staged and uploaded in order, each checkpoint after the chunks it lists.
    """
    store = open_output(job.output_url, job.storage_options)
    folder = local_folder(store)
    staging = None
    if folder is None:
        assert job.staging_root is not None
        staging = folder = os.path.join(job.staging_root, f"rank-{job.rank}")
        os.makedirs(staging, exist_ok=True)
    uploader = None if staging is None else Uploader(store, job.max_pending_uploads)

    fp = _job_fingerprint(job)
    checkpoint = load_checkpoint(store, job.rank, fp) if job.resume else None
    start_task = checkpoint.tasks_done if checkpoint else 0
    skip_items = checkpoint.items_skip if checkpoint else 0
    prior_chunks: list[ChunkInfo] = list(checkpoint.chunks) if checkpoint else []
    prior_config = checkpoint.config if checkpoint else None
    next_chunk = checkpoint.next_chunk if checkpoint else job.first_chunk
    # What the checkpoint covers is already counted by the parent (stored_progress).

    state = {"task": start_task, "items": 0}
    last_saved = [float("-inf")]

    def save_checkpoint(writer: ChunkWriter) -> None:
        last_saved[0] = time.monotonic()
        data = Checkpoint(
            fingerprint=fp,
            tasks_done=state["task"],
            items_skip=state["items"],
            next_chunk=next_chunk + len(writer.chunks),
            chunks=prior_chunks + writer.chunks,
            config=writer.config() or prior_config,
        ).to_json()
        if uploader is None:
            store.put(checkpoint_key(job.rank), data)
        else:
            uploader.put(checkpoint_key(job.rank), data)

    def on_chunk(path: str, info: ChunkInfo) -> None:
        if uploader is not None:
            uploader.upload_file(info.filename, path)
        # At most one checkpoint per interval: each one lists every chunk so far, so
        # writing one per chunk would cost O(chunks^2) on runs with many small chunks.
        if time.monotonic() - last_saved[0] >= job.checkpoint_interval:
            save_checkpoint(writer)

    writer = ChunkWriter(
        folder,
        chunk_bytes=job.chunk_bytes,
        chunk_size=job.chunk_size,
        compression=job.compression,
        compression_level=job.compression_level,
        compression_batch_size=job.compression_batch_size,
        item_loader=job.item_loader,
        rank=job.rank,
        start_chunk_index=next_chunk,
        on_chunk=on_chunk,
        encryption=job.encryption,
    )
    keys = None if job.key_fn is None else RankKeys(job.key_fn)
    if keys is not None:
        keys.add_stored(store, prior_chunks, prior_config, job.encryption)  # a resumed rank's earlier items
    try:
        _run_tasks(job, writer, reporter, state, start_task, skip_items, uploader, store.url(), keys)
    except UploadError:
        reporter.end()  # an upload failed: not the fault of the input being processed
        raise
    reporter.end()
    state["task"], state["items"] = state["done"], 0
    writer.flush()
    save_checkpoint(writer)  # also when the last flush had nothing to write
    partial = Index(
        chunks=prior_chunks + writer.chunks,
        config=writer.config() or prior_config,
        extra={"fingerprint": fp, **(keys.partial_extra() if keys is not None else {})},
    )
    data = partial.to_json().encode()
    if uploader is None:
        store.put(partial_index_key(job.rank), data)
    else:
        uploader.put(partial_index_key(job.rank), data)
        uploader.close()
        assert staging is not None  # an uploader sends what was staged
        shutil.rmtree(staging, ignore_errors=True)
    reporter.progress(force=True)


def _run_tasks(
    job: RankJob,
    writer: ChunkWriter,
    reporter: Reporter,
    state: dict[str, int],
    start_task: int,
    skip_items: int,
    uploader: Uploader | None,
    url: str,
    keys: RankKeys | None = None,
) -> None:
    """Call ``fn`` on each remaining task and add its items; keep ``state`` current for checkpoints."""
    config_checked = job.old_config is None
    state["done"] = start_task
    remaining: Iterable[Task] = _task_list(job)[start_task:] if start_task else job.tasks  # a queue: as they come
    if job.prepare_tasks is not None:  # e.g. fetch remote input files ahead (input_files)
        remaining = job.prepare_tasks(remaining)
    for number, task in enumerate(remaining, start_task):
        state["task"], state["items"] = number, 0
        skip = skip_items if number == start_task else 0
        reporter.begin(task.positions, task.argument)
        count = 0
        for item in iterate_items(job.fn(task.argument)):
            if count >= skip:
                if keys is not None:
                    keys.add(item)
                writer.add(item)
                reporter.progress(items=1)
                if not config_checked:
                    _check_append_config(job, writer, url)
                    config_checked = True
            count += 1
            state["items"] = count
        reporter.progress(inputs=len(task.positions))
        state["done"] = number + 1
        if uploader is not None:
            uploader.raise_if_failed()


def _check_append_config(job: RankJob, writer: ChunkWriter, url: str) -> None:
    new = writer.config()
    if new is None or job.old_config is None:
        return
    differences = config_differences(job.old_config, new, ("data_format", "data_spec", "item_loader"))
    if differences:
        raise mismatch_error(url, differences)
