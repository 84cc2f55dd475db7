"""``keep_data_ordered``, ``align_chunking``, ``use_checkpoint`` / ``resume``: how work is handed out.

LitData's rules, and where ours differ:

* ``keep_data_ordered=True``: each worker gets a static, contiguous slice; the dataset
  is in input order. ``False``: the workers of a node share one work queue (faster when
  inputs cost very different times; the dataset is not in input order; no resume).
* ``None`` (the default) is ordered here, while LitData's ``None`` is the work queue
  unless ``use_checkpoint`` or ``align_chunking`` is set. Ours resumes a crashed run by
  default (``resume=True``), which needs a static plan; the dataset holds the same items
  either way, only their order differs (ours: input order). Ask for the queue with
  ``keep_data_ordered=False``.
* ``use_checkpoint=True`` (LitData's name for resuming) turns ``resume`` on and, as in
  LitData, needs the static plan: with ``keep_data_ordered=False`` it is LitData's
  ValueError. ``use_checkpoint=False`` (LitData's default) leaves ``resume`` in charge;
  ``use_checkpoint=True`` with ``resume=False`` is a contradiction: ValueError.
* ``align_chunking`` needs ``chunk_size`` and the static plan (LitData's errors).
* A caller's ``queue`` or a data loader always feeds the work queue (inputs arrive one
  by one); they cannot be resumed or aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

from .inputs import InputSource

CHECKPOINT_NEEDS_ORDER = "Checkpoint feature is not supported for Queue based data processing, yet."
ALIGN_NEEDS_ORDER = "align_chunking requires keep_data_ordered=True."
ALIGN_NEEDS_CHUNK_SIZE = "When `align_chunking` is set to True, `chunk_size` needs to be defined."


@dataclass(frozen=True)
class Ordering:
    """How the work of a run is handed out, and whether it resumes (see the module docstring)."""

    ordered: bool  # static slices (True) or the node's shared work queue (False)
    resume: bool  # resume from checkpoints left by an earlier run of the same call


def resolve_ordering(
    *,
    keep_data_ordered: bool | None,
    use_checkpoint: bool,
    resume: bool,
    align_chunking: bool,
    chunk_size: int | None,
    source: InputSource,
) -> Ordering:
    """Pick static slices or the shared work queue, and resume or not, by LitData's rules.

    Raises ValueError for the combinations LitData refuses (see the module docstring).
    """
    if align_chunking and chunk_size is None:
        raise ValueError(ALIGN_NEEDS_CHUNK_SIZE)
    if use_checkpoint and not resume:
        raise ValueError(
            "use_checkpoint=True asks to resume from checkpoints but resume=False asks not to: pass only one "
            "(use_checkpoint is LitData's name for resume)"
        )
    if source.streamed:
        if use_checkpoint:
            raise ValueError(CHECKPOINT_NEEDS_ORDER)
        if align_chunking:
            raise ValueError(
                "align_chunking needs a list of inputs (it splits them in advance); "
                "it cannot be used with queue= or a data loader"
            )
        return Ordering(ordered=False, resume=False)
    if keep_data_ordered is False:
        if use_checkpoint:
            raise ValueError(CHECKPOINT_NEEDS_ORDER)
        if align_chunking:
            raise ValueError(ALIGN_NEEDS_ORDER)
        return Ordering(ordered=False, resume=False)
    return Ordering(ordered=True, resume=resume or use_checkpoint)
