"""Leaf serializers with LitData's names and byte layouts, and the public registry.

Each leaf of an item is stored by the first serializer, in registry order, that accepts
it; its name (``data_format`` in ``index.json``) tells a reader how to decode the bytes.
Names may carry an argument after a colon (``no_header_numpy:5``, ``video:mp4``).
Third parties add their own with :func:`register_serializer`.

Decoders receive a ``memoryview`` of the leaf's bytes (often straight from a memory-mapped
chunk) and return values that own their memory, so a chunk file can be closed or evicted
while the values live on.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .dtypes import NUMPY_DTYPE_INDEX, NUMPY_DTYPES, TORCH_DTYPE_NAMES, torch_dtype, torch_dtype_index
from .errors import FormatError, PickleNotAllowedError, SerializationError

Decoder = Callable[[memoryview], Any]

#: The environment variable that allows unpickling values from any dataset.
ALLOW_PICKLE_ENV = "LITDATA_ALLOW_PICKLE"

#: Byte order of the ``tensor`` header this package writes (LitData 0.2.76 writes it big-endian).
TENSOR_HEADER_BYTEORDER = ">"

_MAX_NDIM = 64
_INT64 = struct.Struct("<q")
_FLOAT64 = struct.Struct("<d")

_VIDEO_EXTENSIONS = ("mp4", "ogv", "mjpeg", "avi", "mov", "h264", "mpg", "webm", "wmv")


class Serializer(ABC):
    """Turns one kind of leaf value into bytes and back.

    ``serialize`` returns the payload and the full ``data_format`` name (the serializer's
    name, plus ``:arg`` where the name carries one). ``decoder`` returns a function that
    decodes payloads written under that full name.
    """

    #: The name before any ``:arg`` in ``data_format``.
    name: str = ""

    @abstractmethod
    def can_serialize(self, value: Any) -> bool: ...

    @abstractmethod
    def serialize(self, value: Any) -> tuple[bytes, str]: ...

    @abstractmethod
    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder: ...


def _format_arg(data_format: str) -> str:
    _, _, arg = data_format.partition(":")
    if not arg:
        raise FormatError(f"data_format {data_format!r} needs an argument after ':'")
    return arg


def _import_pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("decoding images needs Pillow: pip install 'litdata-format[pil]'") from None
    return Image


def _is_pil_image(value: Any) -> bool:
    module = type(value).__module__
    if not module.startswith("PIL."):
        return False
    from PIL import Image

    return isinstance(value, Image.Image)


def _is_jpeg_image(value: Any) -> bool:
    if not _is_pil_image(value):
        return False
    from PIL.JpegImagePlugin import JpegImageFile

    return isinstance(value, JpegImageFile)


def _is_plain_tensor(value: Any) -> bool:
    if type(value).__module__ != "torch" or type(value).__name__ != "Tensor":
        return False
    import torch

    return type(value) is torch.Tensor


def _looks_like_file(value: str) -> bool:
    # Only strings shaped like a path with an extension are checked on disk: a stat()
    # per text leaf would slow text datasets down for nothing.
    return 0 < len(value) < 4096 and "\n" not in value and "." in value[-6:] and os.path.isfile(value)


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lstrip(".").lower()


class StringSerializer(Serializer):
    name = "str"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, str) and not _looks_like_file(value)

    def serialize(self, value: str) -> tuple[bytes, str]:
        return value.encode("utf-8"), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return lambda data: str(data, "utf-8")


class BoolSerializer(Serializer):
    name = "bool"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def serialize(self, value: Any) -> tuple[bytes, str]:
        return (b"\x01" if value else b"\x00"), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        def decode(data: memoryview) -> bool:
            if len(data) != 1:
                raise FormatError(f"a bool leaf is 1 byte, got {len(data)}")
            return data[0] != 0

        return decode


class IntSerializer(Serializer):
    """Python ints and numpy integer scalars, as int64 (numpy scalars come back as int)."""

    name = "int"

    def can_serialize(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, np.integer)

    def serialize(self, value: Any) -> tuple[bytes, str]:
        try:
            return _INT64.pack(int(value)), self.name
        except struct.error:
            raise SerializationError(f"int {value} does not fit in 64 bits; store it as a str or bytes") from None

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return lambda data: _INT64.unpack(data)[0]


class FloatSerializer(Serializer):
    name = "float"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, (float, np.floating)) and np.ndim(value) == 0

    def serialize(self, value: Any) -> tuple[bytes, str]:
        return _FLOAT64.pack(float(value)), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return lambda data: _FLOAT64.unpack(data)[0]


class VideoSerializer(Serializer):
    """A path to a video file: the file's bytes, returned as bytes (decode them as you like)."""

    name = "video"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, str) and _extension(value) in _VIDEO_EXTENSIONS and os.path.isfile(value)

    def serialize(self, value: str) -> tuple[bytes, str]:
        with open(value, "rb") as f:
            return f.read(), f"{self.name}:{_extension(value)}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return bytes


