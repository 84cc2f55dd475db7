"""Where the zstd frames of a compressed dataset go: ``compression_level``.

LitData 0.2.76 separates the codec (``compression="zstd"`` or ``"zstd:N"``, N the zstd
level) from the granularity of compression (``compression_level``):

``"batch"`` (the default whenever ``compression`` is set)
    ``chunk-R-I.bin`` in the framed ``LDFZ01`` layout: every ``compression_batch_size``
    items (default 256) form one zstd frame, so reading one item inflates one frame.
``"chunk"``
    the whole classic chunk is one zstd frame, stored as ``chunk-R-I.zstd.bin``
    (``chunk-R-I.zstd:N.bin``); a reader inflates the file before the first item.
``"sample"``
    ``chunk-R-I.bin`` keeps the classic header; each item's bytes are one zstd frame.

The index records the layout in two config keys, as LitData writes them:
``compression_level`` is ``"batch"`` / ``"sample"`` and null for whole-chunk files (a
null level is how readers recognise the whole-chunk layout), ``compression_batch_size``
is the frame size for ``"batch"`` and null otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from .compression import parse_compression

CHUNK = "chunk"
BATCH = "batch"
SAMPLE = "sample"
COMPRESSION_LEVELS = (CHUNK, BATCH, SAMPLE)
DEFAULT_COMPRESSION_LEVEL = BATCH
DEFAULT_COMPRESSION_BATCH_SIZE = 256


def parse_compression_level(value: Any) -> str | None:
    """``"chunk"``, ``"batch"``, ``"sample"`` (any case, spaces ignored), or None for "not given".

    A number is refused with a pointer to ``compression="zstd:N"``: the zstd level is part
    of the codec string, ``compression_level`` only says how much data one frame holds.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int):  # bool included
        raise ValueError(
            f"compression_level={value!r}: compression_level is 'chunk', 'batch' or 'sample' (how much data "
            "one zstd frame holds); the numeric zstd level goes into the codec, e.g. compression='zstd:10'"
        )
    if not isinstance(value, str) or value.strip().lower() not in COMPRESSION_LEVELS:
        raise ValueError(f"compression_level must be None, 'chunk', 'batch' or 'sample', got {value!r}")
    return value.strip().lower()


def _check_batch_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"compression_batch_size must be a positive int (items per zstd frame), got {value!r}")
    return value


@dataclass(frozen=True)
class CompressionLayout:
    """The resolved compression of a dataset being written.

    ``level`` is None exactly when ``compression`` is None; ``batch_size`` is set exactly
    when ``level`` is ``"batch"``. Build it with :func:`resolve_compression_layout`.
    """

    compression: str | None = None
    level: str | None = None
    batch_size: int | None = None

    @property
    def in_file(self) -> bool:
        """True for the layouts whose frames live inside ``.bin`` files (batch, sample)."""
        return self.level in (BATCH, SAMPLE)

    def index_keys(self) -> dict[str, Any]:
        """The two ``index.json`` config keys, with LitData's values (null unless in-file)."""
        return {
            "compression_batch_size": self.batch_size if self.level == BATCH else None,
            "compression_level": self.level if self.in_file else None,
        }


def resolve_compression_layout(
    compression: str | None,
    compression_level: Any = None,
    compression_batch_size: Any = None,
    *,
    item_loader: str = "PyTreeLoader",
    warn: bool = True,
) -> CompressionLayout:
    """Check the three compression arguments together and fill in LitData's defaults.

    Refused (ValueError): an unknown codec or level, a non-positive batch size, and
    ``"batch"`` / ``"sample"`` with a loader other than PyTreeLoader (token chunks are
    read as raw arrays, so only the whole-chunk layout fits them; LitData refuses the
    same combination). With ``warn``, a level or batch size that the other settings make
    meaningless is reported once with a UserWarning instead of being dropped silently.
    """
    parse_compression(compression)
    level = parse_compression_level(compression_level)
    batch_size = _check_batch_size(compression_batch_size)
    if compression is None:
        if warn and (level is not None or batch_size is not None):
            warnings.warn(
                "compression_level / compression_batch_size have no effect without compression "
                "(pass compression='zstd'); the chunks are written uncompressed",
                UserWarning,
                stacklevel=3,
            )
        return CompressionLayout()
    level = level or DEFAULT_COMPRESSION_LEVEL
    if level != CHUNK and item_loader != "PyTreeLoader":
        raise ValueError(
            f"compression_level={level!r} (the default for compression={compression!r}) is only supported "
            f"with PyTreeLoader; a {item_loader} dataset needs compression_level='chunk' "
            "(whole-chunk zstd files)"
        )
    if level != BATCH:
        if warn and batch_size is not None:
            warnings.warn(
                f"compression_batch_size={batch_size} has no effect with compression_level={level!r}: "
                "it sets the items per zstd frame of compression_level='batch'",
                UserWarning,
                stacklevel=3,
            )
        return CompressionLayout(compression, level)
    return CompressionLayout(compression, level, batch_size or DEFAULT_COMPRESSION_BATCH_SIZE)
