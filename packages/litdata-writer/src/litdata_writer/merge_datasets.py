"""``merge_datasets``: one optimized dataset made of the chunks of several.

Chunks are self-contained, so datasets written with the same item layout merge by
copying their chunk files side by side and writing one index that lists them all, in
the order of ``input_dirs``: item ``i`` of the merged dataset is item ``i`` of the
concatenation of the inputs. Chunks are renamed ``chunk-0-{n}`` (keeping their
suffix, such as ``.zstd.bin``) so names never collide; the target chunk size and byte
budget may differ between inputs (they only steered how the chunks were cut).

Nothing is visible before the copy is complete: ``index.json`` is written last, and a
failed copy removes the chunks it had written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litdata_format import INDEX_FILENAME, ChunkInfo, DatasetExistsError, Index, IndexConfig
from litdata_storage import Store, open_store

from .modes import ConfigMismatchError, read_index

#: Settings that must agree for chunks to be read under one index.
MERGE_KEYS = ("data_format", "data_spec", "compression", "compression_level", "compression_batch_size",
              "item_loader", "encryption")

_CHUNK_NAME = re.compile(r"^chunk-\d+-\d+(?P<suffix>\..*)?$")


def _url(path: str) -> str:
    return path if "://" in path else os.path.abspath(os.path.expanduser(os.fspath(path)))


def _open(url: str, options: dict[str, Any]) -> Store:
    # storage_options are the cloud's (endpoint, credentials): a local folder takes none
    remote = "://" in url and not url.startswith("file://")
    return open_store(url, **options) if remote else open_store(url)


def merged_name(old: str, number: int) -> str:
    """The merged dataset's name for chunk ``number`` (old name ``old``): its suffix kept."""
    match = _CHUNK_NAME.match(old)
    suffix = (match.group("suffix") if match else None) or ".bin"
    return f"chunk-0-{number}{suffix}"


def config_mismatch(urls: list[str], configs: list[IndexConfig | None]) -> ConfigMismatchError | None:
    """The error naming the first dataset whose config differs from the first's, and the keys."""
    first = configs[0]
    for url, config in zip(urls[1:], configs[1:]):
        if first is None or config is None:
            if first is not config:
                return ConfigMismatchError(f"cannot merge {urls[0]} and {url}: only one of them has a config")
            continue
        keys = [k for k in MERGE_KEYS if getattr(first, k) != getattr(config, k)]
        if keys:
            details = "; ".join(f"{k}: {getattr(first, k)!r} in {urls[0]}, {getattr(config, k)!r} in {url}"
                                for k in keys)
            return ConfigMismatchError(f"cannot merge {urls[0]} and {url}: their configs differ ({details})")
    return None


def _copy(source: Store, old: str, target: Store, new: str) -> None:
    with tempfile.TemporaryDirectory(prefix="litdata-merge-") as folder:
        local = os.path.join(folder, "chunk")
        source.download(old, local)
        target.put_file(new, local)


def merge_datasets(
    input_dirs: list[str],
    output_dir: str,
    max_workers: int | None = os.cpu_count(),
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Write to ``output_dir`` one dataset holding the items of every dataset of
    ``input_dirs``, in that order (LitData's ``merge_datasets``).

    Args:
        input_dirs: two or more optimized datasets (local folders or URLs) with the same
            item layout (data format, compression, item loader, encryption).
        output_dir: where the merged dataset goes (local or a URL); it must not hold a
            dataset already.
        max_workers: chunks copied at once.
        storage_options: passed to every cloud store (endpoint, credentials, ...); local
            folders and URLs may be mixed.

    Raises:
        ValueError: fewer than two inputs, ``output_dir`` among them, or an input without
            an ``index.json``.
        ConfigMismatchError: (a ``ValueError``) two inputs written with different configs,
            naming both and the keys that differ.
        DatasetExistsError: ``output_dir`` already holds an ``index.json``.
    """
    if len(input_dirs) == 0:
        raise ValueError("The input directories needs to be defined.")
    if len(input_dirs) == 1:
        raise ValueError("There should be more than 1 input directory")
    options = dict(storage_options or {})
    urls = [_url(d).rstrip("/") for d in input_dirs]
    out_url = _url(output_dir).rstrip("/")
    if out_url in urls:
        raise ValueError(f"output_dir {out_url} is one of the input_dirs: merge into another folder")
    sources = [_open(u, options) for u in urls]
    target = _open(out_url, options)
    indexes: list[Index] = []
    for url, store in zip(urls, sources):
        index = read_index(store)
        if index is None:
            raise ValueError(f"{url} has no {INDEX_FILENAME}: every input_dir must be an optimized dataset")
        indexes.append(index)
    if read_index(target) is not None:
        raise DatasetExistsError(f"{out_url} already holds an optimized dataset ({INDEX_FILENAME}): "
                                 "choose another output_dir")
    error = config_mismatch(urls, [i.config for i in indexes])
    if error is not None:
        raise error

    copies: list[tuple[Store, str, str]] = []
    chunks: list[ChunkInfo] = []
    for store, index in zip(sources, indexes):
        for chunk in index.chunks:
            new = merged_name(chunk.filename, len(chunks))
            copies.append((store, chunk.filename, new))
            chunks.append(dataclasses.replace(chunk, filename=new))
    written: list[str] = []
    try:
        with ThreadPoolExecutor(max_workers=max(int(max_workers or 1), 1),
                                thread_name_prefix="litdata-merge") as pool:
            futures = [(new, pool.submit(_copy, store, old, target, new)) for store, old, new in copies]
            failure: BaseException | None = None
            for new, future in futures:
                try:
                    future.result()
                    written.append(new)
                except BaseException as exc:  # keep collecting, so every written chunk is known
                    failure = failure or exc
            if failure is not None:
                raise failure
    except BaseException:
        for name in written:
            target.delete(name)
        raise
    merged = Index(chunks=chunks, config=indexes[0].config, updated_at=str(time.time()))
    target.put(INDEX_FILENAME, merged.to_json().encode())
