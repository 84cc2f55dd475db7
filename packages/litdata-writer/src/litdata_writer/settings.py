"""The write settings of a run, checked once in the parent before any worker starts.

A mistake here (both ``chunk_bytes`` and ``chunk_size``, an unknown compression, level or
item loader) should fail at once with a clear message, not in N workers after minutes of work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from litdata_format import IndexConfig, parse_size
from litdata_format.compression_layout import CompressionLayout, resolve_compression_layout
from litdata_format.writer import PYTREE_LOADER, TOKENS_LOADER

DEFAULT_CHUNK_BYTES = "64MB"
LOADERS = (PYTREE_LOADER, TOKENS_LOADER)


@dataclass(frozen=True)
class WriteSettings:
    """Checked settings. ``compression_level`` is resolved (``"chunk"`` / ``"batch"`` /
    ``"sample"``, None without compression) and ``compression_batch_size`` is set only for
    ``"batch"``, so the workers re-checking them find nothing to warn about."""

    chunk_bytes: int | None
    chunk_size: int | None
    compression: str | None
    item_loader: str
    compression_level: str | None = None
    compression_batch_size: int | None = None

    @property
    def layout(self) -> CompressionLayout:
        """Where these settings put zstd frames: the compression, its level and the batch size."""
        return CompressionLayout(self.compression, self.compression_level, self.compression_batch_size)

    def as_config(self) -> IndexConfig:
        """An ``IndexConfig`` with these settings (its data_format is unknown until the first item)."""
        return IndexConfig(
            data_format=[],
            data_spec=None,
            chunk_bytes=self.chunk_bytes,
            chunk_size=self.chunk_size,
            compression=self.compression,
            item_loader=self.item_loader,
            extra=self.layout.index_keys(),
        )


def loader_name(item_loader: Any) -> str:
    """``None``, a loader name, a loader class or instance -> "PyTreeLoader" or "TokensLoader".

    Loader objects are recognised by their class name, so the writer never imports the
    streaming package that defines them (``TokensLoader(block_size=...)`` works as is).
    """
    if item_loader is None:
        return PYTREE_LOADER
    if isinstance(item_loader, str):
        name = item_loader
    elif isinstance(item_loader, type):
        name = item_loader.__name__
    else:
        name = type(item_loader).__name__
    if name not in LOADERS:
        raise ValueError(
            f"unsupported item_loader {item_loader!r}: use None, 'PyTreeLoader' or 'TokensLoader'"
        )
    return name


def resolve_settings(
    chunk_bytes: int | str | None,
    chunk_size: int | None,
    compression: str | None,
    item_loader: Any,
    compression_level: str | None = None,
    compression_batch_size: int | None = None,
) -> WriteSettings:
    """Check the write arguments of ``optimize`` together; LitData's defaults filled in.

    ``compression="zstd"`` (or ``"zstd:N"``) without ``compression_level`` is LitData's
    ``"batch"`` layout (framed ``.bin`` chunks, ``compression_batch_size`` items per zstd
    frame, default 256); ``"chunk"`` is whole-chunk ``.zstd.bin`` files, ``"sample"`` one
    zstd frame per item. ``"batch"`` / ``"sample"`` with ``TokensLoader`` is refused, as
    LitData refuses it.
    """
    if chunk_bytes is not None and chunk_size is not None:
        raise ValueError("pass either chunk_bytes or chunk_size, not both")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if chunk_bytes is None and chunk_size is None:
        chunk_bytes = DEFAULT_CHUNK_BYTES
    loader = loader_name(item_loader)
    layout = resolve_compression_layout(compression, compression_level, compression_batch_size, item_loader=loader)
    return WriteSettings(
        chunk_bytes=None if chunk_bytes is None else parse_size(chunk_bytes),
        chunk_size=chunk_size,
        compression=compression,
        item_loader=loader,
        compression_level=layout.level,
        compression_batch_size=layout.batch_size,
    )


def resolve_num_workers(num_workers: int | None) -> int:
    """Workers per node: ``num_workers`` once checked, or the CPU count when it is None."""
    if num_workers is None:
        return os.cpu_count() or 1
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
    return num_workers


def fast_dev_count(fast_dev_run: bool | int) -> int | None:
    """How many inputs a fast dev run keeps (10 for True, as LitData), or None for all."""
    if fast_dev_run is False or fast_dev_run is None:
        return None
    if fast_dev_run is True:
        return 10
    if isinstance(fast_dev_run, int) and fast_dev_run > 0:
        return fast_dev_run
    raise ValueError(f"fast_dev_run must be a bool or a positive int, got {fast_dev_run!r}")