class FileSerializer(Serializer):
    """A path to any other file: the raw bytes, stored as ``file:<ext>`` (read back as bytes)."""

    name = "file"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, str) and _looks_like_file(value)

    def serialize(self, value: str) -> tuple[bytes, str]:
        with open(value, "rb") as f:
            return f.read(), f"{self.name}:{_extension(value)}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return bytes


class TiffSerializer(FileSerializer):
    """``tiff``: raw bytes of a TIFF file (read only; we write paths as ``file:tiff``)."""

    name = "tiff"

    def can_serialize(self, value: Any) -> bool:
        return False


class PILSerializer(Serializer):
    """Any PIL image except a JPEG file: width, height, mode and the raw pixels."""

    name = "pil"
    _HEADER = struct.Struct("<III")

    def can_serialize(self, value: Any) -> bool:
        return _is_pil_image(value) and not _is_jpeg_image(value)

    def serialize(self, value: Any) -> tuple[bytes, str]:
        mode = value.mode.encode("utf-8")
        width, height = value.size
        return self._HEADER.pack(width, height, len(mode)) + mode + value.tobytes(), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        image = _import_pil()
        header = self._HEADER

        def decode(data: memoryview) -> Any:
            width, height, mode_size = header.unpack_from(data)
            start = header.size + mode_size
            mode = str(data[header.size : start], "utf-8")
            return image.frombytes(mode, (width, height), bytes(data[start:]))

        return decode


def jpeg_bytes(value: Any) -> bytes:
    """The original bytes of a PIL JPEG image when they are known, else a re-encode.

    Known means: the image was opened from a file that still exists, or from an in-memory
    buffer that PIL still holds.
    """
    filename = getattr(value, "filename", None)
    if filename and os.path.isfile(filename):
        with open(filename, "rb") as f:
            return f.read()
    fp = getattr(value, "fp", None)
    if isinstance(fp, io.BytesIO):
        return fp.getvalue()
    buffer = io.BytesIO()
    value.save(buffer, format="JPEG")
    return buffer.getvalue()


class JPEGSerializer(Serializer):
    """A PIL JPEG image as its original file bytes; decoded with Pillow (lazily)."""

    name = "jpeg"

    def can_serialize(self, value: Any) -> bool:
        return _is_jpeg_image(value)

    def serialize(self, value: Any) -> tuple[bytes, str]:
        return jpeg_bytes(value), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        image = _import_pil()
        return lambda data: image.open(io.BytesIO(bytes(data)))


class JpegArray(list):
    """Marks a list of JPEG images as one ``jpeg_array`` leaf.

    A plain list is a pytree node: each image becomes a leaf and every item must then
    hold the same number of images. Wrap the list (``JpegArray(frames)``) to store a
    variable number of images per item in one leaf, as LitData's ``JpegArray`` does.
    """


