"""``force_override_state_dict=True``: resume from a state saved with other settings.

Without it a state whose seed, shuffle or size differ from the dataset's is refused
(:func:`litdata_stream.resume.check_dataset_state`), since resuming it serves other
samples than the interrupted run would have. With it, as in LitData, the dataset's own
arguments win: the state's position in the epoch (its segment and the batches consumed)
is kept and applied to the dataset's order, with a warning naming each setting
overridden. Samples may then repeat or be skipped within that epoch; the next epochs
are the dataset's own.

A mixture (``CombinedStreamingDataset``) with the flag accepts a state saved with other
weights, seed or ``iterate_over_all``, and a state of fewer datasets than it mixes (the
datasets added at the end start their epoch afresh), as LitData does; each dataset then
continues from what it had served, and the mix of the rest is drawn anew. A state of
more datasets than the mixture is still refused.
"""

from __future__ import annotations

import warnings
from typing import Any

#: The settings of a dataset state that must match unless overridden.
IDENTITY_KEYS = ("num_items", "selection", "seed", "shuffle", "shuffle_algo", "shuffle_block_size",
                 "item_shuffle_window")


def _clip(intervals: Any, size: int) -> list[list[int]] | None:
    """Saved epoch positions that still exist in an epoch of ``size`` positions."""
    if intervals is None:
        return None
    return [[int(a), min(int(b), size)] for a, b in intervals if int(a) < size]


def overridden_dataset_state(identity: dict[str, Any], state: dict[str, Any], *, url: str,
                             warn: bool = True) -> dict[str, Any]:
    """``state`` with the dataset's settings (``identity``) in place of its own."""
    if not isinstance(state, dict):
        return state
    differing = [key for key in IDENTITY_KEYS if key in identity and state.get(key) != identity[key]]
    if not differing:
        return state
    if warn:
        changes = ", ".join(f"{key} {state.get(key)!r} -> {identity[key]!r}" for key in differing)
        warnings.warn(
            f"{url}: force_override_state_dict: resuming with the dataset's settings instead of the state's "
            f"({changes}); samples of this epoch may repeat or be skipped",
            UserWarning,
            stacklevel=4,
        )
    state = {**state, **{key: identity[key] for key in differing}}
    if "num_items" in differing:
        state["intervals"] = _clip(state.get("intervals"), int(identity["num_items"]))
    return state


def overridden_mixture_state(settings: dict[str, Any], num_datasets: int, state: dict[str, Any], *,
                             warn: bool = True) -> dict[str, Any]:
    """A mixture state with the mixture's settings, marked to be re-planned on resume."""
    if not isinstance(state, dict):
        return state
    saved = len(state.get("datasets", []))
    if saved > num_datasets:
        raise ValueError(
            f"cannot resume: the state mixes {saved} datasets, this mixture {num_datasets}; with "
            "force_override_state_dict datasets may only be added at the end of the list"
        )
    differing = [key for key, now in settings.items() if state.get(key) != now]
    if not differing and saved == num_datasets:
        return state
    if warn:
        changes = [f"{key} {state.get(key)!r} -> {settings[key]!r}" for key in differing]
        if saved < num_datasets:
            changes.append(f"{num_datasets - saved} dataset(s) added")
        warnings.warn(
            "CombinedStreamingDataset: force_override_state_dict: resuming with the mixture's settings "
            f"({', '.join(changes)}); the rest of the epoch is mixed anew",
            UserWarning,
            stacklevel=4,
        )
    return {**state, **settings, "overridden": True}
