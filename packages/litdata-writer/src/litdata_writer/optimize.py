"""``optimize()``: turn any inputs into a LitData dataset, in parallel, on any storage.

The parent plans (``plan``), applies the mode to the output (``modes``), starts one
process per writer rank of this node (``workers`` running ``rank_writer``) and shows
progress. Then node 0 waits for every node's partial indexes and merges them into
``index.json`` (``merge``); the other nodes are done once their own share is stored.
"""

from __future__ import annotations

import multiprocessing.queues
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from litdata_format import Encryption, Index

from . import __version__
from .empty_output import nothing_stored, publish_empty
from .encryption_settings import append_differences, check_encryption, fingerprint_entry
from .keys import check_key_fn
from .merge import (
    clean_up,
    clear_node_failure,
    discard_run,
    merge_and_publish,
    report_node_failure,
    wait_for_partials,
)
from .modes import ConfigMismatchError, check_mode, mismatch_error, prepare_output
from .output import local_folder, make_staging_root, open_output, remove_staging_root
from .output_lock import hold_output, releases_outputs, run_key
from .platform_args import check_platform_args
from .progress import Progress
from .rank_writer import RankJob, stored_progress, write_rank
from .ray_executor import check_static, cluster_shape, run_ray_jobs, wants_ray
from .resume import checkpoint_interval, fingerprint
from .settings import resolve_settings
from .work_setup import plan_work
from .worker_processes import Job, run_workers


def _fn_name(fn: Callable[..., Any]) -> str:
    target = getattr(fn, "func", fn)  # functools.partial
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__name__)}"