class JPEGArraySerializer(Serializer):
    """A list of JPEG images in one leaf: ``u32 n, u32 sizes[n]`` then the JPEG files."""

    name = "jpeg_array"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, list) and all(_is_jpeg_image(v) for v in value) and (
            len(value) > 0 or isinstance(value, JpegArray)
        )

    def serialize(self, value: list[Any]) -> tuple[bytes, str]:
        payloads = [jpeg_bytes(v) for v in value]
        header = struct.pack(f"<{len(payloads) + 1}I", len(payloads), *map(len, payloads))
        return header + b"".join(payloads), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        image = _import_pil()

        def decode(data: memoryview) -> list[Any]:
            (count,) = struct.unpack_from("<I", data)
            if 4 + 4 * count > len(data):
                raise FormatError("jpeg_array header is longer than the leaf")
            sizes = struct.unpack_from(f"<{count}I", data, 4)
            position = 4 + 4 * count
            images = []
            for size in sizes:
                images.append(image.open(io.BytesIO(bytes(data[position : position + size]))))
                position += size
            if position != len(data):
                raise FormatError("jpeg_array sizes do not add up to the leaf's length")
            return images

        return decode


class BytesSerializer(Serializer):
    name = "bytes"

    def can_serialize(self, value: Any) -> bool:
        return isinstance(value, (bytes, bytearray, memoryview))

    def serialize(self, value: Any) -> tuple[bytes, str]:
        return bytes(value), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return bytes


def _read_shape_header(data: memoryview, byteorder: str) -> tuple[int, tuple[int, ...], int]:
    dtype_index, ndim = struct.unpack_from(f"{byteorder}II", data)
    if ndim > _MAX_NDIM or 8 + 4 * ndim > len(data):
        raise FormatError(f"array header claims {ndim} dimensions, more than the leaf holds")
    shape = struct.unpack_from(f"{byteorder}{ndim}I", data, 8)
    return dtype_index, shape, 8 + 4 * ndim


def _array_from(data: memoryview, dtype: np.dtype, shape: tuple[int, ...] | None = None) -> np.ndarray:
    if len(data) % dtype.itemsize:
        raise FormatError(f"{len(data)} bytes is not a whole number of {dtype} values")
    array = np.frombuffer(data, dtype=dtype).copy()
    return array if shape is None else array.reshape(shape)


class NoHeaderNumpySerializer(Serializer):
    """A 1-D numpy array as raw data; the dtype index rides in the name (``no_header_numpy:K``)."""

    name = "no_header_numpy"

    def can_serialize(self, value: Any) -> bool:
        return type(value) is np.ndarray and value.ndim == 1 and value.dtype in NUMPY_DTYPE_INDEX

    def serialize(self, value: np.ndarray) -> tuple[bytes, str]:
        return value.tobytes(), f"{self.name}:{NUMPY_DTYPE_INDEX[value.dtype]}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        dtype = NUMPY_DTYPES[int(_format_arg(data_format))]
        return lambda data: _array_from(data, dtype)


class NumpySerializer(Serializer):
    """A numpy array of any other rank: ``u32 dtype, u32 ndim, u32 shape[ndim]``, then C-order data."""

    name = "numpy"

    def can_serialize(self, value: Any) -> bool:
        return type(value) is np.ndarray and value.ndim != 1 and value.dtype in NUMPY_DTYPE_INDEX

    def serialize(self, value: np.ndarray) -> tuple[bytes, str]:
        header = struct.pack(f"<II{value.ndim}I", NUMPY_DTYPE_INDEX[value.dtype], value.ndim, *value.shape)
        return header + value.tobytes(order="C"), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        def decode(data: memoryview) -> np.ndarray:
            dtype_index, shape, start = _read_shape_header(data, "<")
            if dtype_index >= len(NUMPY_DTYPES):
                raise FormatError(f"unknown numpy dtype index {dtype_index}")
            return _array_from(data[start:], NUMPY_DTYPES[dtype_index], shape)

        return decode


