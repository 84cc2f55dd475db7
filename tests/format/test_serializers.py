import io
import struct
from decimal import Decimal

import numpy as np
import pytest

from litdata_format import (
    REGISTRY,
    FormatError,
    ItemDecoder,
    ItemEncoder,
    PickleNotAllowedError,
    SerializationError,
    Serializer,
    SerializerRegistry,
)
from litdata_format.serializers import default_serializers


def encode_leaf(value):
    serializer = REGISTRY.resolve(value)
    payload, name = serializer.serialize(value)
    return payload, name


def decode_leaf(payload, name, allow_pickle=False):
    return REGISTRY.decoder(name, allow_pickle=allow_pickle)(memoryview(payload))


@pytest.mark.parametrize(
    "value, name, payload",
    [
        ("héllo", "str", "héllo".encode()),
        (True, "bool", b"\x01"),
        (False, "bool", b"\x00"),
        (-5, "int", struct.pack("<q", -5)),
        (np.int32(7), "int", struct.pack("<q", 7)),
        (2.5, "float", struct.pack("<d", 2.5)),
        (b"\x00raw", "bytes", b"\x00raw"),
        (np.arange(3, dtype=np.uint16), "no_header_numpy:5", np.arange(3, dtype=np.uint16).tobytes()),
        (
            np.ones((2, 3), dtype=np.float32),
            "numpy",
            struct.pack("<IIII", 9, 2, 2, 3) + np.ones((2, 3), dtype=np.float32).tobytes(),
        ),
    ],
    ids=repr,
)
def test_litdata_names_and_byte_layouts(value, name, payload):
    assert encode_leaf(value) == (payload, name)
    back = decode_leaf(payload, name)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
        assert back.flags.writeable
    else:
        assert back == value and type(back) is type(value.item() if isinstance(value, np.generic) else value)


def test_bytes_come_back_as_bytes_not_memoryview():
    assert type(decode_leaf(b"abc", "bytes")) is bytes


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                   "float16", "float32", "float64", "complex64", "complex128", "bool"])
def test_every_numpy_dtype_round_trips(dtype):
    value = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    payload, name = encode_leaf(value)
    back = decode_leaf(payload, name)
    assert back.dtype == value.dtype and np.array_equal(back, value)


def test_pil_layout_and_round_trip():
    Image = pytest.importorskip("PIL.Image")
    image = Image.new("RGBA", (3, 2), (1, 2, 3, 4))
    payload, name = encode_leaf(image)
    assert name == "pil"
    assert payload[:12] == struct.pack("<III", 3, 2, 4) and payload[12:16] == b"RGBA"
    back = decode_leaf(payload, name)
    assert back.mode == "RGBA" and back.size == (3, 2) and back.tobytes() == image.tobytes()


def test_jpeg_keeps_the_original_file_bytes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    path = tmp_path / "x.jpg"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, quality=91)
    original = path.read_bytes()
    image = Image.open(path)
    payload, name = encode_leaf(image)
    assert name == "jpeg" and payload == original
    from_memory = Image.open(io.BytesIO(original))
    assert encode_leaf(from_memory)[0] == original
    back = decode_leaf(payload, name)
    assert back.format == "JPEG" and back.size == (8, 8)


def test_jpeg_array_layout(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    files = []
    for i in range(2):
        path = tmp_path / f"{i}.jpg"
        Image.new("RGB", (4, 4 + i)).save(path)
        files.append(path.read_bytes())
    serializer = REGISTRY.get("jpeg_array")
    payload, name = serializer.serialize([Image.open(tmp_path / "0.jpg"), Image.open(tmp_path / "1.jpg")])
    assert payload == struct.pack("<III", 2, len(files[0]), len(files[1])) + files[0] + files[1]
    assert [im.size for im in decode_leaf(payload, name)] == [(4, 4), (4, 5)]


def test_file_paths_store_raw_bytes(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not really a video")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"hello")
    assert encode_leaf(str(video)) == (b"not really a video", "video:mp4")
    assert encode_leaf(str(other)) == (b"hello", "file:txt")
    assert decode_leaf(b"hello", "file:txt") == b"hello"
    assert encode_leaf("notes.txt") == (b"notes.txt", "str")  # not a file here: a plain string


def test_tensors_both_header_byte_orders():
    torch = pytest.importorskip("torch")
    value = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    payload, name = encode_leaf(value)
    assert name == "tensor"
    assert payload[:8] == struct.pack(">II", 16, 2)
    little = struct.pack("<IIII", 16, 2, 2, 3) + value.numpy().tobytes()
    for data in (payload, little):
        back = decode_leaf(data, "tensor")
        assert back.dtype == torch.int32 and torch.equal(back, value)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "uint8", "int8", "int16", "int32", "int64", "bool"])
