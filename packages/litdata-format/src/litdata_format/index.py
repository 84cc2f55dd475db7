"""The ``index.json`` model: load, validate and dump a dataset's index.

An index lists the chunk files in reading order and the config they were written with.
Keys this version does not know are kept (in ``extra``) so that dumping an index loaded
from a newer writer loses nothing, and otherwise ignored. Validation errors name the
file and the field, and chunk names are checked so that a hostile index cannot point a
reader outside the dataset.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, overload

import numpy as np

from .atomic import write_file_atomic
from .chunk_table import NO_DIM, ChunkTable, chunk_byte_sizes, chunk_dims, chunk_filename, chunk_sizes
from .encryption import check_declared
from .errors import IndexFormatError

INDEX_FILENAME = "index.json"

_CHUNK_KEYS = ("chunk_bytes", "chunk_size", "dim", "filename", "checksum")
_CHUNK_KEY_SET = frozenset(_CHUNK_KEYS)
_CONFIG_KEYS = ("chunk_bytes", "chunk_size", "compression", "data_format", "data_spec", "encryption", "item_loader")


# A name that validate_chunk_filename accepts without looking further: one path component of
# letters, digits, '_', '-' and '.', not starting with a dot (so neither '..' nor a drive).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def validate_chunk_filename(name: Any, where: str = "chunk filename") -> str:
    """Return ``name`` if it is a safe relative path inside the dataset, else raise.

    Refused: non-strings, empty names, absolute paths (POSIX or Windows drive), ``..``
    components, backslashes and NUL bytes.

    Args:
        name: The ``filename`` value from an index entry.
        where: Where the name is, for the error message.

    Raises:
        IndexFormatError: The name is refused.
    """
    if not isinstance(name, str) or not name:
        raise IndexFormatError(f"{where}: must be a non-empty string, got {name!r}")
    if "\x00" in name or "\\" in name:
        raise IndexFormatError(f"{where}: {name!r} contains a forbidden character")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise IndexFormatError(f"{where}: {name!r} is an absolute path; chunk names must be relative")
    parts = name.split("/")
    if any(part in ("..", "") for part in parts) or posixpath.normpath(name).startswith(".."):
        raise IndexFormatError(f"{where}: {name!r} leaves the dataset folder or is malformed")
    return name


def _check_type(value: Any, types: tuple[type, ...], where: str, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) and bool not in types:
        raise IndexFormatError(f"{where}: expected {_type_names(types)}, got {value!r}")
    if not isinstance(value, types):
        raise IndexFormatError(f"{where}: expected {_type_names(types)}, got {type(value).__name__} {value!r}")
    return value


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


@overload
def _non_negative_int(value: Any, where: str, allow_none: Literal[False] = False) -> int: ...
@overload
def _non_negative_int(value: Any, where: str, allow_none: bool) -> int | None: ...
def _non_negative_int(value: Any, where: str, allow_none: bool = False) -> int | None:
    _check_type(value, (int,), where, allow_none)
    if value is not None and value < 0:
        raise IndexFormatError(f"{where}: must not be negative, got {value}")
    return cast("int | None", value)  # _check_type let only an int (or None where allowed) through


_PlainFields = tuple[str, int, int, "int | None", "str | None", dict[str, Any]]


def _plain_fields(data: Any) -> _PlainFields | None:
    """The fields of a common entry (plain ``chunk-R-I.bin`` name, non-negative ints, known
    keys) in one pass, or None for anything else, which ``ChunkInfo._from_dict_checked``
    then judges.

    Why: an index of 100,000 chunks is parsed by every process that opens a dataset; the
    checked path formats five error-location strings per entry up front and costs about
    4 us an entry, this one about 1 us. It accepts nothing the checked path refuses.
    """
    if type(data) is not dict:
        return None
    get = data.get
    filename, chunk_size, chunk_bytes = get("filename"), get("chunk_size"), get("chunk_bytes")
    dim, checksum = get("dim"), get("checksum")
    if (
        type(filename) is not str
        or type(chunk_size) is not int
        or type(chunk_bytes) is not int
        or chunk_size < 0
        or chunk_bytes < 0
        or (dim is not None and (type(dim) is not int or dim < 0))
        or (checksum is not None and type(checksum) is not str)
        or _PLAIN_NAME.fullmatch(filename) is None
    ):
        return None
    extra = _NO_EXTRA if data.keys() <= _CHUNK_KEY_SET else {k: v for k, v in data.items() if k not in _CHUNK_KEY_SET}
    return filename, chunk_size, chunk_bytes, dim, checksum, extra


_NO_EXTRA: dict[str, Any] = {}  # shared by the entries without unknown keys: only read, never changed


def _chunk_table(chunks_data: list[Any], source: str) -> ChunkTable:
    """The parsed ``chunks`` list as a :class:`ChunkTable` (no object per entry kept)."""
    names: list[str] = []
    sizes: list[int] = []
    byte_sizes: list[int] = []
    dims: list[int | None] = []
    checksums: list[str | None] = []
    extras: dict[int, dict[str, Any]] = {}
    for i, entry in enumerate(chunks_data):
        fields = _plain_fields(entry)
        if fields is None:  # the location string is formatted only when the fast parse declines
            c = ChunkInfo._from_dict_checked(entry, f"{source}: chunks[{i}]")
            fields = (c.filename, c.chunk_size, c.chunk_bytes, c.dim, c.checksum, c.extra)
        filename, size, nbytes, dim, checksum, extra = fields
        names.append(filename)
        sizes.append(size)
        byte_sizes.append(nbytes)
        dims.append(dim)
        checksums.append(checksum)
        if extra:
            extras[i] = extra
    if len(set(names)) != len(names):
        raise IndexFormatError(f"{source}: chunks: a chunk filename is listed twice")
    return ChunkTable(names, sizes, byte_sizes, dims, checksums, extras)


@dataclass(slots=True)
class ChunkInfo:
    """One chunk file: its name, item count, byte size and (for tokens) token count."""

    filename: str
    chunk_size: int
    chunk_bytes: int
    dim: int | None = None
    checksum: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ChunkInfo:
        """Parse and validate one entry of the index's ``chunks`` list.

        Args:
            data: The entry as loaded from JSON.
            where: Where the entry is (``"index.json: chunks[3]"``), for error messages.

        Raises:
            IndexFormatError: A required key is missing, a value has the wrong type or sign, or the
                file name is unsafe (see :func:`validate_chunk_filename`).
        """
        return cls._from_plain_dict(data) or cls._from_dict_checked(data, where)

    @classmethod
    def _from_plain_dict(cls, data: Any) -> ChunkInfo | None:
        fields = _plain_fields(data)
        if fields is None:
            return None
        filename, chunk_size, chunk_bytes, dim, checksum, extra = fields
        return cls(filename, chunk_size, chunk_bytes, dim, checksum, dict(extra))

    @classmethod
    def _from_dict_checked(cls, data: Any, where: str) -> ChunkInfo:
        _check_type(data, (dict,), where)
        for key in ("filename", "chunk_size", "chunk_bytes"):
            if key not in data:
                raise IndexFormatError(f"{where}: missing required key {key!r}")
        checksum = _check_type(data.get("checksum"), (str,), f"{where}.checksum", allow_none=True)
        return cls(
            filename=validate_chunk_filename(data["filename"], f"{where}.filename"),
            chunk_size=_non_negative_int(data["chunk_size"], f"{where}.chunk_size"),
            chunk_bytes=_non_negative_int(data["chunk_bytes"], f"{where}.chunk_bytes"),
            dim=_non_negative_int(data.get("dim"), f"{where}.dim", allow_none=True),
            checksum=checksum,
            extra={k: v for k, v in data.items() if k not in _CHUNK_KEYS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``index.json`` stores it, unknown keys included."""
        data: dict[str, Any] = dict(self.extra)
        data.update(chunk_bytes=self.chunk_bytes, chunk_size=self.chunk_size, dim=self.dim, filename=self.filename)
        if self.checksum is not None:
            data["checksum"] = self.checksum
        return data


