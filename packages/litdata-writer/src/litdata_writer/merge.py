"""The last step of ``optimize()``: one ``index.json`` from the partial indexes.

Only node 0 merges, once every writer rank of every node has left its partial index
``{rank}.index.json`` in the output (other nodes just finish their share and exit). A
partial index carries its rank's run fingerprint, so a stale one left by an earlier,
different run is not mistaken for this run's. Parts are concatenated in numeric rank
order (rank 10 after rank 9), after the old chunks when appending, and ``index.json`` is
written in one atomic step (a rename locally, a single PUT on object stores): a reader
sees the old dataset or the new one, never a mix. Then the partial indexes, checkpoints
and any chunk the index does not list (left by an interrupted earlier run) are deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from litdata_format import INDEX_FILENAME, Index, merge_indexes
from litdata_format.errors import FormatError
from litdata_storage import NotFoundError, Store

from .modes import config_differences, mismatch_error
from .names import CHECKPOINT_PREFIX, failed_marker_key, is_chunk, partial_index_key

POLL_SECONDS = 0.5
LOG_EVERY_SECONDS = 30.0
CLOCK_SLACK_SECONDS = 60.0


class NodeFailedError(RuntimeError):
    """Another node reported a failure while node 0 waited for it."""


def read_partial(store: Store, rank: int, expected_fingerprint: str) -> Index | None:
    key = partial_index_key(rank)
    try:
        data = store.get(key)
    except NotFoundError:
        return None
    try:
        index = Index.from_json(data, store.url(key))
    except FormatError:
        return None  # being replaced, or garbage: wait for the real one
    return index if index.extra.get("fingerprint") == expected_fingerprint else None


def report_node_failure(store: Store, node_rank: int, run_id: str, message: str) -> None:
    """Leave a marker so node 0 stops waiting for this node (best effort)."""
    marker = {"run": run_id, "time": time.time(), "message": message[:4000]}
    try:
        store.put(failed_marker_key(node_rank), json.dumps(marker).encode())
    except Exception:  # noqa: BLE001 - the original error matters more
        pass


def clear_node_failure(store: Store, node_rank: int) -> None:
    store.delete(failed_marker_key(node_rank))


def _failure_of(store: Store, node_rank: int, run_id: str, since: float) -> str | None:
    """The message of a failure of this run reported by ``node_rank`` after ``since``.

    A marker from another run, or one older than this node's start (less a minute for
    clock differences between machines), is a leftover of an earlier attempt: ignored.
    """
    try:
        marker = json.loads(store.get(failed_marker_key(node_rank)))
    except (NotFoundError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("run") != run_id:
        return None
    if float(marker.get("time", 0)) < since - CLOCK_SLACK_SECONDS:
        return None
    return str(marker.get("message", ""))


def wait_for_partials(
    store: Store,
    expected: dict[int, str],
    *,
    num_nodes: int,
    ranks_per_node: int,
    log: Callable[[str], None],
    run_id: str,
    since: float,
    timeout: float | None = None,
) -> dict[int, Index]:
    """Poll until every rank in ``expected`` (rank -> fingerprint) has its partial index.

    Raises NodeFailedError as soon as another node reports a failure of this run.
    """
    found: dict[int, Index] = {}
    start = last_log = time.monotonic()
    while True:
        for rank in sorted(expected):
            if rank not in found:
                partial = read_partial(store, rank, expected[rank])
                if partial is not None:
                    found[rank] = partial
        missing = sorted(set(expected) - set(found))
        if not missing:
            return found
        for node in range(1, num_nodes):
            failure = _failure_of(store, node, run_id, since)
            if failure is not None:
                raise NodeFailedError(f"node {node} failed, so the dataset was not merged: {failure}")
        now = time.monotonic()
        if timeout is not None and now - start > timeout:
            raise TimeoutError(
                f"gave up after {timeout:.0f}s waiting for the partial indexes of ranks {missing}"
            )
        if now - last_log >= LOG_EVERY_SECONDS:
            nodes = sorted({rank // ranks_per_node for rank in missing})
            log(
                f"optimize: waiting for node(s) {nodes} to finish (ranks {missing[:8]}{'...' if len(missing) > 8 else ''})"
            )
            last_log = now
        time.sleep(POLL_SECONDS)


def merge_and_publish(store: Store, partials: dict[int, Index], old_index: Index | None) -> Index:
    """Write ``index.json`` (old chunks first, then ranks in numeric order); return it."""
    parts = [partials[rank] for rank in sorted(partials)]
    new = merge_indexes(parts, source=f"partial indexes in {store.url()}")
    if old_index is not None:
        if old_index.config is not None and new.config is not None:
            differences = config_differences(old_index.config, new.config)
            if differences:
                _delete_new(store, parts)
                raise mismatch_error(store.url(), differences)
        merged = Index(
            chunks=old_index.chunks + new.chunks,
            config=old_index.config or new.config,
            extra=dict(old_index.extra),
        )
    else:
        merged = new
    if merged.config is None or not merged.chunks:
        _delete_new(store, parts)
        raise ValueError(
            f"optimize produced no items for {store.url()}: fn returned (or yielded) only None for every input"
        )
    merged.updated_at = str(time.time())
    store.put(INDEX_FILENAME, merged.to_json().encode())
    return merged


def _delete_new(store: Store, parts: list[Index]) -> None:
    for part in parts:
        for chunk in part.chunks:
            store.delete(chunk.filename)


def clean_up(store: Store, index: Index, ranks: list[int]) -> None:
    """Delete partial indexes, checkpoints, and chunk files the final index does not list."""
    for rank in ranks:
        store.delete(partial_index_key(rank))
    store.delete_prefix(CHECKPOINT_PREFIX)
    listed = {chunk.filename for chunk in index.chunks}
    for key in list(store.list("chunk-", recursive=False)):
        if is_chunk(key) and key not in listed:
            store.delete(key)


def discard_run(store: Store, ranks: list[int]) -> None:
    """After a refused merge: drop partial indexes and checkpoints (the old dataset stays)."""
    for rank in ranks:
        store.delete(partial_index_key(rank))
    store.delete_prefix(CHECKPOINT_PREFIX)
