"""Checkpoints that let a rerun continue an interrupted ``optimize()``.

Each writer rank processes a fixed, deterministic list of tasks (see ``partition``), so
"how far did rank r get" is one number. Whenever one of its chunks is durably stored
(written locally, or uploaded), the rank records in ``.checkpoints/{rank}.json``:

- ``tasks_done``: tasks whose items are all in stored chunks;
- ``items_skip``: how many items of the next task are already in stored chunks too (a
  chunk can close in the middle of a generator's output);
- the chunks written so far, the next chunk number and the config.

Checkpoints are written at most once per ``LITDATA_CHECKPOINT_INTERVAL`` seconds (1 by
default) and at the end; chunks stored after the last checkpoint are simply written
again, under the same names, by the rerun.

A rerun with the same arguments finds a checkpoint with the same ``fingerprint`` (a hash
of the rank's inputs and of every setting that changes the bytes written), skips
``tasks_done`` tasks, calls ``fn`` on the next one again and drops its first
``items_skip`` items, and numbers new chunks from where it stopped. Because a chunk
closes at the same item whichever run writes it, the result is the very dataset an
uninterrupted run writes: no item lost, none repeated. (This assumes ``fn`` is
deterministic, as any rerun does.) A checkpoint that does not match is ignored and the
rank starts over, overwriting its old chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from litdata_format import ChunkInfo, IndexConfig
from litdata_format.errors import FormatError
from litdata_storage import NotFoundError, Store

from .names import checkpoint_key

CHECKPOINT_VERSION = 1
INTERVAL_ENV = "LITDATA_CHECKPOINT_INTERVAL"


def checkpoint_interval() -> float:
    """Seconds between checkpoints of one rank (``LITDATA_CHECKPOINT_INTERVAL``, default 1)."""
    value = os.environ.get(INTERVAL_ENV, "1")
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV}={value!r} is not a number of seconds") from None


def fingerprint(settings: dict[str, Any], arguments: Iterable[tuple[tuple[int, ...], Any]]) -> str:
    """A stable hash of a rank's work: the settings and each task's positions and ``repr``.

    An input whose ``repr`` changes from run to run (``<object at 0x...>``) makes the
    fingerprint differ, so such a run safely starts over instead of resuming wrongly.
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=repr).encode())
    for positions, argument in arguments:
        digest.update(repr(positions).encode())
        digest.update(b"\x00")
        digest.update(repr(argument).encode(errors="backslashreplace"))
        digest.update(b"\x01")
    return digest.hexdigest()[:32]


@dataclass
class Checkpoint:
    """How far one writer rank got, as stored in ``.checkpoints/{rank}.json`` (see the module docstring)."""

    fingerprint: str
    tasks_done: int = 0
    items_skip: int = 0
    next_chunk: int = 0
    chunks: list[ChunkInfo] = field(default_factory=list)
    config: IndexConfig | None = None

    def to_json(self) -> bytes:
        """The checkpoint as JSON bytes, tagged with the checkpoint format version."""
        return json.dumps(
            {
                "version": CHECKPOINT_VERSION,
                "fingerprint": self.fingerprint,
                "tasks_done": self.tasks_done,
                "items_skip": self.items_skip,
                "next_chunk": self.next_chunk,
                "chunks": [c.to_dict() for c in self.chunks],
                "config": None if self.config is None else self.config.to_dict(),
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, source: str) -> Checkpoint:
        """Parse the bytes ``to_json`` wrote; ``source`` names them in error messages.

        Raises ValueError for another format version; a malformed checkpoint raises ValueError,
        KeyError, TypeError or FormatError.
        """
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError(f"{source}: a checkpoint is a JSON object, got {type(raw).__name__}")
        if raw.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{source}: unknown checkpoint version {raw.get('version')!r}")
        return cls(
            fingerprint=str(raw["fingerprint"]),
            tasks_done=int(raw["tasks_done"]),
            items_skip=int(raw["items_skip"]),
            next_chunk=int(raw["next_chunk"]),
            chunks=[ChunkInfo.from_dict(c, f"{source}: chunks[{i}]") for i, c in enumerate(raw["chunks"])],
            config=None
            if raw["config"] is None
            else IndexConfig.from_dict(raw["config"], f"{source}: config"),
        )


def load_checkpoint(store: Store, rank: int, expected_fingerprint: str) -> Checkpoint | None:
    """The rank's checkpoint if it belongs to this very run, else None (start over)."""
    key = checkpoint_key(rank)
    try:
        data = store.get(key)
    except NotFoundError:
        return None
    try:
        checkpoint = Checkpoint.from_json(data, store.url(key))
    except (ValueError, KeyError, TypeError, FormatError):
        return None  # unreadable: treat as absent, the rank starts over
    return checkpoint if checkpoint.fingerprint == expected_fingerprint else None
