"""The chunk entries of a loaded ``index.json``, kept as columns instead of objects.

Why: every process that opens a dataset parses its index, and each DataLoader worker
forked from it inherits (and counts in its RSS) whatever the parent kept. Kept as one
:class:`~litdata_format.index.ChunkInfo` per entry, with its strings, ints and dict, a
100,000-chunk index (a billion samples in 10,000-item chunks) holds about 60 MB in every
process of a loader; as columns (numpy arrays, the file names in one UTF-8 buffer) it
holds about 4 MB, and the parser's temporary objects go back to the allocator as a whole.

A :class:`ChunkTable` is a ``Sequence[ChunkInfo]``: code that iterates or indexes
``index.chunks`` keeps working, each entry made when first asked for and kept from then on,
so that a change to an entry (``index.chunks[0].chunk_size = 6``) is what a later read, a
column and ``Index.dump`` see. Code that needs a column over every chunk (item counts for
the epoch plan) takes the numpy array instead and makes no entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

if TYPE_CHECKING:
    from .index import ChunkInfo

NO_DIM = -1  # the ``dims`` column's value for an entry without ``dim``


class ChunkTable(Sequence["ChunkInfo"]):
    """Chunk entries in reading order: names, item counts, byte sizes, token counts.

    Rare fields (``checksum``, unknown keys) are kept per entry only where present.

    Args:
        names: Each chunk's file name.
        sizes: Each chunk's item count.
        byte_sizes: Each chunk's size in bytes, as the index records it.
        dims: Each chunk's token count, or None for datasets that are not token datasets.
        checksums: Each chunk's checksum string or None; no checksums by default.
        extras: Unknown index keys of some entries, by position, kept so a dump loses nothing.
    """

    __slots__ = ("_names", "_sizes", "_bytes", "_dims", "_checksums", "_extras", "_made")

    def __init__(
        self,
        names: Sequence[str],
        sizes: Sequence[int],
        byte_sizes: Sequence[int],
        dims: Sequence[int | None],
        checksums: Sequence[str | None] | None = None,
        extras: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self._names = StringColumn(names)
        self._sizes = _column(sizes)
        self._bytes = _column(byte_sizes)
        self._dims = _column(NO_DIM if d is None else d for d in dims)
        if len(self._dims) and (self._dims == NO_DIM).all():  # no entry has a dim: one value for all
            self._dims = np.broadcast_to(np.int64(NO_DIM), self._dims.shape)
        self._checksums = checksum_column([None] * len(names) if checksums is None else checksums)
        self._extras = {i: e for i, e in (extras or {}).items() if e}
        self._made: dict[int, ChunkInfo] = {}  # entries handed out (and maybe changed since)
        lengths = {len(self._names), len(self._sizes), len(self._bytes), len(self._dims), len(self._checksums)}
        if len(lengths) != 1:
            raise ValueError("ChunkTable: the columns differ in length")

    @classmethod
    def from_infos(cls, infos: Iterable[ChunkInfo]) -> ChunkTable:
        """Build a table from :class:`ChunkInfo` objects (the inverse of iterating a table).

        Args:
            infos: The entries in reading order.
        """
        infos = list(infos)
        return cls(
            [c.filename for c in infos], [c.chunk_size for c in infos], [c.chunk_bytes for c in infos],
            [c.dim for c in infos], [c.checksum for c in infos],
            {i: c.extra for i, c in enumerate(infos) if c.extra},
        )

    # -- columns -------------------------------------------------------------------------
    @property
    def sizes(self) -> np.ndarray:
        """Items per chunk (int64, read-only)."""
        return self._with_made(self._sizes, "chunk_size")

    @property
    def byte_sizes(self) -> np.ndarray:
        """Bytes per chunk file (int64, read-only)."""
        return self._with_made(self._bytes, "chunk_bytes")

    @property
    def dims(self) -> np.ndarray:
        """Tokens per chunk (int64, read-only); :data:`NO_DIM` where the entry has no ``dim``."""
        return self._with_made(self._dims, "dim")

    def filename(self, i: int) -> str:
        """The file name of entry ``i`` without making the whole entry."""
        i = self._position(i)
        made = self._made.get(i)
        if made is not None:
            return made.filename
        name = self._names[i]
        assert name is not None
        return name

    def _with_made(self, column: np.ndarray, attr: str) -> np.ndarray:
        """``column`` with the current values of the entries handed out (they may have changed)."""
        if not self._made:
            return column
        changed: np.ndarray = column.copy()
        for k, entry in self._made.items():
            value = getattr(entry, attr)
            changed[k] = NO_DIM if value is None else value
        changed.flags.writeable = False
        return changed

    def filenames(self) -> list[str]:
        """Every entry's file name, in reading order."""
        return [self.filename(i) for i in range(len(self))]

    # -- Sequence ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._sizes)

    @overload
    def __getitem__(self, i: int) -> ChunkInfo: ...
    @overload
    def __getitem__(self, i: slice) -> list[ChunkInfo]: ...
    def __getitem__(self, i: int | slice) -> ChunkInfo | list[ChunkInfo]:
        """Entry ``i`` (negative counts from the end), or a list of entries for a slice."""
        if isinstance(i, slice):
            return [self._entry(k) for k in range(*i.indices(len(self)))]
        return self._entry(self._position(i))

    def __iter__(self) -> Iterator[ChunkInfo]:
        return (self._entry(k) for k in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # compares by content, like a list

    def __add__(self, other: Iterable[ChunkInfo]) -> list[ChunkInfo]:
        return [*self, *other]

    def __radd__(self, other: Iterable[ChunkInfo]) -> list[ChunkInfo]:
        return [*other, *self]

    def __repr__(self) -> str:
        return f"ChunkTable({len(self)} chunks)"

    def _position(self, i: int) -> int:
        n = len(self)
        k = i + n if i < 0 else i
        if not 0 <= k < n:
            raise IndexError(f"chunk {i} out of range: the index lists {n} chunks")
        return k

    def _entry(self, k: int) -> ChunkInfo:
        made = self._made.get(k)
        if made is None:
            from .index import ChunkInfo

            dim = int(self._dims[k])
            extra = self._extras.get(k)
            made = self._made[k] = ChunkInfo(
                self.filename(k), int(self._sizes[k]), int(self._bytes[k]), None if dim == NO_DIM else dim,
                self._checksums[k], dict(extra) if extra else {},
            )
        return made


class StringColumn:
    """Strings (or None) in one UTF-8 buffer with their end offsets: no object per string."""

    __slots__ = ("_data", "_ends", "_present")

    def __init__(self, values: Sequence[str | None]) -> None:
        encoded = [b"" if v is None else v.encode() for v in values]
        self._data = b"".join(encoded)
        ends = np.cumsum(np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded)))
        self._ends = ends.astype(np.uint32) if len(self._data) < 2**32 else ends
        present = np.fromiter((v is not None for v in values), dtype=bool, count=len(encoded))
        self._present: np.ndarray | bool = bool(present.all()) if present.all() or not present.any() else present

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str | None:
        present = self._present
        if not (present if isinstance(present, bool) else present[i]):
            return None
        start = int(self._ends[i - 1]) if i else 0
        return self._data[start:int(self._ends[i])].decode()


