"""litdata: optimize datasets into chunks and stream them from any storage into PyTorch.

    from litdata import optimize, StreamingDataset, StreamingDataLoader

This meta-package re-exports the unified API of the four packages it depends on:
``litdata-writer`` (``optimize``, ``map``), ``litdata-stream`` (``StreamingDataset``,
``StreamingDataLoader``, ``CombinedStreamingDataset``, ``TokensLoader``,
``train_test_split``), ``litdata-format`` and ``litdata-storage``.

``import litdata`` is cheap: every name is imported on first access (PEP 562), so torch,
numpy and the cloud SDKs load only when the code that needs them is used.
``from litdata import StreamingDataset`` imports torch; ``from litdata import optimize``
does not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str]] = {
    # writing
    "optimize": ("litdata_writer", "optimize"),
    "map": ("litdata_writer", "map"),
    "build_keys_index": ("litdata_writer", "build_keys_index"),
    "merge_datasets": ("litdata_writer", "merge_datasets"),
    # reading
    "StreamingDataset": ("litdata_stream", "StreamingDataset"),
    "StreamingDataLoader": ("litdata_stream", "StreamingDataLoader"),
    "CombinedStreamingDataset": ("litdata_stream", "CombinedStreamingDataset"),
    "ParallelStreamingDataset": ("litdata_stream", "ParallelStreamingDataset"),
    "StreamingRawDataset": ("litdata_stream.raw_dataset", "StreamingRawDataset"),
    "FileMetadata": ("litdata_stream.raw_items", "FileMetadata"),
    "TokensLoader": ("litdata_stream", "TokensLoader"),
    "train_test_split": ("litdata_stream", "train_test_split"),
    "default_cache_root": ("litdata_stream", "default_cache_root"),
    # parquet datasets (needs pyarrow: litdata[parquet])
    "index_parquet_dataset": ("litdata_stream.sources.parquet", "index_parquet_dataset"),
    "index_hf_dataset": ("litdata_stream.sources.parquet", "index_hf_dataset"),
    # WebDataset shards
    "iter_webdataset_tar": ("litdata_stream.sources.webdataset", "iter_webdataset_tar"),
    # errors users may want to catch
    "ChecksumMismatchError": ("litdata_format", "ChecksumMismatchError"),
    "FormatError": ("litdata_format", "FormatError"),
    # encryption (needs the cryptography package: litdata[encryption])
    "Encryption": ("litdata_format", "Encryption"),
    "FernetEncryption": ("litdata_format", "FernetEncryption"),
    "RSAEncryption": ("litdata_format", "RSAEncryption"),
    "StorageError": ("litdata_storage", "StorageError"),
    # storage
    "open_store": ("litdata_storage", "open_store"),
}

# The four packages litdata is made of: distribution name -> import name.
PACKAGES: dict[str, str] = {
    "litdata-format": "litdata_format",
    "litdata-storage": "litdata_storage",
    "litdata-writer": "litdata_writer",
    "litdata-stream": "litdata_stream",
}

_VERSION_ATTRS = {
    "format_version": "litdata-format",
    "storage_version": "litdata-storage",
    "writer_version": "litdata-writer",
    "stream_version": "litdata-stream",
}


def _package_version(distribution: str) -> str:
    """The installed version of one sub-package, read from its metadata (no import: importing
    ``litdata_stream`` would load torch). Falls back to the module's ``__version__`` when the
    package is importable but has no metadata (e.g. put on ``sys.path`` by hand)."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        module = importlib.import_module(PACKAGES[distribution])
        return str(getattr(module, "__version__", "unknown"))


def versions() -> dict[str, str]:
    """``{"litdata": ..., "litdata-format": ..., ...}``: this package's version and each part's."""
    found = {"litdata": __version__}
    for distribution in PACKAGES:
        try:
            found[distribution] = _package_version(distribution)
        except ImportError:
            found[distribution] = "not installed"
    return found


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is not None:
        module_name, attribute = target
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value  # later accesses skip __getattr__
        return value
    if name in _VERSION_ATTRS:
        value = _package_version(_VERSION_ATTRS[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module 'litdata' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_VERSION_ATTRS))


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from litdata_format import ChecksumMismatchError, Encryption, FernetEncryption, FormatError, RSAEncryption
    from litdata_storage import StorageError, open_store
    from litdata_stream import (
        CombinedStreamingDataset,
        ParallelStreamingDataset,
        StreamingDataLoader,
        StreamingDataset,
        TokensLoader,
        default_cache_root,
        train_test_split,
    )
    from litdata_stream.raw_dataset import StreamingRawDataset
    from litdata_stream.raw_items import FileMetadata
    from litdata_stream.sources.parquet import index_hf_dataset, index_parquet_dataset
    from litdata_stream.sources.webdataset import iter_webdataset_tar
    from litdata_writer import build_keys_index, map, merge_datasets, optimize

__all__ = [
    "ChecksumMismatchError",
    "CombinedStreamingDataset",
    "Encryption",
    "FernetEncryption",
    "FileMetadata",
    "FormatError",
    "ParallelStreamingDataset",
    "RSAEncryption",
    "StorageError",
    "StreamingDataLoader",
    "StreamingDataset",
    "StreamingRawDataset",
    "TokensLoader",
    "__version__",
    "build_keys_index",
    "default_cache_root",
    "format_version",
    "index_hf_dataset",
    "index_parquet_dataset",
    "iter_webdataset_tar",
    "map",
    "merge_datasets",
    "open_store",
    "optimize",
    "storage_version",
    "stream_version",
    "train_test_split",
    "versions",
    "writer_version",
]
