"""``align_chunking=True`` writes the chunks LitData 0.2.76 writes for the same call.

The vector ``align_chunking`` was written by LitData itself (20 items, ``chunk_size=3``,
3 workers): every worker but the last holds whole chunks, the last the rest. Ours must
give the same chunk files, byte for byte, and the same index entries.
"""

from __future__ import annotations

import json

from litdata import optimize
from tests.litdata_vectors import VECTORS_DIR

VECTOR = VECTORS_DIR / "data" / "align_chunking"


def _item(i):
    return (i, f"item {i}")


def test_same_chunks_as_litdata(tmp_path):
    out = tmp_path / "aligned"
    optimize(_item, list(range(20)), str(out), chunk_size=3, align_chunking=True, num_workers=3, verbose=False)
    theirs = json.loads((VECTOR / "index.json").read_text())
    ours = json.loads((out / "index.json").read_text())
    keys = ("filename", "chunk_size", "chunk_bytes")
    assert [[c[k] for k in keys] for c in ours["chunks"]] == [[c[k] for k in keys] for c in theirs["chunks"]]
    for chunk in theirs["chunks"]:
        assert (out / chunk["filename"]).read_bytes() == (VECTOR / chunk["filename"]).read_bytes()
