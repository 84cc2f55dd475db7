"""``item_loader=``: our ``TokensLoader``, or LitData's loader objects, recognised by shape.

Code written for LitData passes ``TokensLoader(block_size=...)`` or ``PyTreeLoader()``
from ``litdata.streaming.item_loader``. Those are recognised by class name (their module
may be ours or a copy of LitData's): a LitData ``TokensLoader`` keeps its block size in
``state_dict()``; ``PyTreeLoader`` is what reads every dataset that is not a token
dataset, i.e. our default. LitData's ``ParquetLoader`` selects the parquet source
(:func:`litdata_stream.sources.split_item_loader`, before this module is asked); other
LitData loaders read layouts this package does not, and are refused with a clear error.
"""

from __future__ import annotations

from typing import Any

from .tokens import TokensLoader

#: Loaders that read whole items: the default (``item_loader=None``).
_WHOLE_ITEM_LOADERS = ("PyTreeLoader",)


def resolve_item_loader(item_loader: Any) -> TokensLoader | None:
    """Our loader for ``item_loader`` (None: whole items)."""
    if item_loader is None or isinstance(item_loader, TokensLoader):
        return item_loader
    name = type(item_loader).__name__
    if name in _WHOLE_ITEM_LOADERS:
        return None
    if name == "TokensLoader":
        block_size = getattr(item_loader, "block_size", None)
        if block_size is None and callable(getattr(item_loader, "state_dict", None)):
            block_size = item_loader.state_dict().get("block_size")  # LitData's loader keeps it there
        return TokensLoader(block_size)
    raise TypeError(
        f"item_loader must be a TokensLoader, a PyTreeLoader or None, got {name}: "
        "this package reads optimized chunk datasets (item loaders for other layouts are not supported)"
    )


def litdata_loader_columns(item_loader: Any) -> list[str] | None:
    """The ``columns`` a LitData ``ParquetLoader(columns=...)`` was made with.

    LitData keeps them only in a private attribute (no accessor): this is the one place
    that reads a LitData object's private state, allowed by name in the private-access
    check (tests/stream/test_torch_private.py)."""
    return getattr(item_loader, "_columns", None) or getattr(item_loader, "columns", None)
