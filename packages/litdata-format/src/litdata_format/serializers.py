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
from typing import Any, cast

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
    def can_serialize(self, value: Any) -> bool:
        """Whether this serializer should store ``value``.

        The registry asks each serializer in turn and uses the first that says yes, so a check
        should be cheap and precise: a serializer that accepts too much hides the ones after it.

        Args:
            value: A leaf of an item, as produced by flattening the item's pytree.

        Returns:
            True if :meth:`serialize` can encode ``value``.
        """

    @abstractmethod
    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Encode one leaf value.

        Args:
            value: A leaf for which :meth:`can_serialize` returned True.

        Returns:
            The payload bytes and the full ``data_format`` name to record in the index: the
            serializer's ``name``, plus ``:arg`` where decoding needs an argument
            (``"no_header_numpy:5"``).

        Raises:
            SerializationError: The value cannot be encoded (too large, read-only format, ...).
        """

    @abstractmethod
    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Build the function that decodes payloads written under ``data_format``.

        Called once per leaf position when a dataset is opened, so any per-format work (parsing
        the ``:arg``, importing Pillow or torch) happens here rather than per item.

        Args:
            data_format: The full name from the index, including any ``:arg``.
            allow_pickle: Whether decoding may unpickle data (only the pickle serializer cares).

        Returns:
            A callable that takes a ``memoryview`` of the payload and returns a value that owns
            its memory (it must not keep a view into the chunk).
        """


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
    """Python strings, stored as UTF-8 (strings that name an existing file go to the file serializers)."""
    name = "str"

    def can_serialize(self, value: Any) -> bool:
        """Accept any ``str`` that does not look like a path to an existing file."""
        return isinstance(value, str) and not _looks_like_file(value)

    def serialize(self, value: str) -> tuple[bytes, str]:
        """Encode the string as UTF-8."""
        return value.encode("utf-8"), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that turns the UTF-8 payload back into a ``str``."""
        return lambda data: str(data, "utf-8")


class BoolSerializer(Serializer):
    """Python and numpy booleans, stored as a single byte (0 or 1)."""
    name = "bool"

    def can_serialize(self, value: Any) -> bool:
        """Accept ``bool`` and ``numpy.bool_``."""
        return isinstance(value, (bool, np.bool_))

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Encode the value's truth as one byte."""
        return (b"\x01" if value else b"\x00"), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that checks the payload is one byte and reads it as a bool."""
        def decode(data: memoryview) -> bool:
            if len(data) != 1:
                raise FormatError(f"a bool leaf is 1 byte, got {len(data)}")
            return data[0] != 0

        return decode


class IntSerializer(Serializer):
    """Python ints and numpy integer scalars, as int64 (numpy scalars come back as int)."""

    name = "int"

    def can_serialize(self, value: Any) -> bool:
        """Accept ints and numpy integer scalars, but not bools (bool is an int subclass)."""
        return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, np.integer)

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Pack the value as a little-endian int64; values outside that range are refused."""
        try:
            return _INT64.pack(int(value)), self.name
        except struct.error:
            raise SerializationError(f"int {value} does not fit in 64 bits; store it as a str or bytes") from None

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that unpacks the int64 into a Python int."""
        return lambda data: _INT64.unpack(data)[0]


class FloatSerializer(Serializer):
    """Python floats and numpy floating scalars, stored as little-endian float64."""
    name = "float"

    def can_serialize(self, value: Any) -> bool:
        """Accept float scalars (a 0-d value, not a float array)."""
        return isinstance(value, (float, np.floating)) and np.ndim(value) == 0

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Pack the value as a little-endian float64."""
        return _FLOAT64.pack(float(value)), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that unpacks the float64 into a Python float."""
        return lambda data: _FLOAT64.unpack(data)[0]


class VideoSerializer(Serializer):
    """A path to a video file: the file's bytes, returned as bytes (decode them as you like)."""

    name = "video"

    def can_serialize(self, value: Any) -> bool:
        """Accept a string naming an existing file with a known video extension."""
        return isinstance(value, str) and _extension(value) in _VIDEO_EXTENSIONS and os.path.isfile(value)

    def serialize(self, value: str) -> tuple[bytes, str]:
        """Read the whole file; the name records its extension (``video:mp4``)."""
        with open(value, "rb") as f:
            return f.read(), f"{self.name}:{_extension(value)}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return ``bytes``: the video is handed back undecoded."""
        return bytes


