"""``optimize()``: turn any inputs into a LitData dataset, in parallel, on any storage.

The parent plans (``plan``), applies the mode to the output (``modes``), starts one
process per writer rank of this node (``workers`` running ``rank_writer``) and shows
progress. Then node 0 waits for every node's partial indexes and merges them into
``index.json`` (``merge``); the other nodes are done once their own share is stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from litdata_format import Index

from . import __version__
from .merge import (
    clean_up,
    clear_node_failure,
    discard_run,
    merge_and_publish,
    report_node_failure,
    wait_for_partials,
)
from .modes import ConfigMismatchError, check_mode, prepare_output
from .output import local_folder, make_staging_root, open_output, remove_staging_root
from .plan import make_plan
from .progress import Progress
from .rank_writer import RankJob, rank_fingerprint, write_rank
from .resume import checkpoint_interval, fingerprint
from .settings import resolve_settings
from .workers import Job, run_workers


def _fn_name(fn: Callable[..., Any]) -> str:
    target = getattr(fn, "func", fn)  # functools.partial
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__name__)}"


def optimize(
    fn: Callable[[Any], Any],
    inputs: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    chunk_size: int | None = None,
    chunk_bytes: int | str | None = None,
    compression: str | None = None,
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

    Work is split over ``num_workers`` processes (default: CPU count) on each of
    ``num_nodes`` machines (default: ``NUM_NODES`` / ``DATA_OPTIMIZER_NUM_NODES`` from the
    environment, else 1; each node reads its rank from ``NODE_RANK``). A rerun after a
    crash resumes from the chunks already stored (``resume=False`` starts over).

    Returns the merged index on node 0, None on the other nodes.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if machine is not None:
        raise ValueError(
            "machine= needs the Lightning platform; to use several machines, run this same call on each "
            "with NUM_NODES and NODE_RANK set (num_nodes=...)"
        )
    check_mode(mode)
    settings = resolve_settings(chunk_bytes, chunk_size, compression, item_loader)
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
    node = plan.node
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
        "item_loader": settings.item_loader,
        "batch_size": batch_size,
        "world_size": plan.world_size,
    }
    interval = checkpoint_interval()
    old_config = prepared.old_index.config if prepared.old_index is not None else None
    staging_root = None if local_folder(store) is not None else make_staging_root("optimize")
    jobs = [
        Job(
            rank=rank,
            body=write_rank,
            payload=RankJob(
                rank=rank,
                tasks=plan.rank_tasks(rank),
                fn=fn,
                output_url=os.fspath(output_dir),
                storage_options=options,
                staging_root=staging_root,
                chunk_bytes=settings.chunk_bytes,
                chunk_size=settings.chunk_size,
                compression=settings.compression,
                item_loader=settings.item_loader,
                first_chunk=prepared.first_chunk_of(rank),
                settings=fingerprint_settings,
                old_config=old_config,
                resume=resume,
                max_pending_uploads=max_pending_uploads,
                checkpoint_interval=interval,
            ),
        )
        for rank in plan.busy_ranks(plan.node_ranks)
    ]
    desc = "optimize" if node.num_nodes == 1 else f"optimize (node {node.node_rank}/{node.num_nodes})"
    started = time.time()

    def run_id() -> str:
        """Identifies this run on every node (same inputs and settings), for failure markers."""
        return fingerprint(
            {**fingerprint_settings, "run": True}, ((t.positions, t.argument) for t in plan.tasks)
        )

    try:
        run_workers(
            jobs,
            start_method=start_method,
            make_progress=lambda: Progress(plan.node_input_count(), desc=desc, verbose=verbose),
            what="optimize",
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
    expected = {
        rank: rank_fingerprint(
            fingerprint_settings, rank, prepared.first_chunk_of(rank), plan.rank_tasks(rank)
        )
        for rank in all_ranks
    }

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
        index = merge_and_publish(store, partials, prepared.old_index)
    except (ConfigMismatchError, ValueError):
        discard_run(store, all_ranks)
        raise
    clean_up(store, index, list(range(plan.world_size)))
    return index
