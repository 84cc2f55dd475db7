"""The LitData chunk format (ours and LitData 0.2.76's) as a source.

:class:`~litdata_stream.source.DatasetSource` already is this source: its chunks are
the index's chunk files, read through :class:`~litdata_stream.chunks.OpenChunks`. The
hot path of ``StreamingDataset`` reads it directly; this module only names it.
"""

from __future__ import annotations

from ..chunks import OpenChunks
from ..source import DatasetSource

LitDataSource = DatasetSource


def open_chunks(source: DatasetSource) -> OpenChunks:
    """Open the LitData chunks of ``source`` for reading in this process."""
    return OpenChunks(source)