class FileSerializer(Serializer):
    """A path to any other file: the raw bytes, stored as ``file:<ext>`` (read back as bytes)."""

    name = "file"

    def can_serialize(self, value: Any) -> bool:
        """Accept a string that looks like a path with an extension and names an existing file."""
        return isinstance(value, str) and _looks_like_file(value)

    def serialize(self, value: str) -> tuple[bytes, str]:
        """Read the whole file; the name records its extension (``file:txt``)."""
        with open(value, "rb") as f:
            return f.read(), f"{self.name}:{_extension(value)}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return ``bytes``: the file's content is handed back as is."""
        return bytes


class TiffSerializer(FileSerializer):
    """``tiff``: raw bytes of a TIFF file (read only; we write paths as ``file:tiff``)."""

    name = "tiff"

    def can_serialize(self, value: Any) -> bool:
        """Never accept a value: this name exists only to read datasets that used it."""
        return False


class PILSerializer(Serializer):
    """Any PIL image except a JPEG file: width, height, mode and the raw pixels."""

    name = "pil"
    _HEADER = struct.Struct("<III")

    def can_serialize(self, value: Any) -> bool:
        """Accept PIL images that are not JPEG files (those keep their compressed bytes instead)."""
        return _is_pil_image(value) and not _is_jpeg_image(value)

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Store a ``<III`` header (width, height, mode length), the mode name, then the raw pixels."""
        mode = value.mode.encode("utf-8")
        width, height = value.size
        return self._HEADER.pack(width, height, len(mode)) + mode + value.tobytes(), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that rebuilds the image with ``Image.frombytes`` (needs Pillow)."""
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
        """Accept PIL images opened from JPEG data."""
        return _is_jpeg_image(value)

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Store the JPEG file's bytes (see :func:`jpeg_bytes`), avoiding a lossy re-encode."""
        return jpeg_bytes(value), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that opens the bytes as a PIL image (decoding happens lazily in Pillow)."""
        image = _import_pil()
        return lambda data: image.open(io.BytesIO(bytes(data)))


class JpegArray(list[Any]):
    """Marks a list of JPEG images as one ``jpeg_array`` leaf.

    A plain list is a pytree node: each image becomes a leaf and every item must then
    hold the same number of images. Wrap the list (``JpegArray(frames)``) to store a
    variable number of images per item in one leaf, as LitData's ``JpegArray`` does.
    """


class JPEGArraySerializer(Serializer):
    """A list of JPEG images in one leaf: ``u32 n, u32 sizes[n]`` then the JPEG files."""

    name = "jpeg_array"

    def can_serialize(self, value: Any) -> bool:
        """Accept a non-empty list of JPEG images, or a :class:`JpegArray` of any length.

        An empty plain list is left to the pytree (it is a node with no leaves).
        """
        return isinstance(value, list) and all(_is_jpeg_image(v) for v in value) and (
            len(value) > 0 or isinstance(value, JpegArray)
        )

    def serialize(self, value: list[Any]) -> tuple[bytes, str]:
        """Write the count and each image's size as ``u32`` values, then the JPEG files back to back."""
        payloads = [jpeg_bytes(v) for v in value]
        header = struct.pack(f"<{len(payloads) + 1}I", len(payloads), *map(len, payloads))
        return header + b"".join(payloads), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that splits the payload and opens each JPEG, checking the sizes add up."""
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
    """``bytes``, ``bytearray`` and ``memoryview`` leaves, stored as they are (read back as bytes)."""
    name = "bytes"

    def can_serialize(self, value: Any) -> bool:
        """Accept ``bytes``, ``bytearray`` and ``memoryview``."""
        return isinstance(value, (bytes, bytearray, memoryview))

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Copy the value into ``bytes``."""
        return bytes(value), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return ``bytes``: the payload is copied out of the chunk."""
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
    array: np.ndarray = np.frombuffer(data, dtype=dtype).copy()
    return array if shape is None else array.reshape(shape)


class NoHeaderNumpySerializer(Serializer):
    """A 1-D numpy array as raw data; the dtype index rides in the name (``no_header_numpy:K``)."""

    name = "no_header_numpy"

    def can_serialize(self, value: Any) -> bool:
        """Accept plain 1-D ``numpy.ndarray`` values with a dtype the format knows."""
        return type(value) is np.ndarray and value.ndim == 1 and value.dtype in NUMPY_DTYPE_INDEX

    def serialize(self, value: np.ndarray) -> tuple[bytes, str]:
        """Store the array's raw data; the dtype index goes into the name."""
        return value.tobytes(), f"{self.name}:{NUMPY_DTYPE_INDEX[value.dtype]}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder for the dtype named by ``data_format``'s argument."""
        dtype = NUMPY_DTYPES[int(_format_arg(data_format))]
        return lambda data: _array_from(data, dtype)