def test_every_tensor_dtype_round_trips(dtype):
    torch = pytest.importorskip("torch")
    value = (torch.arange(6) % 2).to(getattr(torch, dtype))
    for shaped in (value, value.reshape(2, 3)):
        payload, name = encode_leaf(shaped)
        back = decode_leaf(payload, name)
        assert back.dtype == shaped.dtype and back.shape == shaped.shape and torch.equal(back, shaped)


def test_pickle_needs_permission(monkeypatch):
    payload, name = encode_leaf({1, 2})
    assert name == "pickle"
    monkeypatch.delenv("LITDATA_ALLOW_PICKLE", raising=False)
    with pytest.raises(PickleNotAllowedError, match="allow_pickle=True or set LITDATA_ALLOW_PICKLE=1"):
        decode_leaf(payload, name)
    assert decode_leaf(payload, name, allow_pickle=True) == {1, 2}
    monkeypatch.setenv("LITDATA_ALLOW_PICKLE", "1")
    assert decode_leaf(payload, name) == {1, 2}


def test_unknown_format_is_named():
    with pytest.raises(FormatError, match="unknown data format 'mystery:3'"):
        REGISTRY.decoder("mystery:3")


class Celsius:
    def __init__(self, degrees):
        self.degrees = degrees


class CelsiusSerializer(Serializer):
    name = "celsius"

    def can_serialize(self, value):
        return isinstance(value, Celsius)

    def serialize(self, value):
        return struct.pack("<d", value.degrees), self.name

    def decoder(self, data_format, *, allow_pickle=False):
        return lambda data: Celsius(struct.unpack("<d", data)[0])


def test_third_party_serializer_goes_before_pickle():
    registry = SerializerRegistry(default_serializers())
    registry.register(CelsiusSerializer(), before="pickle")
    assert registry.names()[-2:] == ["celsius", "pickle"]
    encoder = ItemEncoder(registry)
    data = encoder.encode({"t": Celsius(21.5)})
    assert encoder.data_format == ["celsius"]
    decoder = ItemDecoder(encoder.data_format, encoder.data_spec, registry=registry)
    assert decoder.decode(data)["t"].degrees == 21.5
    with pytest.raises(ValueError, match="already registered"):
        registry.register(CelsiusSerializer())


def test_items_must_keep_the_first_items_layout():
    encoder = ItemEncoder()
    encoder.encode({"a": 1, "b": "x"})
    with pytest.raises(SerializationError, match="leaf 0 is a float, but the first item stored it as 'int'"):
        encoder.encode({"a": 1.5, "b": "x"})
    with pytest.raises(SerializationError, match="structure differs"):
        encoder.encode({"a": 1})
    with pytest.raises(SerializationError, match="'no_header_numpy:3'"):
        tokens = ItemEncoder()
        tokens.encode(np.zeros(2, np.int64))
        tokens.encode(np.zeros(2, np.int32))


def test_decimal_is_pickled():
    assert encode_leaf(Decimal("1.5"))[1] == "pickle"


def test_none_leaves_are_pickled_like_litdata_but_read_without_permission(monkeypatch):
    monkeypatch.delenv("LITDATA_ALLOW_PICKLE", raising=False)
    encoder = ItemEncoder()
    data = encoder.encode({"label": None, "x": 1})
    assert encoder.data_format == ["pickle", "int"]
    assert ItemDecoder(encoder.data_format, encoder.data_spec).decode(data) == {"label": None, "x": 1}
    other = ItemEncoder()
    pickled = other.encode({"label": {1}, "x": 1})
    with pytest.raises(PickleNotAllowedError):
        ItemDecoder(other.data_format, other.data_spec).decode(pickled)


def test_jpeg_array_leaf_holds_a_variable_number_of_images(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from litdata_format import JpegArray, read_dataset, write_dataset

    files = []
    for i in range(4):
        path = tmp_path / f"{i}.jpg"
        Image.new("RGB", (4 + i, 4)).save(path)
        files.append(path)
    items = [{"frames": JpegArray([Image.open(p) for p in files[: 1 + i % 3]]), "id": i} for i in range(5)]
    write_dataset(tmp_path / "ds", items, chunk_size=2)
    back = read_dataset(tmp_path / "ds")
    assert [[im.size for im in b["frames"]] for b in back] == [[(4 + k, 4) for k in range(1 + i % 3)] for i in range(5)]
