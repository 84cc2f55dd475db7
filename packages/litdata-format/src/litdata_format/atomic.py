"""Writing a file so that readers see all of it or none of it.

The data goes to a temporary file in the destination folder (so the final rename stays on
one filesystem and is atomic), which then replaces ``path``. Chunks, ``index.json`` and
the keys index of every package go through :func:`write_file_atomic`.
"""

from __future__ import annotations

import os
import tempfile
import zlib


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: The mode of files this package writes: what ``open()`` would give them.
FILE_MODE = _default_file_mode()


def write_file_atomic(path: str, data: bytes | memoryview | list[bytes]) -> int:
    """Write ``data`` (bytes, or pieces written one after another) to ``path`` through a
    temporary file and a rename; returns the CRC-32 of what was written."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    os.chmod(tmp, FILE_MODE)  # mkstemp creates 0600: others on a shared drive could not read
    crc = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in data if isinstance(data, list) else [data]:
                f.write(piece)
                crc = zlib.crc32(piece, crc)
        os.replace(tmp, path)
        return crc & 0xFFFFFFFF
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