@dataclass
class IndexConfig:
    """How the chunks were written: leaf formats, pytree spec, compression, loader, target size."""

    data_format: list[str]
    data_spec: str | None
    chunk_bytes: int | None = None
    chunk_size: int | None = None
    compression: str | None = None
    encryption: Any = None
    item_loader: str = "PyTreeLoader"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> IndexConfig:
        """Parse and validate the index's ``config`` object.

        Args:
            data: The object as loaded from JSON.
            where: Where it is (``"index.json: config"``), for error messages.

        Raises:
            IndexFormatError: ``data_format`` is missing or malformed, the compression is not zstd,
                the encryption entry is malformed, or a value has the wrong type.
        """
        _check_type(data, (dict,), where)
        if "data_format" not in data:
            raise IndexFormatError(f"{where}: missing required key 'data_format'")
        data_format = _check_type(data["data_format"], (list,), f"{where}.data_format")
        for i, name in enumerate(data_format):
            _check_type(name, (str,), f"{where}.data_format[{i}]")
        compression = _check_type(data.get("compression"), (str,), f"{where}.compression", allow_none=True)
        if compression is not None and compression.split(":")[0] != "zstd":
            raise IndexFormatError(f"{where}.compression: unsupported compression {compression!r} (known: zstd, zstd:N)")
        encryption = check_declared(data.get("encryption"), where)
        return cls(
            data_format=list(data_format),
            data_spec=_check_type(data.get("data_spec"), (str,), f"{where}.data_spec", allow_none=True),
            chunk_bytes=_non_negative_int(data.get("chunk_bytes"), f"{where}.chunk_bytes", allow_none=True),
            chunk_size=_non_negative_int(data.get("chunk_size"), f"{where}.chunk_size", allow_none=True),
            compression=compression,
            encryption=encryption,
            item_loader=_check_type(data.get("item_loader") or "PyTreeLoader", (str,), f"{where}.item_loader"),
            extra={k: v for k, v in data.items() if k not in _CONFIG_KEYS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as ``index.json`` stores it, unknown keys included."""
        data: dict[str, Any] = dict(self.extra)
        data.update(
            chunk_bytes=self.chunk_bytes,
            chunk_size=self.chunk_size,
            compression=self.compression,
            data_format=list(self.data_format),
            data_spec=self.data_spec,
            encryption=self.encryption,
            item_loader=self.item_loader,
        )
        return data

    @property
    def compression_level(self) -> str | None:
        """``"batch"`` or ``"sample"`` for LitData's in-file zstd layouts; None for whole-chunk
        zstd and for no compression. Kept in ``extra`` under LitData's key."""
        return self.extra.get("compression_level")

    @property
    def compression_batch_size(self) -> int | None:
        """Items per zstd frame of a ``"batch"`` dataset, else None (``extra`` key, as LitData)."""
        return self.extra.get("compression_batch_size")

    def same_layout(self, other: IndexConfig) -> bool:
        """True when items written under ``other`` can be appended to a dataset written under ``self``."""
        return (
            self.data_format == other.data_format
            and self.data_spec == other.data_spec
            and self.compression == other.compression
            and self.compression_level == other.compression_level
            and self.compression_batch_size == other.compression_batch_size
            and self.item_loader == other.item_loader
            and self.encryption == other.encryption
            and self.chunk_bytes == other.chunk_bytes
            and self.chunk_size == other.chunk_size
        )


@dataclass
class Index:
    """A whole ``index.json``: chunks in reading order, the config, and when it was written."""

    chunks: Sequence[ChunkInfo]  # a ChunkTable when loaded from JSON; any sequence when built
    config: IndexConfig | None
    updated_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_items(self) -> int:
        """The total number of items over all chunks."""
        return int(chunk_sizes(self.chunks).sum())

    def chunk_sizes(self) -> np.ndarray:
        """Items per chunk, in reading order (int64; no entry objects made for a loaded index)."""
        return chunk_sizes(self.chunks)

    def chunk_byte_sizes(self) -> np.ndarray:
        """Bytes per chunk file, in reading order (int64)."""
        return chunk_byte_sizes(self.chunks)

    def chunk_dims(self) -> np.ndarray:
        """Tokens per chunk (int64), ``NO_DIM`` (-1) where an entry has no ``dim``."""
        return chunk_dims(self.chunks)

    def chunk_filename(self, number: int) -> str:
        """Chunk ``number``'s file name (no entry object made for a loaded index)."""
        return chunk_filename(self.chunks, number)

    @classmethod
    def from_dict(cls, data: Any, source: str = INDEX_FILENAME) -> Index:
        """Parse and validate a whole index object.

        Args:
            data: The object as loaded from JSON.
            source: The file it came from, for error messages.

        Returns:
            The index, its chunks held as a :class:`ChunkTable`.

        Raises:
            IndexFormatError: Anything malformed, a chunk listed twice, chunks without a config,
                or a token dataset entry without ``dim``.
        """
        _check_type(data, (dict,), source)
        if "chunks" not in data:
            raise IndexFormatError(f"{source}: missing required key 'chunks'")
        chunks_data = _check_type(data["chunks"], (list,), f"{source}: chunks")
        chunks = _chunk_table(chunks_data, source)
        config_data = data.get("config")
        config = None if config_data is None else IndexConfig.from_dict(config_data, f"{source}: config")
        if config is None and len(chunks):
            raise IndexFormatError(f"{source}: config: missing, but the index lists chunks")
        if config is not None and config.item_loader == "TokensLoader":
            missing = np.flatnonzero(chunks.dims == NO_DIM)
            if len(missing):
                raise IndexFormatError(f"{source}: chunks[{missing[0]}].dim: required for a TokensLoader dataset")
        updated_at = data.get("updated_at")
        if updated_at is not None and not isinstance(updated_at, str):
            updated_at = str(updated_at)
        extra = {k: v for k, v in data.items() if k not in ("chunks", "config", "updated_at")}
        return cls(chunks=chunks, config=config, updated_at=updated_at, extra=extra)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = INDEX_FILENAME) -> Index:
        """Parse ``index.json`` text (see :meth:`from_dict`).

        Args:
            text: The file's content.
            source: The file it came from, for error messages.

        Raises:
            IndexFormatError: The text is not valid JSON, or the index is malformed.
        """
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexFormatError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Index:
        """Load ``path`` (an index file, or a dataset folder holding ``index.json``).

        Args:
            path: The index file or the dataset folder.

        Raises:
            FileNotFoundError: There is no index there.
            IndexFormatError: The index is malformed.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, INDEX_FILENAME)
        try:
            with open(path, "rb") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"no index at {path}: is this an optimized dataset folder?") from None
        return cls.from_json(text, source=path)

    def to_dict(self) -> dict[str, Any]:
        """The index as a JSON-ready dict, unknown keys included."""
        data: dict[str, Any] = dict(self.extra)
        data["chunks"] = [c.to_dict() for c in self.chunks]
        data["config"] = None if self.config is None else self.config.to_dict()
        data["updated_at"] = self.updated_at
        return data

    def to_json(self) -> str:
        """The JSON text, keys sorted as LitData writes them."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def dump(self, path: str | os.PathLike[str], *, touch: bool = True) -> None:
        """Write atomically (temporary file, then rename) so no reader sees half an index.

        Args:
            path: The index file to write, or a folder to write ``index.json`` into.
            touch: Renew the ``updated_at`` stamp, which tells readers their cached copy is stale.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, INDEX_FILENAME)
        if touch:
            self.updated_at = str(time.time())
        write_file_atomic(path, self.to_json().encode())


def merge_indexes(parts: list[Index], source: str = "partial indexes") -> Index:
    """Concatenate partial indexes (already in rank order) into one; their configs must agree.

    Args:
        parts: The per-worker indexes, in the order their chunks should be read.
        source: What the parts are, for the error message.

    Returns:
        An index with every part's chunks and the first config found.

    Raises:
        IndexFormatError: Two parts were written with different layouts.
    """
    chunks: list[ChunkInfo] = []
    config: IndexConfig | None = None
    for part in parts:
        if part.config is not None:
            if config is None:
                config = part.config
            elif not config.same_layout(part.config):
                raise IndexFormatError(f"{source}: the parts were written with different configs")
        chunks.extend(part.chunks)
    return Index(chunks=chunks, config=config)