class NumpySerializer(Serializer):
    """A numpy array of any other rank: ``u32 dtype, u32 ndim, u32 shape[ndim]``, then C-order data."""

    name = "numpy"

    def can_serialize(self, value: Any) -> bool:
        """Accept plain numpy arrays of any rank but 1 (0-d included) with a known dtype."""
        return type(value) is np.ndarray and value.ndim != 1 and value.dtype in NUMPY_DTYPE_INDEX

    def serialize(self, value: np.ndarray) -> tuple[bytes, str]:
        """Write the little-endian dtype, ndim and shape header, then the data in C order."""
        header = struct.pack(f"<II{value.ndim}I", NUMPY_DTYPE_INDEX[value.dtype], value.ndim, *value.shape)
        return header + value.tobytes(order="C"), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that reads the header and rebuilds an owned array of that shape."""
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
    return cast(bytes, tensor.numpy().tobytes())


class NoHeaderTensorSerializer(Serializer):
    """A 1-D torch tensor as raw data; the dtype index rides in the name (``no_header_tensor:K``)."""

    name = "no_header_tensor"

    def can_serialize(self, value: Any) -> bool:
        """Accept plain 1-D ``torch.Tensor`` values (not subclasses such as parameters)."""
        return _is_plain_tensor(value) and value.ndim == 1

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Store the tensor's raw data (copied to the CPU); the dtype index goes into the name."""
        return _tensor_bytes(value), f"{self.name}:{torch_dtype_index(value.dtype)}"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder for the dtype named by ``data_format``'s argument (needs torch)."""
        dtype_index = int(_format_arg(data_format))
        return lambda data: _tensor_from(data, dtype_index, None)


class TensorSerializer(Serializer):
    """A torch tensor of any other rank: dtype, ndim and shape header, then the data.

    LitData 0.2.45 wrote the header little-endian and 0.2.76 big-endian; a dtype index
    is below 256, so the first four bytes tell which.
    """

    name = "tensor"

    def can_serialize(self, value: Any) -> bool:
        """Accept plain torch tensors of any rank but 1."""
        return _is_plain_tensor(value) and value.ndim != 1

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Write the dtype, ndim and shape header in ``TENSOR_HEADER_BYTEORDER``, then the data."""
        order = TENSOR_HEADER_BYTEORDER
        header = struct.pack(f"{order}II{value.ndim}I", torch_dtype_index(value.dtype), value.ndim, *value.shape)
        return header + _tensor_bytes(value), self.name

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that detects the header's byte order and rebuilds the tensor."""
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
        """Never accept a value: these formats are only read."""
        return False

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Always raise :class:`SerializationError`: this package does not write the format."""
        raise SerializationError(f"the {self.name!r} format is read-only here")


class CompactJSONSerializer(_ReadOnlySerializer):
    """``json``: a list or dict stored as one leaf (see :mod:`litdata_format.compact_json`)."""

    name = "json"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return the compact JSON parser as the decoder."""
        from .compact_json import loads

        return loads


