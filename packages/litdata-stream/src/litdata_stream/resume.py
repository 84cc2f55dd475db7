"""A dataset's saved state: what must match to resume, and where the new topology starts.

A state names the dataset it was saved from (size, seed, shuffle) so that resuming on
another dataset or order fails with a clear error instead of serving the wrong samples,
and the segment being served when it was saved: its topology (world size, batch size,
drop_last), its epoch positions, and the batches every rank had consumed. Resuming on
the same topology continues that segment; on another one, a new segment is planned over
what no rank has served (:meth:`litdata_stream.epoch_plan.RankPlan.remaining_after`).
"""

from __future__ import annotations

from typing import Any

from .epoch_plan import Intervals, RankPlan, Segment
from .shuffle import EpochOrder
from .state_override import IDENTITY_KEYS, overridden_dataset_state

STATE_VERSION = 1
STATE_TYPE = "StreamingDataset"


def dataset_identity(dataset: Any) -> dict[str, Any]:
    """The part of a state that must match the dataset resuming it."""
    return {
        "version": STATE_VERSION,
        "type": STATE_TYPE,
        "input_dir": dataset.source.url,
        "num_items": dataset.num_items,
        "selection": dataset._selection.fingerprint(),
        "seed": dataset.seed,
        "shuffle": dataset.shuffle,
        "shuffle_algo": dataset.shuffle_algo if dataset.shuffle else None,
        "shuffle_block_size": dataset.block_size() if dataset.shuffle and dataset.shuffle_algo == "block" else None,
        "item_shuffle_window": getattr(dataset, "item_window", None) if dataset.shuffle else None,
    }


def check_dataset_state(dataset: Any, state: dict[str, Any]) -> None:
    """Refuse a state saved from another dataset, order or state format."""
    if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
        found = state.get("type") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"not a {STATE_TYPE} state (got {found!r})")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"unknown {STATE_TYPE} state version {state.get('version')!r} (this release reads {STATE_VERSION})")
    now = dataset_identity(dataset)
    if getattr(dataset, "force_override_state_dict", False):
        state = overridden_dataset_state(now, state, url=dataset.source.url, warn=False)
    for key in IDENTITY_KEYS:
        if state.get(key) != now[key]:
            hint = " (max_cache_size or num_workers changed how many chunks a block may hold)" \
                if key == "shuffle_block_size" else ""
            raise ValueError(
                f"cannot resume {dataset.source.url}: the state was saved with {key}={state.get(key)!r}, "
                f"the dataset has {key}={now[key]!r}{hint}"
            )


def saved_segment(state: dict[str, Any]) -> Segment:
    """Rebuild the :class:`Segment` a state was being served from when it was saved."""
    intervals = state.get("intervals")
    return Segment(
        int(state["world_size"]),
        int(state["batch_size"]),
        bool(state["drop_last"]),
        None if intervals is None else tuple((int(a), int(b)) for a, b in intervals),
    )


def resolve_segment(state: dict[str, Any], order: EpochOrder, current: Segment) -> tuple[Intervals | None, int]:
    """(epoch positions of the segment to serve now, batches of it already consumed)."""
    saved = saved_segment(state)
    consumed = int(state["batches_consumed"])
    if (saved.world_size, saved.batch_size, saved.drop_last) == (current.world_size, current.batch_size,
                                                                  current.drop_last):
        return saved.intervals, consumed
    return RankPlan(order, saved, 0).remaining_after(consumed * saved.batch_size), 0