def _tensor_from(data: memoryview, dtype_index: int, shape: tuple[int, ...] | None) -> Any:
    import torch

    if dtype_index >= len(TORCH_DTYPE_NAMES):
        raise FormatError(f"unknown torch dtype index {dtype_index}")
    dtype = torch_dtype(dtype_index)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(data) % itemsize:
        raise FormatError(f"{len(data)} bytes is not a whole number of {dtype} values")
    if len(data) == 0:
        tensor = torch.empty((0,), dtype=dtype)
    else:
        tensor = torch.frombuffer(bytearray(data), dtype=dtype)
    return tensor if shape is None else tensor.reshape(shape)


def _tensor_bytes(value: Any) -> bytes:
    import torch

    tensor = value.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        tensor = tensor.view(torch.int16)
    return tensor.numpy().tobytes()


class NoHeaderTensorSerializer(Serializer):
    """A 1-D torch tensor as raw data; the dtype index rides in the name (``no_header_tensor:K``)."""

    name = "no_header_tensor"

    def can_serialize(self, value: Any) -> bool:
        return _is_plain_tensor(value) and value.ndim == 1

    def serialize(self, value: Any) -> tuple[bytes, str]:
        return _tensor_bytes(value), f"{self.name}:{torch_dtype_index(value.dtype)}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        dtype_index = int(_format_arg(data_format))
        return lambda data: _tensor_from(data, dtype_index, None)


class TensorSerializer(Serializer):
    """A torch tensor of any other rank: dtype, ndim and shape header, then the data.

    LitData 0.2.45 wrote the header little-endian and 0.2.76 big-endian; a dtype index
    is below 256, so the first four bytes tell which.
    """

    name = "tensor"

    def can_serialize(self, value: Any) -> bool:
        return _is_plain_tensor(value) and value.ndim != 1

    def serialize(self, value: Any) -> tuple[bytes, str]:
        order = TENSOR_HEADER_BYTEORDER
        header = struct.pack(f"{order}II{value.ndim}I", torch_dtype_index(value.dtype), value.ndim, *value.shape)
        return header + _tensor_bytes(value), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        def decode(data: memoryview) -> Any:
            if len(data) < 8:
                raise FormatError("a tensor leaf is shorter than its header")
            (little,) = struct.unpack_from("<I", data)
            order = "<" if little < 256 else ">"
            dtype_index, shape, start = _read_shape_header(data, order)
            return _tensor_from(data[start:], dtype_index, shape)

        return decode


class _ReadOnlySerializer(Serializer):
    """A format that LitData 0.2.76 writes and this package reads but never writes."""

    def can_serialize(self, value: Any) -> bool:
        return False

    def serialize(self, value: Any) -> tuple[bytes, str]:
        raise SerializationError(f"the {self.name!r} format is read-only here")


class CompactJSONSerializer(_ReadOnlySerializer):
    """``json``: a list or dict stored as one leaf (see :mod:`litdata_format.compact_json`)."""

    name = "json"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        from .compact_json import loads

        return loads


class ImageFileSerializer(_ReadOnlySerializer):
    """``image:EXT``: an encoded image file (PNG, JPEG, WebP, ...), decoded with Pillow."""

    name = "image"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        image = _import_pil()
        return lambda data: image.open(io.BytesIO(bytes(data)))


class TiffFileSerializer(_ReadOnlySerializer):
    """``tifffile``: a TIFF file, decoded to a numpy array (with tifffile if installed, else Pillow)."""

    name = "tifffile"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        try:
            import tifffile

            return lambda data: tifffile.imread(io.BytesIO(bytes(data)))
        except ImportError:
            image = _import_pil()
            return lambda data: np.asarray(image.open(io.BytesIO(bytes(data))))