class Crc32Column:
    """Checksums that are all ``crc32:`` and eight lowercase hex digits (what our writer
    and LitData write), as one uint32 each."""

    __slots__ = ("_values",)
    PATTERN = re.compile(r"crc32:[0-9a-f]{8}")

    def __init__(self, values: Sequence[str]) -> None:
        self._values = np.fromiter((int(v[6:], 16) for v in values), dtype=np.uint32, count=len(values))

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, i: int) -> str:
        return f"crc32:{int(self._values[i]):08x}"


def checksum_column(values: Sequence[str | None]) -> StringColumn | Crc32Column:
    """Store checksums compactly: as uint32 when all are ``crc32:`` strings, else as strings."""
    match = Crc32Column.PATTERN.fullmatch
    if all(v is not None and match(v) for v in values):
        return Crc32Column(values)  # type: ignore[arg-type]  # no None among them
    return StringColumn(values)


def _column(values: Iterable[int]) -> np.ndarray:
    column = np.fromiter(values, dtype=np.int64)
    column.flags.writeable = False
    return column


def chunk_sizes(chunks: Sequence[ChunkInfo]) -> np.ndarray:
    """Items per chunk of any chunk sequence (a table's column, or counted from a list)."""
    if isinstance(chunks, ChunkTable):
        return chunks.sizes
    return np.fromiter((c.chunk_size for c in chunks), dtype=np.int64, count=len(chunks))


def chunk_byte_sizes(chunks: Sequence[ChunkInfo]) -> np.ndarray:
    """Bytes per chunk of any chunk sequence (a table's column, or counted from a list)."""
    if isinstance(chunks, ChunkTable):
        return chunks.byte_sizes
    return np.fromiter((c.chunk_bytes for c in chunks), dtype=np.int64, count=len(chunks))


def chunk_dims(chunks: Sequence[ChunkInfo]) -> np.ndarray:
    """Tokens per chunk; :data:`NO_DIM` where an entry has none."""
    if isinstance(chunks, ChunkTable):
        return chunks.dims
    return np.fromiter((NO_DIM if c.dim is None else c.dim for c in chunks), dtype=np.int64, count=len(chunks))


def chunk_filename(chunks: Sequence[ChunkInfo], i: int) -> str:
    """Entry ``i``'s file name, without making the entry where ``chunks`` is a table."""
    if isinstance(chunks, ChunkTable):
        return chunks.filename(i)
    return chunks[i].filename
