"""What to do with an output that already holds a dataset: ``mode`` None, "overwrite", "append".

- ``None`` refuses an output with an ``index.json``, so a dataset is never clobbered by
  accident.
- ``"overwrite"`` deletes the old dataset first. With several nodes each node deletes
  only what its own writer ranks own (node 0 also the index and anything unowned), so a
  node that starts late cannot delete chunks another node has already written.
- ``"append"`` keeps the old chunks first. Each rank numbers its new chunks after its
  highest old chunk, so names never collide, and the new items must have the old config
  (checked here for the settings, by the workers for the first item's types, and again
  at the merge).

All of this runs under the output lock (``output_lock``): a second ``optimize()`` on the
same output waits, then numbers its chunks after the first one's, so concurrent appends
both land.

An output without ``index.json`` is treated the same by every mode: it is empty, or it
holds the remains of an interrupted run, which ``resume`` continues.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from litdata_format import INDEX_FILENAME, DatasetExistsError, Index, IndexConfig
from litdata_storage import NotFoundError, Store

from .names import chunk_rank_and_number, owner_rank
from .output_lock import LOCK_KEY

MODES = (None, "append", "overwrite")


class ConfigMismatchError(ValueError):
    """Appending items whose config differs from the existing dataset's."""


@dataclass
class PreparedOutput:
    """The old dataset kept by ``append`` (None otherwise) and each rank's first chunk number."""

    old_index: Index | None = None
    first_chunk: dict[int, int] = field(default_factory=dict)

    def first_chunk_of(self, rank: int) -> int:
        """The number of ``rank``'s first new chunk: after its highest old chunk when appending, else 0."""
        return self.first_chunk.get(rank, 0)


def check_mode(mode: str | None) -> None:
    """Raise ValueError for a ``mode`` other than None, ``"append"`` or ``"overwrite"``."""
    if mode not in MODES:
        raise ValueError(f"The provided `mode` should be either `append` or `overwrite` (or None), got {mode!r}")


def read_index(store: Store) -> Index | None:
    """The output's ``index.json``, or None when it has none (an empty output or an unfinished run)."""
    try:
        data = store.get(INDEX_FILENAME)
    except NotFoundError:
        return None
    return Index.from_json(data, store.url(INDEX_FILENAME))


def config_differences(old: IndexConfig, new: IndexConfig, fields: Iterable[str] | None = None) -> list[str]:
    """Human-readable ``name: old X, new Y`` lines for the settings that differ."""
    names = list(
        fields
        or (
            "data_format", "data_spec", "compression", "compression_level", "compression_batch_size",
            "item_loader", "chunk_bytes", "chunk_size",
        )
    )
    return [
        f"{name}: existing {getattr(old, name)!r}, new {getattr(new, name)!r}"
        for name in names
        if getattr(old, name) != getattr(new, name)
    ]


def mismatch_error(url: str, differences: list[str]) -> ConfigMismatchError:
    """The ConfigMismatchError (returned, not raised) for appending to ``url`` with ``differences``."""
    return ConfigMismatchError(
        f"cannot append to {url}: the new items' config differs from the existing dataset's ("
        + "; ".join(differences)
        + "). Use the same settings and item types, or mode='overwrite'."
    )


def prepare_output(
    store: Store,
    mode: str | None,
    *,
    settings: IndexConfig,
    node_rank: int,
    node_ranks: range,
    world_size: int,
) -> PreparedOutput:
    """Apply ``mode`` to the output before any worker starts (see the module docstring).

    ``settings`` carries the chunking, compression and loader of this run (its
    ``data_format`` is not known before the first item, so it is not compared here).
    """
    check_mode(mode)
    existing = read_index(store)
    if existing is None:
        return PreparedOutput()
    if mode is None:
        raise DatasetExistsError(
            f"{store.url()} already holds an optimized dataset ({INDEX_FILENAME}). "
            "HINT: If you want to append/overwrite to the existing dataset, use mode='append' or mode='overwrite' "
            "(or choose another output_dir)."
        )
    if mode == "overwrite":
        _delete_owned(store, node_rank, node_ranks, world_size)
        return PreparedOutput()
    # append
    if existing.config is not None:
        differences = config_differences(
            existing.config,
            settings,
            (
                "compression", "compression_level", "compression_batch_size",
                "item_loader", "chunk_bytes", "chunk_size",
            ),
        )
        if differences:
            raise mismatch_error(store.url(), differences)
    first_chunk: dict[int, int] = {}
    for chunk in existing.chunks:
        parsed = chunk_rank_and_number(chunk.filename)
        if parsed is not None:
            rank, number = parsed
            first_chunk[rank] = max(first_chunk.get(rank, 0), number + 1)
    return PreparedOutput(old_index=existing, first_chunk=first_chunk)


def _delete_owned(store: Store, node_rank: int, node_ranks: range, world_size: int) -> None:
    """Delete the old dataset's files that this node owns; node 0 starts with index.json."""
    if node_rank == 0:
        store.delete(INDEX_FILENAME)
    for key in list(store.list()):
        rank = owner_rank(key)
        if rank is not None and rank < world_size:
            mine = rank in node_ranks
        else:
            mine = node_rank == 0  # unowned files, and ranks beyond this run's world
        if mine and key not in (INDEX_FILENAME, LOCK_KEY):  # the lock is this run's own
            store.delete(key)
