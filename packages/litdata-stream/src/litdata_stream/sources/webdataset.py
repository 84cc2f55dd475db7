"""WebDataset ``.tar`` shards (or gzipped: ``.tar.gz``, ``.tgz``) as a source: one chunk per
shard, one item per sample.

A sample is the run of consecutive tar members sharing a key (the member path up to
the first dot of its file name, as WebDataset splits it), handed out as
``{"__key__": key, "__url__": shard URL, ext: bytes, ...}`` (extensions lowercased);
decoding is left to the transform. Members with no dot in the file name, and
WebDataset's ``__*__`` metadata members, are skipped.

The plan needs every shard's sample count up front, and random access needs each
member's byte offset, so each shard's headers are walked once per node (the first
process, under a lock) with :mod:`tarfile`, over the local file or the shard's copy in
the chunk cache, and the offsets kept in ``.wds_index.json`` in the dataset's cache
folder, whose name carries a hash of the shard names and sizes. A remote shard is
thus downloaded once when indexed and read from the cache afterwards (re-fetched if
evicted under ``max_cache_size``).

A gzipped shard has no random access, so it is always read from the cache: it is fetched
(downloaded, or copied from a local folder) and decompressed there once, and its members'
offsets are those of the decompressed tar. Its cache room is the stored size plus the
decompressed size (the gzip trailer's ISIZE, read with one ranged request, before the
shard is fetched; checked against what decompressing really gives).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import struct
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litdata_format import ChunkFormatError, ChunkInfo, Index, IndexConfig
from litdata_storage import NotFoundError, Store, open_store

from ..cache import ChunkCache, dataset_cache_dir
from .base import PassThroughDecoder, in_place_file, reads_in_place
from .held_chunks import OpenSourceChunks
from .node_file import built_once

WEBDATASET_LOADER = "WebDataset"
_HIDDEN_INDEX = ".wds_index.json"
SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_GZIP_SUFFIXES = (".tar.gz", ".tgz")
#: Remote shards downloaded at once while the index is built.
INDEX_THREADS = 8
_KEY = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")
_BRACE = re.compile(r"\{([^{}]*)\}")


def expand_braces(pattern: str) -> list[str]:
    """``shard-{000..009}.tar`` and ``{a,b}`` alternatives expanded, in order (zero padding
    kept from the range's first bound)."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    head, tail = pattern[:match.start()], pattern[match.end():]
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        lo, hi = numeric.groups()
        width = len(lo) if lo.startswith("0") else 0
        if int(hi) < int(lo):
            raise ValueError(f"{pattern!r}: the range {{{body}}} runs backwards")
        options = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
    else:
        options = body.split(",")
    return [x for option in options for x in expand_braces(head + option + tail)]


def is_tar_url(url: str) -> bool:
    """Whether ``url`` names tar shards itself (one ``.tar``/``.tar.gz``/``.tgz`` or a brace
    pattern of them)."""
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last.endswith(SHARD_SUFFIXES) or ("{" in last and (".tar" in last or ".tgz" in last))


def is_gzipped(key: str) -> bool:
    """Whether the shard ``key`` is a gzipped tar."""
    return key.endswith(_GZIP_SUFFIXES)


def decompressed_name(key: str) -> str:
    """The cache name of shard ``key``: a gzipped shard's ``.tar`` name, else ``key``."""
    if key.endswith(".tgz"):
        return key[: -len(".tgz")] + ".tar"
    return key[: -len(".gz")] if key.endswith(".tar.gz") else key


def split_member(name: str) -> tuple[str | None, str | None]:
    """``(key, extension)`` of a member path, as WebDataset splits it."""
    match = _KEY.match(name)
    return (match.group(1), match.group(2)) if match else (None, None)


def walk_tar(path: str, url: str) -> list[list[Any]]:
    """The samples of the tar at ``path``: ``[key, [[ext, offset, size], ...]]`` each.

    A member whose data runs past the end of the file (a truncated shard) or a header
    ``tarfile`` cannot parse is a :class:`ChunkFormatError` naming ``url``.
    """
    size = os.path.getsize(path)
    samples: list[list[Any]] = []
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.offset_data + member.size > size:
                    raise ChunkFormatError(f"{url} is truncated: member {member.name!r} needs bytes up to "
                                           f"{member.offset_data + member.size}, the file has {size}")
                if not member.isreg():
                    continue
                name = member.name
                if "/" not in name and name.startswith("__") and name.endswith("__"):
                    continue
                key, ext = split_member(name)
                if key is None or ext is None:
                    continue
                ext = ext.lower()
                if not samples or samples[-1][0] != key:
                    samples.append([key, []])
                elif any(e == ext for e, _, _ in samples[-1][1]):
                    raise ChunkFormatError(f"{url}: sample {key!r} has two members with extension {ext!r}")
                samples[-1][1].append([ext, member.offset_data, member.size])
            end = tar.offset
    except tarfile.TarError as exc:
        raise ChunkFormatError(f"{url} is truncated or corrupt: not a readable tar file ({exc})") from None
    if end > size:
        raise ChunkFormatError(f"{url} is truncated: its last member ends at byte {end}, the file has {size}")
    return samples


class TarShard:
    """One shard open for reading: ``item(k)`` reads sample ``k``'s members by offset."""

    def __init__(self, path: str, name: str, url: str, samples: list[list[Any]]) -> None:
        self.name = name
        self._url = url
        self._samples = samples
        self._fd = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self._samples)

    def item(self, k: int) -> dict[str, Any]:
        """Sample ``k`` as a dict: ``__key__``, ``__url__`` and the bytes of each member by extension.

        Raises:
            ChunkFormatError: if a member is cut short (a truncated shard).
        """
        key, members = self._samples[k]
        sample: dict[str, Any] = {"__key__": key, "__url__": self._url}
        for ext, offset, size in members:
            data = os.pread(self._fd, size, offset)
            if len(data) != size:
                raise ChunkFormatError(f"{self._url}: sample {key!r} member .{ext} is cut short (truncated shard)")
            sample[ext] = data
        return sample

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            os.close(self._fd)