class ImageFileSerializer(_ReadOnlySerializer):
    """``image:EXT``: an encoded image file (PNG, JPEG, WebP, ...), decoded with Pillow."""

    name = "image"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder that opens the encoded image with Pillow."""
        image = _import_pil()
        return lambda data: image.open(io.BytesIO(bytes(data)))


class TiffFileSerializer(_ReadOnlySerializer):
    """``tifffile``: a TIFF file, decoded to a numpy array (with tifffile if installed, else Pillow)."""

    name = "tifffile"

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return a decoder to a numpy array, preferring tifffile and falling back to Pillow."""
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
        """Accept anything: this is the fallback at the end of the registry."""
        return True

    def serialize(self, value: Any) -> tuple[bytes, str]:
        """Pickle the value with the highest protocol; unpicklable values raise SerializationError."""
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), self.name
        except Exception as exc:
            raise SerializationError(f"cannot store a {type(value).__name__}: no serializer accepts it ({exc})") from exc

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """Return ``pickle.loads`` when unpickling is allowed, else a decoder that refuses.

        The refusing decoder still returns ``None`` for pickled ``None`` leaves, which run no
        code, so datasets that only pickle missing values stay readable.
        """
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
    """Whether the ``LITDATA_ALLOW_PICKLE`` environment variable allows unpickling.

    Returns:
        True when the variable is set to ``1``, ``true``, ``yes`` or ``on`` (any case).
    """
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class SerializerRegistry:
    """An ordered set of serializers: the first that accepts a value stores it."""

    def __init__(self, serializers: list[Serializer] | None = None) -> None:
        """Create a registry.

        Args:
            serializers: Serializers to register, in order of preference; none by default.
        """
        self._serializers: dict[str, Serializer] = {}
        for serializer in serializers or []:
            self.register(serializer)

    def register(self, serializer: Serializer, *, before: str | None = None, replace: bool = False) -> None:
        """Add ``serializer``; ``before`` puts it ahead of a named one (e.g. ``"pickle"``).

        Args:
            serializer: The serializer to add; its ``name`` must be non-empty and contain no ``':'``.
            before: The name of a registered serializer to insert ahead of; None appends at the end.
            replace: Allow replacing a serializer of the same name (it moves to the new position).

        Raises:
            ValueError: The name is invalid, or already registered and ``replace`` is False.
            KeyError: ``before`` names no registered serializer.
        """
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
        """Remove the serializer called ``name``.

        Args:
            name: The serializer's name (without any ``:arg``).

        Raises:
            KeyError: No serializer has that name.
        """
        del self._serializers[name]

    def __iter__(self) -> Iterator[Serializer]:
        return iter(list(self._serializers.values()))

    def names(self) -> list[str]:
        """The registered names, in order of preference."""
        return list(self._serializers)

    def get(self, data_format: str) -> Serializer:
        """The serializer for a ``data_format`` entry such as ``"no_header_numpy:5"``.

        Args:
            data_format: A full name from an index; only the part before ``':'`` is looked up.

        Raises:
            FormatError: No registered serializer has that name.
        """
        name = data_format.split(":", 1)[0]
        try:
            return self._serializers[name]
        except KeyError:
            raise FormatError(
                f"unknown data format {data_format!r}: no serializer named {name!r} is registered "
                "(register one with litdata_format.register_serializer)"
            ) from None

    def resolve(self, value: Any) -> Serializer:
        """The serializer that will store ``value``: the first registered one that accepts it.

        Args:
            value: One leaf of an item.

        Raises:
            SerializationError: No serializer accepts the value (only possible without pickle).
        """
        for serializer in self._serializers.values():
            if serializer.can_serialize(value):
                return serializer
        raise SerializationError(f"no serializer accepts a value of type {type(value).__name__}")

    def decoder(self, data_format: str, *, allow_pickle: bool = False) -> Decoder:
        """The decoder for payloads written under ``data_format``.

        Args:
            data_format: A full name from an index, including any ``:arg``.
            allow_pickle: Whether the pickle format may be unpickled.

        Returns:
            A callable from the payload's ``memoryview`` to the decoded value.
        """
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
    """Add a serializer to the default registry, by default just ahead of the pickle fallback.

    Args:
        serializer: The serializer to add (its ``name`` is what ``index.json`` will record).
        before: The name to insert ahead of; None appends it after pickle, where it never wins.
        replace: Allow replacing a built-in or earlier serializer with the same name.
    """
    REGISTRY.register(serializer, before=before, replace=replace)
