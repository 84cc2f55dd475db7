"""How ``StreamingDataLoader`` takes LitData's arguments that torch's DataLoader does not.

* Positional arguments after the dataset: LitData's signature is
  ``StreamingDataLoader(dataset, *args, batch_size=1, ...)`` and hands ``*args`` to
  torch's DataLoader. Here they are read in the order of torch's DataLoader parameters
  (``batch_size``, ``shuffle``, ``sampler``, ...), so ``StreamingDataLoader(ds, 32)`` is
  a batch size of 32 (LitData itself fails on it: it passes ``batch_size`` twice).
* ``drop_last``: as in LitData, it is the dataset's ``drop_last`` (set on a mixture's
  every dataset), which the epoch plan applies: without it the ranks are padded, with
  it the samples that do not fill every rank's last batch are dropped. It also goes on
  to torch, where it drops a mixture's last, partial batch.
"""

from __future__ import annotations

from typing import Any

#: torch.utils.data.DataLoader's positional parameters after ``dataset``.
TORCH_POSITIONAL = ("batch_size", "shuffle", "sampler", "batch_sampler", "num_workers", "collate_fn",
                    "pin_memory", "drop_last", "timeout", "worker_init_fn", "multiprocessing_context",
                    "generator")


def positional_arguments(args: tuple[Any, ...], keywords: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Name ``args`` by torch's order; a name also given by keyword is a TypeError.

    ``keywords``: the other keyword arguments (``**kwargs``); ``given``: the loader's own
    keyword arguments that were given a value other than their default.
    """
    if len(args) > len(TORCH_POSITIONAL):
        raise TypeError(f"StreamingDataLoader takes at most {len(TORCH_POSITIONAL) + 1} positional arguments "
                        f"({len(args) + 1} given)")
    named = dict(zip(TORCH_POSITIONAL, args))
    for name in named:
        if name in keywords or name in given:
            raise TypeError(f"StreamingDataLoader got multiple values for argument {name!r}")
    return named


def apply_drop_last(dataset: Any, drop_last: bool) -> None:
    """Set ``drop_last`` on the dataset, or on every dataset a mixture draws from."""
    for target in getattr(dataset, "datasets", None) or [dataset]:
        if hasattr(target, "drop_last"):
            target.drop_last = bool(drop_last)
