"""A read-only file over a store object, for pyarrow: reads become ranged GETs.

A parquet reader needs the footer and then the column chunks of the row groups it
reads, not the whole file. Segments already fetched (the footer, a row group's byte
range fetched in one request) are served from memory; anything else becomes one
``Store.get_range`` call.
"""

from __future__ import annotations

import io

from litdata_storage import Store


class RangedFile(io.RawIOBase):
    """Object ``key`` of ``store`` (``size`` bytes) as a seekable binary file."""

    def __init__(self, store: Store, key: str, size: int, segments: dict[int, bytes] | None = None) -> None:
        super().__init__()
        self.store, self.key, self.size = store, key, size
        self._segments = dict(segments or {})
        self._pos = 0
        self.requests = 0

    def add_segment(self, start: int, data: bytes) -> None:
        """Remember bytes already fetched from ``start`` so that reads within them need no request."""
        self._segments[start] = data

    def readable(self) -> bool:
        """Return True: the file can be read."""
        return True

    def seekable(self) -> bool:
        """Return True: any position can be read, by a ranged GET."""
        return True

    def tell(self) -> int:
        """The current read position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the read position (``whence`` as in :meth:`io.IOBase.seek`) and return it."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def _read_range(self, start: int, end: int) -> bytes:
        for seg_start, data in self._segments.items():
            if seg_start <= start and end <= seg_start + len(data):
                return data[start - seg_start : end - seg_start]
        self.requests += 1
        return self.store.get_range(self.key, start, end)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Read into ``buffer`` from the current position and return the number of bytes read."""
        start = self._pos
        end = min(start + len(buffer), self.size)
        if end <= start:
            return 0
        data = self._read_range(start, end)
        buffer[: len(data)] = data
        self._pos = start + len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all the rest when negative) from the current position."""
        end = self.size if size is None or size < 0 else min(self._pos + size, self.size)
        if end <= self._pos:
            return b""
        data = self._read_range(self._pos, end)
        self._pos += len(data)
        return data