class WebDatasetSource:
    """The ``.tar`` shards of a folder, a single ``.tar`` or a brace pattern, wherever stored."""

    kind = "webdataset"

    def __init__(
        self,
        input_dir: str,
        *,
        cache_dir: str,
        max_cache_bytes: int | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.url = input_dir
        self.storage_options = dict(storage_options or {})
        if is_tar_url(input_dir):
            root, _, pattern = input_dir.rstrip("/").rpartition("/")
            root = root or "/"
            self.store: Store = open_store(root, **self.storage_options)
            files = []
            for name in expand_braces(pattern):
                try:
                    files.append((name, self.store.size(name)))
                except (NotFoundError, FileNotFoundError):
                    raise FileNotFoundError(f"shard {self.store.url(name)} does not exist") from None
        else:
            self.store = open_store(input_dir, **self.storage_options)
            keys = sorted(k for k in self.store.list("") if k.endswith(SHARD_SUFFIXES)
                          and not os.path.basename(k).startswith((".", "_")))
            if not keys:
                raise FileNotFoundError(f"no .tar shards under {self.store.url()}")
            files = [(k, self.store.size(k)) for k in keys]
        version = "wds2-" + hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
        self.cache = ChunkCache(dataset_cache_dir(cache_dir, self.url, version), max_cache_bytes)
        gzipped = any(is_gzipped(k) for k, _ in files)  # then every shard goes through the cache
        self._in_place = not gzipped and reads_in_place(self.store)
        self.files = files
        self._local_sizes: dict[str, int] = {}  # bytes of each shard once local (filled by _index)
        self.sample_encryption = self.chunk_encryption = None
        self.item_decoder = PassThroughDecoder()
        shards = self._index(self.cache.folder)
        keep = [i for i, s in enumerate(shards) if s]
        if not keep:
            raise ValueError(f"{self.url}: the tar shards hold no samples")
        self._files = [files[i] for i in keep]
        self._samples = [shards[i] for i in keep]
        chunks = [ChunkInfo(filename=k, chunk_size=len(s), chunk_bytes=max(self._local_sizes[k], 1))
                  for (k, _), s in zip(self._files, self._samples)]
        self.index = Index(chunks=chunks, config=IndexConfig(data_format=[], data_spec=None,
                                                             item_loader=WEBDATASET_LOADER), updated_at=version)

    def _index(self, folder: str) -> list[list[list[Any]]]:
        """Every shard's samples (built once per node, kept in the cache folder); also
        fills the shards' local sizes."""

        def one(file: tuple[str, int]) -> list[list[Any]]:
            key, size = file
            self._local_sizes[key] = self._local_size(key, size)
            local = self._ensure_file(key, size)
            self._local_sizes[key] = os.path.getsize(local)  # exact, past 4 GiB too
            return walk_tar(local, self.store.url(key))

        def build() -> dict[str, Any]:
            if self._in_place or len(self.files) == 1:
                shards = [one(f) for f in self.files]
            else:  # remote shards are downloaded to be indexed: several at a time (threads ended on return)
                with ThreadPoolExecutor(max_workers=min(INDEX_THREADS, len(self.files)),
                                        thread_name_prefix="litdata-wds-index") as pool:
                    shards = list(pool.map(one, self.files))
            return {"samples": shards, "local_sizes": [self._local_sizes[k] for k, _ in self.files]}

        saved = built_once(folder, _HIDDEN_INDEX, build)
        self._local_sizes = dict(zip((k for k, _ in self.files), saved["local_sizes"]))
        samples: list[list[list[Any]]] = saved["samples"]
        return samples

    def _local_size(self, key: str, size: int) -> int:
        """Bytes of shard ``key`` once local: its size, or a gzipped shard's ISIZE trailer."""
        if not is_gzipped(key):
            return size
        if size < 18:  # a gzip header and trailer alone take 18 bytes
            raise ChunkFormatError(f"{self.store.url(key)} is truncated or corrupt: {size} bytes, not a gzip file")
        isize: int
        (isize,) = struct.unpack("<I", self.store.get_range(key, size - 4, size))
        return isize

    def _room(self, key: str, size: int) -> int:
        """Cache bytes fetching shard ``key`` may use: a gzipped one briefly needs both copies."""
        return size + self._local_sizes[key] if is_gzipped(key) else size

    def _ensure_file(self, key: str, size: int) -> str:
        if self._in_place:
            path = in_place_file(self.store, key)
            return path
        name = decompressed_name(key)
        self.cache.ensure(name, self._room(key, size), lambda p: self._fetch(key, size, p))
        return self.cache.path(name)

    def _fetch(self, key: str, size: int, final: str) -> None:
        tmp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.download")
        unpacked = f"{tmp}.tar"
        try:
            got = self.store.download(key, tmp)
            if got != size:
                raise ChunkFormatError(f"{self.store.url(key)} has {got} bytes, it had {size} when listed: "
                                       "the shard changed")
            if is_gzipped(key):
                self._decompress(key, tmp, unpacked)
                os.replace(unpacked, final)
            else:
                os.replace(tmp, final)
        finally:
            for path in (tmp, unpacked):
                if os.path.exists(path):
                    os.unlink(path)

    def _decompress(self, key: str, source: str, target: str) -> None:
        try:
            with gzip.open(source, "rb") as packed, open(target, "wb") as out:
                shutil.copyfileobj(packed, out, 1 << 20)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:  # OSError: "Not a gzipped file"
            raise ChunkFormatError(f"{self.store.url(key)} is truncated or corrupt: not a readable gzip file "
                                   f"({exc})") from None
        got, expected = os.path.getsize(target), self._local_sizes[key]
        if got % 2**32 != expected:
            raise ChunkFormatError(f"{self.store.url(key)} decompresses to {got} bytes, its gzip trailer says "
                                   f"{expected}: the shard is corrupt")
        self._local_sizes[key] = got

    # -- the source interface --------------------------------------------------------
    def describe(self, number: int) -> str:
        """A readable name of shard ``number`` for error messages (its URL)."""
        return f"shard {self.store.url(self._files[number][0])}"

    def local_name(self, number: int) -> str:
        """The cache file name of shard ``number`` (its key in the store, ``.tar`` for a gzipped one)."""
        return decompressed_name(self._files[number][0])

    def reads_in_place(self, number: int) -> bool:
        """Whether the shards are read where they are stored (a local folder)."""
        return self._in_place

    def local_path(self, number: int) -> str:
        """The local file shard ``number`` is read from: the stored ``.tar``, or its cache copy."""
        if self._in_place:
            path = in_place_file(self.store, self._files[number][0])
            return path
        return self.cache.path(self.local_name(number))

    def ensure_local(self, number: int, *, wait: bool = True) -> bool:
        """Download shard ``number`` into the cache unless it is read in place.

        Returns False only when ``wait`` is False and the shard is not local yet.
        """
        if self._in_place:
            return True
        key, size = self._files[number]
        return self.cache.ensure(self.local_name(number), self._room(key, size),
                                 lambda p: self._fetch(key, size, p), wait=wait)

    def open_chunks(self) -> OpenSourceChunks[TarShard]:
        """A fresh set of open shards for this process."""
        return OpenSourceChunks(self)

    def read_chunk(self, number: int) -> TarShard:
        """Open local shard ``number``, checking it still has the size it was indexed with.

        Raises:
            ChunkFormatError: if the shard changed since it was indexed.
        """
        key, _ = self._files[number]
        path, size = self.local_path(number), self._local_sizes[key]
        if os.path.getsize(path) % 2**32 != size % 2**32:
            raise ChunkFormatError(f"{self.store.url(key)} has {os.path.getsize(path)} bytes, it had {size} when "
                                   "indexed: the shard changed")
        return TarShard(path, key, self.store.url(key), self._samples[number])


def iter_webdataset_tar(tar_path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The samples of one local WebDataset ``.tar``, in order: ``{"__key__": key,
    "__url__": tar_path, ext: bytes, ...}`` (LitData's name; grouped as
    :class:`WebDatasetSource` groups them). A truncated file raises
    :class:`ChunkFormatError` naming it before any sample is yielded.

    Args:
        tar_path: the path of a local ``.tar`` shard.

    Yields:
        One dict per sample: its key, the file's path and the bytes of each member by extension.
    """
    path = os.fspath(tar_path)
    shard = TarShard(path, os.path.basename(path), path, walk_tar(path, path))
    for k in range(len(shard)):
        yield shard.item(k)
