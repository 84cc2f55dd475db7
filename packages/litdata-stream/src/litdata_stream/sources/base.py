"""What a data source tells the epoch plan, and how its chunks are read.

The plan (:mod:`litdata_stream.epoch_plan`) only needs the item count of every chunk: it
orders, splits, shuffles and resumes positions. A *source* is one on-disk format seen
through that lens: it lists its chunks (LitData chunk files, parquet row groups, ...),
makes a chunk's bytes local (in place, or through the node's :class:`ChunkCache`, within
``max_cache_size``) and opens a local chunk so that item ``k`` can be read from it.

The LitData format is one source (:class:`~litdata_stream.source.DatasetSource`, whose
attributes define this interface); the others plug in here with one module each.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from litdata_format import Index
from litdata_storage import Store

from ..cache import ChunkCache


@runtime_checkable
class Chunk(Protocol):
    """One open chunk: ``len(chunk)`` items, item ``k`` by :meth:`item`."""

    name: str

    def __len__(self) -> int: ...

    def item(self, k: int) -> Any:
        """Read item ``k`` (0-based, within this chunk)."""
        ...


class OpenChunkSet(Protocol):
    """The chunks one process holds open (see :class:`litdata_stream.chunks.OpenChunks`)."""

    keep_open: int

    def get(self, number: int) -> Chunk:
        """Chunk ``number``, opened (and made local) if it is not open yet."""
        ...

    def close(self) -> None:
        """Close every open chunk and release what it holds in the cache."""
        ...


@runtime_checkable
class ChunkSource(Protocol):
    """A dataset as chunks with item counts, wherever and however it is stored.

    ``index`` is a :class:`litdata_format.Index` describing the chunks (``chunk_size``:
    items, ``chunk_bytes``: the bytes a local copy takes); ``index.config.item_loader``
    names the format. A foreign source also sets ``item_decoder`` (an object whose
    ``decode(item)`` finishes an item read from a chunk) and :meth:`open_chunks`.
    """

    url: str
    store: Store
    index: Index
    cache: ChunkCache
    sample_encryption: Any
    chunk_encryption: Any

    def local_name(self, number: int) -> str:
        """The file name chunk ``number`` takes in the cache."""
        ...

    def reads_in_place(self, number: int) -> bool:
        """Whether chunk ``number`` is read where it is stored, without a cache copy."""
        ...

    def local_path(self, number: int) -> str:
        """The local file chunk ``number`` is read from once it is local."""
        ...

    def ensure_local(self, number: int, *, wait: bool = True) -> bool:
        """Make chunk ``number`` local (download it into the cache if needed).

        Returns False only when ``wait`` is False and the chunk is not local yet.
        """
        ...


class ReadableChunkSource(ChunkSource, Protocol):
    """A foreign source whose local chunk ``number`` opens as a :class:`Chunk`."""

    def read_chunk(self, number: int) -> Chunk:
        """Open local chunk ``number`` so its items can be read."""
        ...


class PassThroughDecoder:
    """The decoder of a source whose chunks hand out finished items."""

    @staticmethod
    def decode(item: Any) -> Any:
        """Return ``item`` as it is: it left its chunk finished."""
        return item


def reads_in_place(store: Store) -> bool:
    """Whether ``store`` is a plain local folder whose files are read where they are.

    The one test every source uses (the condition of ``Store.local_file``): a cloud store
    or a ``local:`` network drive is copied into the node cache first.
    """
    return store.local_folder is not None and not store.is_remote


def in_place_file(store: Store, key: str) -> str:
    """The local file holding ``key`` of a store that :func:`reads_in_place`."""
    path = store.local_file(key)
    if path is None:
        raise ValueError(f"{store.url(key)} is not read in place: copy it into the cache first")
    return path
