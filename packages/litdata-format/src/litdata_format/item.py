"""Encoding and decoding whole items (the default ``PyTreeLoader`` layout).

An item is stored as ``u32 sizes[L]`` (one size per leaf) followed by the L leaf
payloads. The leaf formats and the structure are fixed by the first item written; every
later item must have the same structure and leaf formats, and is refused with an error
that names the leaf otherwise.

:meth:`ItemDecoder.decode` is also the one place that turns an item's bytes *as stored in
a chunk* into the item: it undoes sample-level encryption and per-sample compression
first, and, given the chunk's name and the item's number, reports a corrupted item as an
error naming both. :class:`~litdata_format.DatasetReader` and ``litdata_stream``'s
``StreamingDataset`` both read items through it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from .compression import decompress_item
from .encryption import Encryption, decrypt_item
from .errors import ChunkFormatError, FormatError, SerializationError
from .pytree import TreeSpec, compile_unflatten, flatten
from .serializers import REGISTRY, Serializer, SerializerRegistry


class ItemEncoder:
    """Turns items into bytes; learns the structure and leaf formats from the first item.

    Args:
        registry: The serializers to choose from; the default registry when None.
    """

    def __init__(self, registry: SerializerRegistry | None = None) -> None:
        self._registry = registry or REGISTRY
        self.spec: TreeSpec | None = None
        self.data_format: list[str] | None = None
        self._serializers: list[Serializer] = []
        self._sizes: struct.Struct | None = None

    @property
    def data_spec(self) -> str | None:
        """The ``data_spec`` JSON of the items' structure, or None before the first item."""
        return None if self.spec is None else self.spec.to_json()

    def encode(self, item: Any) -> bytes:
        """Flatten ``item`` and encode its leaves as one item payload.

        The first item fixes the structure and the serializer of each leaf; later items must
        match both.

        Args:
            item: Any pytree of leaves (dicts, lists, tuples, named tuples, ...).

        Raises:
            SerializationError: No serializer accepts a leaf, or the item's structure or a leaf's
                format differs from the first item's.
        """
        leaves, spec = flatten(item)
        if self.spec is None:
            return self._encode_first(leaves, spec)
        if spec != self.spec:
            raise SerializationError(
                f"an item's structure differs from the first item's: expected {self.spec.to_json()}, "
                f"got {spec.to_json()}"
            )
        assert self.data_format is not None  # set together with self.spec by the first item
        payloads = []
        for position, (value, serializer, expected) in enumerate(zip(leaves, self._serializers, self.data_format)):
            if not serializer.can_serialize(value):
                raise SerializationError(
                    f"leaf {position} is a {type(value).__name__}, but the first item stored it as {expected!r}"
                )
            payload, name = serializer.serialize(value)
            if name != expected:
                raise SerializationError(f"leaf {position} would be stored as {name!r}, but the first item used {expected!r}")
            payloads.append(payload)
        return self._pack(payloads)

    def _encode_first(self, leaves: list[Any], spec: TreeSpec) -> bytes:
        payloads, names, serializers = [], [], []
        for value in leaves:
            serializer = self._registry.resolve(value)
            payload, name = serializer.serialize(value)
            payloads.append(payload)
            names.append(name)
            serializers.append(serializer)
        self.spec, self.data_format, self._serializers = spec, names, serializers
        self._sizes = struct.Struct(f"<{len(leaves)}I")
        return self._pack(payloads)

    def _pack(self, payloads: list[bytes]) -> bytes:
        assert self._sizes is not None
        return self._sizes.pack(*map(len, payloads)) + b"".join(payloads)


#: What decoding a corrupted item raises besides :class:`FormatError` (struct sizes that do
#: not add up, bad UTF-8, a truncated pickle, ...): reported as a :class:`ChunkFormatError`
#: naming the chunk and the item. ``UnicodeDecodeError`` is a ``ValueError``.
ITEM_DECODE_ERRORS = (ValueError, TypeError, OverflowError, EOFError, IndexError, struct.error)