@releases_outputs  # the output lock taken by hold_output() below
def optimize(
    fn: Callable[[Any], Any],
    inputs: Iterable[Any] | None = None,
    output_dir: str | os.PathLike[str] = "optimized_data",
    queue: multiprocessing.queues.Queue[Any] | None = None,
    *,
    chunk_size: int | None = None,
    chunk_bytes: int | str | None = None,
    compression: str | None = None,
    compression_level: str | None = None,
    compression_batch_size: int | None = None,
    num_workers: int | None = None,
    fast_dev_run: bool | int = False,
    num_nodes: int | None = None,
    machine: Any = None,
    reorder_files: bool = True,
    batch_size: int | None = None,
    mode: str | None = None,
    item_loader: Any = None,
    start_method: str | None = None,
    storage_options: dict[str, Any] | None = None,
    verbose: bool = True,
    resume: bool = True,
    max_pending_uploads: int = 2,
    encryption: Encryption | None = None,
    key_fn: Callable[[Any], Any] | None = None,
    input_dir: str | None = None,
    weights: list[int] | None = None,
    align_chunking: bool = False,
    num_downloaders: int | None = None,
    num_uploaders: int | None = None,
    reader: Any = None,
    use_checkpoint: bool = False,
    optimize_dns: bool | None = None,
    keep_data_ordered: bool | None = None,
    broadcast_paths: bool = False,
    executor: str | None = None,
) -> Index | None:
    """Apply ``fn`` to every input and store what it returns (or yields) as chunks.

    ``fn(input)`` (or ``fn(batch)`` with ``batch_size``) returns one item, ``None`` to
    skip the input, or is a generator that yields any number of items. Items of any type
    the format serializes work; all items must share one structure.

    ``output_dir``: a local path, ``local:/shared/drive``, ``s3://``, ``gs://`` or
    ``azure://`` (credentials and endpoints through ``storage_options``). Chunks close at
    ``chunk_bytes`` (default "64MB") or after ``chunk_size`` items (tokens for
    ``item_loader="TokensLoader"``). ``mode``: None refuses an existing dataset,
    "overwrite" replaces it, "append" adds after it (same config required).

    ``compression``: None, ``"zstd"`` (level 4) or ``"zstd:N"``. ``compression_level``
    says how much data one zstd frame holds: ``"batch"`` (the default with a compression)
    writes framed ``.bin`` chunks with ``compression_batch_size`` items per frame (default
    256), ``"chunk"`` whole-chunk ``.zstd.bin`` files, ``"sample"`` one frame per item.
    ``TokensLoader`` datasets need ``"chunk"``.

    Work is split over ``num_workers`` processes (default: CPU count) on each of
    ``num_nodes`` machines (default: ``NUM_NODES`` / ``DATA_OPTIMIZER_NUM_NODES`` from the
    environment, else 1; each node reads its rank from ``NODE_RANK``). A rerun after a
    crash resumes from the chunks already stored (``resume=False`` starts over).

    ``key_fn(item)`` -> str or int: also write the keys sidecar (``keys/shard-*.parquet``,
    LitData's layout) so that ``StreamingDataset(...)[key]`` finds the item; keys must be
    unique (a duplicate fails the run and publishes nothing). Needs pyarrow
    (``litdata-writer[keys]``).

    ``encryption``: a ``FernetEncryption`` / ``RSAEncryption`` (``litdata[encryption]``)
    whose ``level`` says what is encrypted: each item (``"sample"``) or each chunk file
    (``"chunk"``). The index records only the algorithm and level; keep the object, or its
    ``save()``d key file, to read the dataset. Not with ``TokensLoader`` or in-file zstd
    (``compression_level`` ``"batch"`` / ``"sample"``), as in LitData.

    Inputs (LitData's positions: ``optimize(fn, inputs, output_dir, queue)``): a list or
    any finite iterable; ``queue=`` a ``multiprocessing.Queue`` read until a ``None``; or a
    data loader (``StreamingDataLoader``, torch ``DataLoader``), each batch one input.
    ``reader`` (LitData's ``BaseReader``: ``remap_items`` then ``read`` before ``fn``),
    ``weights`` (one per input: balances the workers by weight; LitData 0.2.76's optimize
    accepts but ignores them), ``input_dir`` (remote: the files inputs name under it are
    downloaded ahead, in ``num_downloaders`` threads, and ``fn`` gets local paths),
    ``keep_data_ordered`` (None/True: static slices in input order, resumable; False: one
    shared work queue per node), ``align_chunking`` (needs ``chunk_size``: chunk
    boundaries as one worker would write them), ``use_checkpoint`` (LitData's name for
    ``resume``; True forces it on): see ``work_setup`` and ``ordering`` for the rules.
    ``machine``, ``optimize_dns``, ``broadcast_paths``, ``num_uploaders`` only act on the
    Lightning platform: accepted, with one warning (``platform_args``). Without
    ``chunk_size`` and ``chunk_bytes`` chunks close at 64MB (LitData raises ValueError);
    ``batch_size=1`` means no batching, as in LitData.

    ``executor="ray"`` (not in LitData; needs ``litdata-writer[ray]``): the driver, connected
    to a Ray cluster (``ray.init()`` with ``RAY_ADDRESS``, or one the caller initialized),
    runs each writer rank as a Ray task, ``num_workers`` per bundle of a placement group of
    ``num_nodes`` bundles (defaults: the cluster's CPU nodes, and the CPUs of the smallest),
    retries tasks whose node dies, and merges and publishes ``index.json`` itself. Needs a
    list of inputs with the static plan (see ``ray_executor``).

    A run where ``fn`` stores nothing writes LitData's empty ``index.json`` (no chunks,
    ``config: null``). Returns the merged index on node 0, None on the other nodes
    (LitData always returns None; code that ignores the result is unaffected).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    check_platform_args(
        machine=machine, optimize_dns=optimize_dns, broadcast_paths=broadcast_paths, num_uploaders=num_uploaders
    )
    check_mode(mode)
    settings = resolve_settings(
        chunk_bytes, chunk_size, compression, item_loader, compression_level, compression_batch_size
    )
    check_key_fn(key_fn, settings.item_loader)
    encryption = check_encryption(encryption, settings)
    options = dict(storage_options or {})
    shape = cluster_shape(num_nodes, num_workers) if wants_ray(executor) else None
    work = plan_work(
        fn,
        inputs,
        queue,
        input_dir=input_dir,
        weights=weights,
        reader=reader,
        batch_size=batch_size,
        num_workers=num_workers if shape is None else shape.world_size,  # Ray: the driver plans every rank
        num_nodes=num_nodes if shape is None else 1,
        fast_dev_run=fast_dev_run,
        reorder_files=reorder_files,
        keep_data_ordered=keep_data_ordered,
        use_checkpoint=use_checkpoint,
        resume=resume,
        align_chunking=align_chunking,
        chunk_size=settings.chunk_size,
        num_downloaders=num_downloaders,
        storage_options=options,
    )
    if shape is not None:
        check_static(work.ordering.ordered)
    plan = work.plan
    store = open_output(output_dir, options)
    node = plan.node
    hold_output(store, node, run_key(plan, _fn_name(fn), mode, settings), verbose)  # one run at a time
    prepared = prepare_output(
        store,
        mode,
        settings=settings.as_config(),
        node_rank=node.node_rank,
        node_ranks=plan.node_ranks,
        world_size=plan.world_size,
    )
    if node.num_nodes > 1:
        clear_node_failure(store, node.node_rank)
    fingerprint_settings = {
        "writer": __version__,
        "fn": _fn_name(fn),
        "chunk_bytes": settings.chunk_bytes,
        "chunk_size": settings.chunk_size,
        "compression": settings.compression,
        "compression_level": settings.compression_level,
        "compression_batch_size": settings.compression_batch_size,
        "item_loader": settings.item_loader,
        "batch_size": batch_size,
        "world_size": plan.world_size,
        **fingerprint_entry(encryption),
    }
    interval = checkpoint_interval()
    old_config = prepared.old_index.config if prepared.old_index is not None else None
    if append_differences(old_config, encryption):
        raise mismatch_error(store.url(), append_differences(old_config, encryption))
    staging_root = None if local_folder(store) is not None else make_staging_root("optimize")
    jobs = [
        Job(
            rank=rank,
            body=write_rank,
            payload=RankJob(
                rank=rank,
                tasks=work.rank_tasks(rank),
                fn=work.fn,
                output_url=os.fspath(output_dir),
                storage_options=options,
                staging_root=staging_root,
                chunk_bytes=settings.chunk_bytes,
                chunk_size=settings.chunk_size,
                compression=settings.compression,
                compression_level=settings.compression_level,
                compression_batch_size=settings.compression_batch_size,
                item_loader=settings.item_loader,
                first_chunk=prepared.first_chunk_of(rank),
                settings=fingerprint_settings,
                old_config=old_config,
                resume=work.ordering.resume,
                max_pending_uploads=max_pending_uploads,
                checkpoint_interval=interval,
                key_fn=key_fn,
                encryption=encryption,
                fingerprint=work.fingerprint(fingerprint_settings, rank, prepared.first_chunk_of(rank)),
                prepare_tasks=work.prepare_tasks,
            ),
        )
        for rank in plan.busy_ranks(plan.node_ranks)
    ]
    desc = "optimize" if node.num_nodes == 1 else f"optimize (node {node.node_rank}/{node.num_nodes})"
    if shape is not None:
        desc = f"optimize (ray: {shape.num_nodes} x {shape.workers_per_node})"
    stored = [stored_progress(store, job.payload) for job in jobs]  # what an earlier run left: resume

    def make_progress() -> Progress:
        initial, initial_items = sum(s[0] for s in stored), sum(s[1] for s in stored)
        total = plan.node_input_count()
        return Progress(total, desc=desc, verbose=verbose, initial=initial, initial_items=initial_items)

    started = time.time()

    def run_id() -> str:
        """Identifies this run on every node (same inputs and settings), for failure markers."""
        return fingerprint(
            {**fingerprint_settings, "run": True}, ((t.positions, t.argument) for t in plan.tasks)
        )

    try:
        if shape is not None:
            run_ray_jobs(
                jobs,
                shape=shape,
                make_progress=make_progress,
                what="optimize",
            )
        else:
            run_workers(
                jobs,
                start_method=start_method,
                make_progress=make_progress,
                what="optimize",
                feeder=work.feeder(),
            )
    except BaseException as exc:
        if node.num_nodes > 1:
            report_node_failure(store, node.node_rank, run_id(), f"{type(exc).__name__}: {exc}")
        raise
    finally:
        remove_staging_root(staging_root)
    if not node.is_main:
        return None

    all_ranks = plan.busy_ranks()
    expected = {rank: work.fingerprint(fingerprint_settings, rank, prepared.first_chunk_of(rank)) for rank in all_ranks}

    def log(text: str) -> None:
        if verbose:
            print(text, flush=True)

    partials = wait_for_partials(
        store,
        expected,
        num_nodes=node.num_nodes,
        ranks_per_node=plan.num_workers,
        log=log,
        run_id=run_id() if node.num_nodes > 1 else "",
        since=started,
    )
    try:
        if nothing_stored(partials, prepared.old_index):  # fn returned only None: LitData's empty index
            index = publish_empty(store)
        else:
            index = merge_and_publish(store, partials, prepared.old_index)
    except (ConfigMismatchError, ValueError):
        discard_run(store, all_ranks)
        raise
    clean_up(store, index, list(range(plan.world_size)))
    return index