class PickleSerializer(Serializer):
    """Anything else, pickled. Decoding runs arbitrary code, so it must be allowed explicitly."""

    name = "pickle"

    def can_serialize(self, value: Any) -> bool:
        return True

    def serialize(self, value: Any) -> tuple[bytes, str]:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), self.name
        except Exception as exc:
            raise SerializationError(f"cannot store a {type(value).__name__}: no serializer accepts it ({exc})") from exc

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        if allow_pickle or pickle_allowed_by_env():
            return lambda data: pickle.loads(data)

        def refuse(data: memoryview) -> Any:
            # LitData pickles ``None`` leaves; those few bytes run no code, so they pass.
            if bytes(data) in _PICKLED_NONE:
                return None
            raise PickleNotAllowedError(
                "this dataset stores pickled values, and unpickling runs code from the dataset; "
                f"pass allow_pickle=True or set {ALLOW_PICKLE_ENV}=1 if you trust it"
            )

        return refuse


_PICKLED_NONE = frozenset(pickle.dumps(None, protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1))


def pickle_allowed_by_env() -> bool:
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class SerializerRegistry:
    """An ordered set of serializers: the first that accepts a value stores it."""

    def __init__(self, serializers: list[Serializer] | None = None) -> None:
        self._serializers: dict[str, Serializer] = {}
        for serializer in serializers or []:
            self.register(serializer)

    def register(self, serializer: Serializer, *, before: str | None = None, replace: bool = False) -> None:
        """Add ``serializer``; ``before`` puts it ahead of a named one (e.g. ``"pickle"``)."""
        if not serializer.name or ":" in serializer.name:
            raise ValueError(f"a serializer needs a name without ':', got {serializer.name!r}")
        if serializer.name in self._serializers and not replace:
            raise ValueError(f"a serializer named {serializer.name!r} is already registered")
        items = [(k, v) for k, v in self._serializers.items() if k != serializer.name]
        position = len(items)
        if before is not None:
            names = [k for k, _ in items]
            if before not in names:
                raise KeyError(f"no serializer named {before!r} to insert before")
            position = names.index(before)
        items.insert(position, (serializer.name, serializer))
        self._serializers = dict(items)

    def unregister(self, name: str) -> None:
        del self._serializers[name]

    def __iter__(self) -> Iterator[Serializer]:
        return iter(list(self._serializers.values()))

    def names(self) -> list[str]:
        return list(self._serializers)

    def get(self, data_format: str) -> Serializer:
        """The serializer for a ``data_format`` entry such as ``"no_header_numpy:5"``."""
        name = data_format.split(":", 1)[0]
        try:
            return self._serializers[name]
        except KeyError:
            raise FormatError(
                f"unknown data format {data_format!r}: no serializer named {name!r} is registered "
                "(register one with litdata_format.register_serializer)"
            ) from None

    def resolve(self, value: Any) -> Serializer:
        for serializer in self._serializers.values():
            if serializer.can_serialize(value):
                return serializer
        raise SerializationError(f"no serializer accepts a value of type {type(value).__name__}")

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        return self.get(data_format).decoder(data_format, allow_pickle=allow_pickle)


def default_serializers() -> list[Serializer]:
    """The built-in serializers in LitData's order of preference."""
    return [
        StringSerializer(),
        BoolSerializer(),
        IntSerializer(),
        FloatSerializer(),
        VideoSerializer(),
        TiffSerializer(),
        FileSerializer(),
        PILSerializer(),
        JPEGSerializer(),
        JPEGArraySerializer(),
        BytesSerializer(),
        NoHeaderNumpySerializer(),
        NumpySerializer(),
        NoHeaderTensorSerializer(),
        TensorSerializer(),
        CompactJSONSerializer(),
        ImageFileSerializer(),
        TiffFileSerializer(),
        PickleSerializer(),
    ]


#: The registry used unless a caller passes its own.
REGISTRY = SerializerRegistry(default_serializers())


def register_serializer(serializer: Serializer, *, before: str | None = "pickle", replace: bool = False) -> None:
    """Add a serializer to the default registry, by default just ahead of the pickle fallback."""
    REGISTRY.register(serializer, before=before, replace=replace)
