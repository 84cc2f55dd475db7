"""litdata-stream: stream optimized datasets from any storage into PyTorch training.

``StreamingDataset`` reads a dataset (local, ``local:``, ``s3://``, ``gs://``,
``azure://``); ``StreamingDataLoader`` loads it with pause and resume;
``CombinedStreamingDataset`` mixes several; ``ParallelStreamingDataset`` zips several; ``train_test_split`` splits one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Needs only the standard library: ``from litdata_stream import default_cache_root`` (the
# CLI's ``litdata cache``) does not import torch. Everything else loads on first use.
from .cache import default_cache_root

_LAZY: dict[str, str] = {
    "CombinedStreamingDataset": ".combined",
    "ParallelStreamingDataset": ".parallel",
    "StreamingDataLoader": ".loader",
    "StreamingDataset": ".dataset",
    "TokensLoader": ".tokens",
    "default_collate": ".collate",
    "train_test_split": ".split",
    "StreamingRawDataset": ".raw_dataset",
    "FileMetadata": ".raw_items",
    # parquet and WebDataset sources (pyarrow for parquet)
    "index_hf_dataset": ".sources.parquet",
    "index_parquet_dataset": ".sources.parquet",
    "iter_webdataset_tar": ".sources.webdataset",
}

if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from .collate import default_collate
    from .combined import CombinedStreamingDataset
    from .dataset import StreamingDataset
    from .loader import StreamingDataLoader
    from .parallel import ParallelStreamingDataset
    from .raw_dataset import StreamingRawDataset
    from .raw_items import FileMetadata
    from .sources.parquet import index_hf_dataset, index_parquet_dataset
    from .sources.webdataset import iter_webdataset_tar
    from .split import train_test_split
    from .tokens import TokensLoader

__version__ = "0.1.0"

__all__ = [
    "CombinedStreamingDataset",
    "FileMetadata",
    "ParallelStreamingDataset",
    "StreamingDataLoader",
    "StreamingDataset",
    "StreamingRawDataset",
    "TokensLoader",
    "default_cache_root",
    "default_collate",
    "index_hf_dataset",
    "index_parquet_dataset",
    "iter_webdataset_tar",
    "train_test_split",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
