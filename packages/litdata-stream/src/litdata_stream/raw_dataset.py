"""``StreamingRawDataset``: LitData's name for streaming a folder of plain files.

Every file under ``input_dir`` is an item: its bytes, or (``item_type="path"``) a local
path to it; a subclass's ``setup(files)`` may filter or group them (an item is then a list
of files). It is a :class:`~litdata_stream.StreamingDataset` over the raw-files source
(:mod:`litdata_stream.sources.raw`), so shuffling, ``subsample``, ``train_test_split``,
mixing, the node cache and mid-epoch resume work as on an optimized dataset; and, as
LitData's, it answers ``dataset[i]`` and ``__getitems__`` (:mod:`.raw_random_access`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any, Literal

from .cache import DEFAULT_MAX_CACHE_BYTES, dataset_cache_dir
from .dataset import StreamingDataset
from .raw_fetch import RawFileFetcher
from .raw_items import FileMetadata, ItemLayout, check_items, layout_of
from .raw_random_access import RawRandomAccess
from .sources.raw import CONCURRENT_GETS, FILES_PER_CHUNK, RawFilesSource

#: LitData arguments that tune its own downloader; ours downloads differently.
_INERT_DEFAULTS: dict[str, Any] = {
    "hedge_delay": 0.0,
    "download_timeout": 120.0,
    "range_parallel_threshold": 0,
    "range_chunk_size": 8 * 1024 * 1024,
}


class StreamingRawDataset(RawRandomAccess, StreamingDataset):
    """Every file under ``input_dir`` (local, ``s3://``, ``gs://``, ``azure://``) as an item.

    Files are items in sorted key order (hidden files, named ``.*``, are skipped); item
    ``i`` does not depend on shuffling. Override :meth:`setup` to filter or group them. Remote files are fetched in groups of
    ``files_per_chunk`` files (one chunk of the epoch plan) with up to
    ``max_concurrent_downloads`` GETs in flight, the next groups while the current one is
    read.

    Args:
        input_dir: a local folder or a ``s3://``, ``gs://``, ``azure://`` prefix.
        cache_dir: where downloaded groups and the listing are cached.
        indexer: LitData's ``FileIndexer(max_depth=5, extensions=None)``: its
            ``extensions`` keep only files with those suffixes and ``max_depth`` limits the
            folder depth. Another indexer (a custom ``discover_files``) is refused.
        storage_options: passed to the storage backend (endpoint, credentials, ...).
        cache_files: LitData keeps downloaded files only when True; here remote groups are
            always cached, within ``max_cache_size``. ``item_type="path"`` needs it, as in LitData.
        recompute_index: list the prefix again instead of reading the node's cached listing.
        transform: applied to each item (the bytes, or the path).
        max_concurrent_downloads: GETs in flight per process while a group downloads
            (None: 32).
        max_prefetch: items downloaded ahead of need: when streaming, rounded up to groups
            (at least 2 groups when positive); after a ``__getitems__`` of consecutive
            indices, the items of this worker's next batch (0: none ahead).
        prefetch_cache_size: items kept from that random-access look-ahead (None:
            ``2 * max_prefetch``).
        item_type: ``"bytes"`` (default) or ``"path"`` (a local file: the file itself on
            local disk, else a downloaded copy under the cache, kept like LitData's cached
            files).
        hedge_delay, download_timeout, range_parallel_threshold, range_chunk_size: tune
            LitData's own downloader; accepted, change nothing here (a warning when set).
        shuffle, seed, drop_last, subsample, max_cache_size: as in ``StreamingDataset``.
        files_per_chunk: files per group (one chunk of the plan).
    """

    def __init__(
        self,
        input_dir: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        indexer: Any = None,
        storage_options: dict[str, Any] | None = None,
        cache_files: bool = False,
        recompute_index: bool = False,
        transform: Callable[[Any], Any] | None = None,
        max_concurrent_downloads: int | None = None,
        max_prefetch: int = 16,
        prefetch_cache_size: int | None = None,
        item_type: Literal["bytes", "path"] = "bytes",
        hedge_delay: float = 0.0,
        download_timeout: float = 120.0,
        range_parallel_threshold: int = 0,
        range_chunk_size: int = 8 * 1024 * 1024,
        *,
        shuffle: bool = False,
        seed: int = 42,
        drop_last: bool | None = None,
        subsample: float = 1.0,
        max_cache_size: int | float | str | None = DEFAULT_MAX_CACHE_BYTES,
        files_per_chunk: int = FILES_PER_CHUNK,
    ) -> None:
        if item_type not in ("bytes", "path"):
            raise ValueError(f"item_type must be 'bytes' or 'path', got {item_type!r}")
        if item_type == "path" and not cache_files:
            raise ValueError("item_type='path' requires cache_files=True")
        given = {"hedge_delay": hedge_delay,
                 "download_timeout": download_timeout, "range_parallel_threshold": range_parallel_threshold,
                 "range_chunk_size": range_chunk_size}
        for name, value in given.items():
            if value != _INERT_DEFAULTS[name]:
                warnings.warn(f"StreamingRawDataset: {name}={value!r} tunes LitData's downloader and changes "
                              "nothing here", UserWarning, stacklevel=2)
        self.item_type = item_type
        self.cache_files = bool(cache_files)
        self.recompute_index = bool(recompute_index)
        self.files_per_chunk = int(files_per_chunk)
        self.max_concurrent_downloads = max_concurrent_downloads
        self.max_prefetch = max(int(max_prefetch), 0)
        if prefetch_cache_size is None:
            prefetch_cache_size = 2 * self.max_prefetch
        self.prefetch_cache_size = max(int(prefetch_cache_size), 0)
        self._indexer = _indexer_filters(indexer)
        ahead = 0 if self.max_prefetch == 0 else max(2, math.ceil(self.max_prefetch / max(self.files_per_chunk, 1)))
        super().__init__(input_dir, cache_dir=cache_dir, storage_options=storage_options, transform=transform,
                         shuffle=shuffle, seed=seed, drop_last=drop_last, subsample=subsample,
                         max_cache_size=max_cache_size, max_pre_download=ahead, input_format="raw")

    def setup(self, files: list[FileMetadata]) -> list[FileMetadata] | list[list[FileMetadata]]:
        """The items, from every listed file (a ``FileMetadata``: full path or URL, size).

        Override to filter files or group them: return a list whose entries are each a
        ``FileMetadata`` (the item is that file's bytes or path) or a list of them (the
        item is the list of their bytes or paths). The default keeps every file.

        Args:
            files: every listed file, in item order.
        """
        return files

    @property
    def items(self) -> list[Any]:
        """The items ``setup`` returned (``FileMetadata`` or lists of them), in item order."""
        return self._items

    @items.setter
    def items(self, items: list[Any]) -> None:
        """Replace the items: streaming, ``len`` and ``dataset[i]`` follow the new list."""
        self._items = check_items(items)
        self.source.arrange(self._layout(self.source, self._items))
        self._replan()

    @property
    def files(self) -> list[FileMetadata]:
        """Every listed file (full path or URL, size), in listing order."""
        return [FileMetadata(self.source.file_path(n), size) for n, (_, size) in enumerate(self.source.files)]

    def _layout(self, source: RawFilesSource, items: list[Any]) -> ItemLayout:
        number_of = {source.file_path(n): n for n in range(len(source.files))}
        return layout_of(items, number_of, lambda meta: source.add_file(meta.path, meta.size))

    def _setup_layout(self, source: RawFilesSource) -> ItemLayout:
        metas = [FileMetadata(source.file_path(n), size) for n, (_, size) in enumerate(source.files)]
        self._items = check_items(self.setup(metas))
        return self._layout(source, self._items)

    def _replan(self) -> None:
        """Rebuild the epoch plan's view of the source after its items changed."""
        self._plan_chunks(self.source.index.chunk_sizes())
        self.__dict__.pop("_prefetch", None)

    def _positions(self) -> int:
        return len(self._selection)

    def _item_number(self, position: int) -> int:
        chunk, within = self._selection.locate(position)
        return int(self._offsets[chunk]) + int(within)

    def _open_source(self, input_dir: str | os.PathLike[str], **options: Any) -> RawFilesSource:
        url = os.fspath(input_dir)
        if "://" not in url:
            url = os.path.abspath(os.path.expanduser(url))
        source = RawFilesSource(
            url,
            cache_dir=options["cache_dir"],
            max_cache_bytes=options["max_cache_bytes"],
            storage_options=options["storage_options"],
            item_type=self.item_type,
            recompute_index=self.recompute_index,
            files_per_chunk=self.files_per_chunk,
            concurrent_gets=self.max_concurrent_downloads or CONCURRENT_GETS,
            extensions=self._indexer[0],
            max_depth=self._indexer[1],
            layout=self._setup_layout,
        )
        self.cache_manager = RawFileFetcher(
            source.store, dataset_cache_dir(options["cache_dir"], source.url, "raw-random-access"),
            cache_files=self.cache_files, max_concurrent_downloads=self.max_concurrent_downloads)
        return source


def _indexer_filters(indexer: Any) -> tuple[list[str] | None, int | None]:
    """``(extensions, max_depth)`` of LitData's ``FileIndexer``."""
    if indexer is None:
        return None, None
    if type(indexer).__name__ != "FileIndexer" or not hasattr(indexer, "extensions"):
        raise TypeError(f"indexer must be LitData's FileIndexer(max_depth=..., extensions=...), got "
                        f"{type(indexer).__name__}: custom indexers are not supported")
    return [e.lower() for e in indexer.extensions or []] or None, int(indexer.max_depth)
