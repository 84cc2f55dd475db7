"""The last step of ``optimize()``: one ``index.json`` from the partial indexes.

Only node 0 merges, once every writer rank of every node has left its partial index
``{rank}.index.json`` in the output (other nodes just finish their share and exit). A
partial index carries its rank's run fingerprint, so a stale one left by an earlier,
different run is not mistaken for this run's. Parts are concatenated in numeric rank
order (rank 10 after rank 9), after the old chunks when appending, and ``index.json`` is
written in one atomic step (a rename locally, a single PUT on object stores): a reader
sees the old dataset or the new one, never a mix. Then the partial indexes, checkpoints
and any chunk the index does not list (left by an interrupted earlier run) are deleted.

Node 0 never waits forever: it gives up on a node that reports a failure (a marker in
``.checkpoints/``) at once, and on a node whose partial indexes are missing and that
showed no sign of life for ``LITDATA_NODE_WAIT_TIMEOUT`` seconds (see ``nodes``). Either
way nothing is published and the output stays resumable: rerunning the call on every node
continues from the chunks already stored. (LitData lets its last node merge and waits
without a limit; here node 0 merges, so ``optimize()`` returns the index on node 0.)

Just before writing ``index.json`` the merge checks that this run still holds the output
lock and that ``index.json`` is still the one the run started from (see ``output_lock``),
so a concurrent writer can never be silently overwritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from litdata_format import INDEX_FILENAME, Index, merge_indexes
from litdata_format.errors import FormatError
from litdata_storage import NotFoundError, Store

from .heartbeat import ChangeWatch, read_record
from .keys import prepare_keys
from .modes import config_differences, mismatch_error, read_index
from .names import CHECKPOINT_PREFIX, failed_marker_key, is_chunk, partial_index_key
from .node_env import NODE_WAIT_TIMEOUT_ENV, alive_key, node_wait_timeout
from .output_lock import ConcurrentWriteError, check_still_held

POLL_SECONDS = 0.5
LOG_EVERY_SECONDS = 30.0
FIRST_LOG_SECONDS = 5.0
CLOCK_SLACK_SECONDS = 60.0


class NodeFailedError(RuntimeError):
    """Another node reported a failure while node 0 waited for it."""


class NodeWaitTimeoutError(TimeoutError):
    """Node 0 stopped waiting for nodes that neither finished nor showed a sign of life."""


def read_partial(store: Store, rank: int, expected_fingerprint: str) -> Index | None:
    """The partial index of ``rank`` if it exists, parses and has this run's fingerprint, else None."""
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
    """Delete this node's failure marker (a leftover of an earlier attempt) before it starts work."""
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

    Raises NodeFailedError as soon as another node reports a failure of this run, and
    NodeWaitTimeoutError once a node still missing has been silent for ``timeout``
    seconds (default ``LITDATA_NODE_WAIT_TIMEOUT``): no partial index and no change of
    its heartbeat record.
    """
    timeout = node_wait_timeout() if timeout is None else timeout
    found: dict[int, Index] = {}
    watch = ChangeWatch()
    silent: dict[int, float] = {}
    start = time.monotonic()
    next_log = start + min(FIRST_LOG_SECONDS, timeout / 2)
    next_alive_check = start
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
        nodes = sorted({rank // ranks_per_node for rank in missing})
        if now >= next_alive_check:
            for node in nodes:
                record = read_record(store, alive_key(node)) if node else None
                silent[node] = watch.silent_for(alive_key(node), record, now)
            next_alive_check = now + min(5.0, timeout / 8)
        dead = [node for node in nodes if silent.get(node, 0.0) >= timeout]
        if dead:
            raise NodeWaitTimeoutError(
                _timeout_message(store, dead, missing, ranks_per_node, num_nodes, timeout)
            )
        if now >= next_log:
            log(
                f"optimize: node 0 is waiting for node(s) {nodes} of {num_nodes} to finish "
                f"(ranks {_ranks_text(missing)}; gives up after {timeout:.0f}s without a sign of life, "
                f"{NODE_WAIT_TIMEOUT_ENV})"
            )
            next_log = now + LOG_EVERY_SECONDS
        time.sleep(POLL_SECONDS)


def _ranks_text(ranks: list[int]) -> str:
    return f"{ranks[:8]}{'...' if len(ranks) > 8 else ''}"


def _timeout_message(
    store: Store, dead: list[int], missing: list[int], ranks_per_node: int, num_nodes: int, timeout: float
) -> str:
    dead_ranks = [rank for rank in missing if rank // ranks_per_node in dead]
    return (
        f"node 0 gave up waiting for node(s) {dead} (writer ranks {_ranks_text(dead_ranks)}) after {timeout:.0f}s "
        f"without their partial indexes or any sign of life in {store.url()} ({NODE_WAIT_TIMEOUT_ENV}). "
        "They were never started, or died without reporting an error. Start the same optimize() call on "
        f"every node with NUM_NODES={num_nodes} and NODE_RANK=0..{num_nodes - 1} (or raise "
        f"{NODE_WAIT_TIMEOUT_ENV}); index.json was not written, and a rerun resumes from the chunks already stored."
    )


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
            chunks=[*old_index.chunks, *new.chunks],
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
    try:  # duplicate keys refuse the run before anything is published
        keys = prepare_keys(store, parts, old_index, merged)
    except ValueError:
        _delete_new(store, parts)
        raise
    merged.updated_at = str(time.time())
    check_still_held(store)
    _check_index_unchanged(store, old_index)
    if keys is not None:  # the shards go first: index.json never names shards that are not there
        merged.extra["keys"] = keys.write(store)
    store.put(INDEX_FILENAME, merged.to_json().encode())
    return merged


def _check_index_unchanged(store: Store, old_index: Index | None) -> None:
    """Refuse to publish over an ``index.json`` another writer wrote during this run."""
    current = read_index(store)
    same = (current is None and old_index is None) or (
        current is not None and old_index is not None and current.to_json() == old_index.to_json()
    )
    if not same:
        raise ConcurrentWriteError(
            f"{store.url(INDEX_FILENAME)} changed while this run was writing: another writer published a "
            "dataset here meanwhile, so this run's index.json was not written (the other one stays). "
            "Write to one output from one optimize() call at a time, then run this call again."
        )


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
