"""The names the writer uses inside an output folder, and which rank owns each.

``chunk-{rank}-{i}[.zstd].bin`` are chunks, ``{rank}.index.json`` partial indexes,
``.checkpoints/{rank}.json`` resume checkpoints and ``.checkpoints/node-{n}.failed`` the
marker a failing node leaves so node 0 stops waiting for it.
"""

from __future__ import annotations

import re

from litdata_format import INDEX_FILENAME

CHECKPOINT_PREFIX = ".checkpoints/"
_CHUNK = re.compile(r"^chunk-(\d+)-(\d+)\.")
_PARTIAL = re.compile(r"^(\d+)\.index\.json$")
_CHECKPOINT = re.compile(r"^\.checkpoints/(\d+)\.json$")

__all__ = [
    "CHECKPOINT_PREFIX",
    "INDEX_FILENAME",
    "checkpoint_key",
    "chunk_rank_and_number",
    "failed_marker_key",
    "owner_rank",
    "partial_index_key",
]


def partial_index_key(rank: int) -> str:
    """Key of the partial index that writer rank ``rank`` leaves once its share is stored."""
    return f"{rank}.index.json"


def checkpoint_key(rank: int) -> str:
    """Key of writer rank ``rank``'s resume checkpoint."""
    return f"{CHECKPOINT_PREFIX}{rank}.json"


def failed_marker_key(node_rank: int) -> str:
    """Key of the marker node ``node_rank`` leaves when it fails, so node 0 stops waiting for it."""
    return f"{CHECKPOINT_PREFIX}node-{node_rank}.failed"


def chunk_rank_and_number(name: str) -> tuple[int, int] | None:
    """(rank, chunk number) of a chunk file name, or None for any other name."""
    match = _CHUNK.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_chunk(name: str) -> bool:
    """True for a chunk file name (``chunk-{rank}-{i}...``)."""
    return _CHUNK.match(name) is not None


def owner_rank(key: str) -> int | None:
    """The writer rank a chunk, partial index or checkpoint belongs to; None for other keys."""
    for pattern in (_CHUNK, _PARTIAL, _CHECKPOINT):
        match = pattern.match(key)
        if match:
            return int(match.group(1))
    return None