class ItemDecoder:
    """Decodes item bytes written under a given ``data_format`` and ``data_spec``.

    Args:
        data_format: The index's leaf format names, one per leaf.
        data_spec: The index's ``data_spec`` JSON; None for items stored without one.
        allow_pickle: Whether pickled leaves may be unpickled (this runs code from the dataset).
        registry: The serializers to decode with; the default registry when None.
        sample_encryption: The key of a dataset encrypted at the ``"sample"`` level: each
            item is decrypted before it is decoded. None otherwise (chunk-level encryption
            is undone when the chunk is opened).
        per_sample: The dataset is compressed per sample (``compression_level: "sample"``,
            see :func:`~litdata_format.sample_compressed`): each item is decompressed first.

    Raises:
        FormatError: A format is unknown, or the spec's leaf count differs from ``data_format``.
    """

    def __init__(
        self,
        data_format: list[str],
        data_spec: str | None,
        *,
        allow_pickle: bool = False,
        registry: SerializerRegistry | None = None,
        sample_encryption: Encryption | None = None,
        per_sample: bool = False,
    ) -> None:
        self._args = (list(data_format), data_spec, allow_pickle, registry, sample_encryption, per_sample)
        registry = registry or REGISTRY
        self.data_format = list(data_format)
        self._decoders = [registry.decoder(name, allow_pickle=allow_pickle) for name in data_format]
        spec = TreeSpec.from_json(data_spec) if data_spec else None
        if spec is not None and spec.num_leaves != len(data_format):
            raise FormatError(
                f"data_spec has {spec.num_leaves} leaves but data_format lists {len(data_format)} formats"
            )
        self._unflatten: Callable[[list[Any]], Any] = (
            compile_unflatten(spec) if spec is not None else (lambda leaves: leaves[0] if len(leaves) == 1 else leaves)
        )
        self._sizes = struct.Struct(f"<{len(data_format)}I")
        self._sample_encryption = sample_encryption
        self._per_sample = per_sample

    def __getstate__(self) -> tuple[Any, ...]:
        # Decoders are closures: rebuild them in the receiving process (spawned workers).
        return self._args

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        data_format, data_spec, allow_pickle, registry, sample_encryption, per_sample = state
        self.__init__(  # type: ignore[misc]
            data_format, data_spec, allow_pickle=allow_pickle, registry=registry,
            sample_encryption=sample_encryption, per_sample=per_sample,
        )

    def decode(
        self, data: memoryview | bytes, chunk: str | None = None, within: int = 0, where: str | None = None
    ) -> Any:
        """Decode one item as stored: decrypt it and decompress it when the dataset says so, then
        rebuild it from its leaves.

        Readers call this once per item with the item's place, so that a corrupted item is
        reported naming its chunk and number: it is the whole per-item path (no wrapper
        around it), which keeps streaming fast.

        Args:
            data: One item's bytes as the chunk holds them (:meth:`ItemEncoder.encode`'s
                output, encrypted or compressed when the dataset is).
            chunk: The name of the chunk the bytes come from. When given, an error is raised
                again naming the chunk and the item: a :class:`FormatError` keeps its type, and
                what else a corrupted item raises (:data:`ITEM_DECODE_ERRORS`) becomes a
                :class:`ChunkFormatError`. When None, errors propagate unchanged.
            within: The item's number inside ``chunk``.
            where: Put before the message (e.g. the dataset's URL), when given with ``chunk``.

        Returns:
            The item rebuilt in its original structure.

        Raises:
            FormatError: The bytes do not fit the layout (or cannot be decrypted or
                decompressed); a :class:`ChunkFormatError` for other decoding failures when
                ``chunk`` is given.
        """
        try:
            if self._sample_encryption is not None:
                data = decrypt_item(self._sample_encryption, data)
            if self._per_sample:
                data = decompress_item(data, chunk or "?")
            data = memoryview(data)
            header = self._sizes.size
            if len(data) < header:
                raise FormatError(f"an item of {len(data)} bytes is shorter than its {header}-byte size header")
            sizes = self._sizes.unpack_from(data)
            if header + sum(sizes) != len(data):
                raise FormatError(
                    f"the item's leaf sizes add up to {header + sum(sizes)} bytes, but it has {len(data)}"
                )
            leaves = []
            position = header
            for size, decode in zip(sizes, self._decoders):
                leaves.append(decode(data[position : position + size]))
                position += size
            return self._unflatten(leaves)
        except FormatError as exc:
            if chunk is None:
                raise
            raise type(exc)(f"{_place(chunk, within, where)}: {exc}") from None
        except ITEM_DECODE_ERRORS as exc:
            if chunk is None:
                raise
            raise ChunkFormatError(f"{_place(chunk, within, where)} cannot be decoded: {exc}") from exc


def _place(chunk: str, within: int, where: str | None) -> str:
    """``[where: ]chunk NAME, item K``: where a failed item is, for an error message."""
    return f"chunk {chunk}, item {within}" if where is None else f"{where}: chunk {chunk}, item {within}"
