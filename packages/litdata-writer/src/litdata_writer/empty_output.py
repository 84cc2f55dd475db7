"""A run in which ``fn`` stored nothing (it returned or yielded only ``None``).

LitData 0.2.76 finishes such a run normally and writes an ``index.json`` with no chunks
and no config: ``{"chunks": [], "config": null, "updated_at": "..."}``. We write the same,
so code that filters everything out does not crash where LitData's does not (LitData's
``StreamingDataset`` then refuses the folder: it has no chunks to read).
"""

from __future__ import annotations

import time

from litdata_format import INDEX_FILENAME, Index
from litdata_storage import Store

from .output_lock import check_still_held


def nothing_stored(partials: dict[int, Index], old_index: Index | None) -> bool:
    """True when no rank wrote a chunk and there is no earlier dataset to keep."""
    return not any(part.chunks for part in partials.values()) and (old_index is None or not old_index.chunks)


def publish_empty(store: Store) -> Index:
    """Publish the ``index.json`` of a run that stored nothing (no chunks, no config); return it.

    Checks first that this run still holds the output lock, as any publication does.
    """
    index = Index(chunks=[], config=None)
    index.updated_at = str(time.time())
    check_still_held(store)
    store.put(INDEX_FILENAME, index.to_json().encode())
    return index
