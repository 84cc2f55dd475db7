"""Write the LitData 0.2.76 test vectors with LitData's own ``litdata.optimize``.

Run inside the LitData venv (``regenerate.sh`` does that):

    .venvs/litdata-0.2.76/bin/python tests/format/vectors/write_vectors.py tests/format/vectors/data [NAME ...]

For every dataset in ``items.SPECS`` it writes ``data/<name>/`` (index.json + chunks,
exactly as LitData wrote them) and ``data/<name>/expected.json``: the items put in
(tagged JSON, see README.md), the observed on-disk facts (``notes``), and the result
of reading the dataset back with ``litdata.StreamingDataset``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import items as vector_items  # noqa: E402
import numpy as np  # noqa: E402
from encode import encode  # noqa: E402

KNOWN_CONFIG_KEYS = {
    "chunk_bytes", "chunk_size", "compression", "data_format", "data_spec", "encryption", "item_loader",
}  # fmt: skip


def _fn(name: str, workdir: str, index: int) -> Any:
    return vector_items.build_items(name, workdir)[index]


def _token_fn(name: str, workdir: str, index: int) -> Any:
    arrays = vector_items.build_items(name, workdir)
    yield arrays[2 * index]
    yield arrays[2 * index + 1]


# ----------------------------------------------------------------------------------
# On-disk inspection (independent of LitData's reader).


def _layout(raw: bytes) -> str:
    return "LDFZ01" if raw[:8] == b"LDFZ01\0\0" else "classic"


def _dump_ldfz(raw: bytes) -> dict:
    magic, version, flags, n, k, n_frames = struct.unpack_from("<8sHHIII", raw, 0)
    offsets = list(struct.unpack_from(f"<{n + 1}I", raw, 24))
    pos = 24 + 4 * (n + 1)
    frames = []
    for _ in range(n_frames):
        first, count, coff, clen, ulen = struct.unpack_from("<IIQII", raw, pos)
        frames.append(
            {
                "first_item": first,
                "n_items": count,
                "compressed_off": coff,
                "compressed_len": clen,
                "uncompressed_len": ulen,
            }
        )
        pos += 24
    return {
        "magic": magic.decode("latin1"),
        "version": version,
        "flags": flags,
        "num_items": n,
        "frame_rows": k,
        "n_frames": n_frames,
        "offsets": offsets,
        "frames": frames,
        "header_bytes": pos,
        "first_64_bytes_hex": raw[:64].hex(),
    }


def _classic_header(raw: bytes) -> dict:
    n = struct.unpack_from("<I", raw, 0)[0]
    offsets = list(struct.unpack_from(f"<{n + 1}I", raw, 4))
    return {"num_items": n, "offsets": offsets}


def _item0_leaves(raw: bytes, hdr: dict, config: dict) -> list:
    """Leaf sizes and leading bytes of the first item of a classic chunk."""
    start, end = hdr["offsets"][0], hdr["offsets"][1]
    item = raw[start:end]
    n = len(config["data_format"])
    sizes = struct.unpack_from(f"<{n}I", item, 0)
    pos = 4 * n
    out = []
    for fmt, size in zip(config["data_format"], sizes):
        leaf = item[pos : pos + size]
        entry = {"data_format": fmt, "size": size, "head_hex": leaf[:24].hex()}
        if fmt == "tensor" and len(leaf) >= 8:
            le = struct.unpack_from("<II", leaf, 0)
            be = struct.unpack_from(">II", leaf, 0)
            entry["header_byte_order"] = (
                "big-endian" if be[0] <= 20 and be[1] <= 8 else "little-endian" if le[0] <= 20 else "?"
            )
            entry["dtype_index_rank_be"] = list(be)
        out.append(entry)
        pos += size
    return out


def inspect_dataset(path: str) -> dict:
    import zstd

    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    config = index["config"]
    chunks = []
    for chunk in index["chunks"]:
        file_path = os.path.join(path, chunk["filename"])
        with open(file_path, "rb") as f:
            raw = f.read()
        info: dict[str, Any] = {
            "filename": chunk["filename"],
            "file_size": len(raw),
            "index_chunk_bytes": chunk["chunk_bytes"],
            "chunk_size": chunk["chunk_size"],
            "dim": chunk["dim"],
        }
        encrypted_level = (config.get("encryption") or {}).get("level")
        if encrypted_level == "chunk":  # ciphertext: no header to read without the key
            body = zstd.decompress(raw) if ".zstd" in chunk["filename"] else raw
            info["layout"] = "chunk-level encrypted" + (" + whole-chunk zstd" if body is not raw else "")
            info["chunk_bytes_is"] = "ciphertext size" if len(body) == chunk["chunk_bytes"] else "not it"
            info["ciphertext_head_hex"] = body[:16].hex()
            chunks.append(info)
            continue
        if ".zstd" in chunk["filename"]:
            plain = zstd.decompress(raw)
            info["layout"] = "whole-chunk zstd"
            info["decompressed_size"] = len(plain)
            info["chunk_bytes_is"] = (
                "decompressed size"
                if len(plain) == chunk["chunk_bytes"]
                else "file size"
                if len(raw) == chunk["chunk_bytes"]
                else "neither"
            )
            info["inner_layout"] = _layout(plain)
            info["header"] = _classic_header(plain)
        else:
            info["layout"] = _layout(raw)
            info["chunk_bytes_is"] = "file size" if len(raw) == chunk["chunk_bytes"] else "not the file size"
            if info["layout"] == "LDFZ01":
                info["ldfz01"] = _dump_ldfz(raw)
            else:
                info["header"] = _classic_header(raw)
                hdr = info["header"]
                first_payload = raw[hdr["offsets"][0] : hdr["offsets"][0] + 4]
                if hdr["num_items"] and first_payload == b"\x28\xb5\x2f\xfd":
                    info["layout"] = "classic + per-item zstd (sample)"
                if encrypted_level == "sample":
                    info["layout"] = "classic + per-item encryption (sample)"
                if (
                    chunks == []
                    and info["layout"] == "classic"
                    and config.get("item_loader") == "PyTreeLoader"
                    and config.get("data_format")
                ):
                    notes_item0 = _item0_leaves(raw, hdr, config)
                    info["item0_leaves"] = notes_item0
                info["offsets_absolute"] = hdr["offsets"][0] == 4 + 4 * (hdr["num_items"] + 1)
                info["last_offset_is_file_end"] = hdr["offsets"][-1] == len(raw)
        chunks.append(info)
    layouts = sorted({c["layout"] for c in chunks})
    notes = {
        "data_format": config.get("data_format"),
        "data_spec": json.loads(config["data_spec"]) if config.get("data_spec") else None,
        "config": config,
        "extra_config_keys": sorted(set(config) - KNOWN_CONFIG_KEYS),
        "index_top_level_keys": sorted(index),
        "chunk_count": len(chunks),
        "layouts": layouts,
        "chunks": chunks,
    }
    return notes


# ----------------------------------------------------------------------------------
# Reading back with LitData.


def _raw_serializers() -> dict:
    """Serializers that hand back stored bytes for media formats whose decoders
    (torchvision, torchcodec) are not installed in the venv."""
    from litdata.streaming.serializers import Serializer

    class Raw(Serializer):
        def serialize(self, data):  # pragma: no cover - read only
            raise NotImplementedError

        def deserialize(self, data):
            return bytes(data)

        def can_serialize(self, data):
            return False

    class RawJpegArray(Raw):
        def deserialize(self, data):
            data = bytes(data)
            n = struct.unpack_from("<I", data, 0)[0]
            sizes = struct.unpack_from(f"<{n}I", data, 4)
            pos = 4 + 4 * n
            out = []
            for size in sizes:
                out.append(data[pos : pos + size])
                pos += size
            return out

    return {"jpeg": Raw(), "video": Raw(), "image": Raw(), "tifffile": Raw(), "jpeg_array": RawJpegArray()}


def _normalize(value: Any) -> Any:
    """LitData's returned values -> the tagged encoding, leniently (memoryview = bytes)."""
    if isinstance(value, memoryview):
        value = bytes(value)
    return encode(value)


def readback(path: str, expected_items: list, spec: dict, media: dict | None, encryption: Any = None) -> dict:
    """Read the dataset with litdata.StreamingDataset; compare with the expected items."""
    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "ds")
        shutil.copytree(path, copy, ignore=shutil.ignore_patterns("expected.json"))
        kwargs: dict[str, Any] = dict(shuffle=False, cache_dir=os.path.join(tmp, "cache"))
        if spec.get("item_loader") == "TokensLoader":
            kwargs["item_loader"] = TokensLoader(block_size=vector_items.TOKEN_BLOCK_SIZE)
        else:
            kwargs["serializers"] = _raw_serializers()
        if encryption is not None:
            kwargs["encryption"] = encryption
        try:
            ds = StreamingDataset(copy, **kwargs)
            got = [ds[i] for i in range(len(ds))]
        except Exception as exc:  # noqa: BLE001
            message = f"{type(exc).__name__}: {exc}".replace(copy, "<dataset>")
            return {"status": "error", "error": message[:500]}
    got_enc = [
        _normalize(_torch_to_numpy_tokens(v) if spec.get("item_loader") == "TokensLoader" else v) for v in got
    ]
    types = _leaf_types(got[0]) if got else None
    if got_enc == expected_items:
        return {"status": "equal", "litdata_leaf_types_item0": types}
    if media is not None and got_enc == media:
        return {"status": "equal (raw media bytes)", "litdata_leaf_types_item0": types}
    first = next((i for i, (a, b) in enumerate(zip(got_enc, expected_items)) if a != b), None)
    return {
        "status": "differs",
        "len_litdata": len(got_enc),
        "len_expected": len(expected_items),
        "first_difference_at": first,
        "litdata_item": got_enc[first] if first is not None else None,
        "litdata_leaf_types_item0": types,
    }


def _torch_to_numpy_tokens(value: Any) -> Any:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.numpy()
    except ImportError:
        pass
    return value


def _leaf_types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _leaf_types(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_leaf_types(v) for v in value]
    return type(value).__module__ + "." + type(value).__qualname__


# ----------------------------------------------------------------------------------


def token_blocks(arrays: list[np.ndarray], chunk_dims: list[int], block_size: int) -> list[np.ndarray]:
    """Our model of TokensLoader: each chunk is one token stream; dim // block_size
    blocks per chunk, never crossing a chunk; leftovers dropped."""
    stream = np.concatenate(arrays)
    blocks = []
    start = 0
    for dim in chunk_dims:
        chunk = stream[start : start + dim]
        for k in range(dim // block_size):
            blocks.append(chunk[k * block_size : (k + 1) * block_size])
        start += dim
    assert start == len(stream)
    return blocks


def make_encryption(spec: dict) -> Any:
    """LitData's encryption object for a vector spec (``cls``, ``level``), with the vectors' password."""
    from litdata.utilities import encryption as litdata_encryption

    return getattr(litdata_encryption, spec["cls"])(vector_items.ENCRYPTION_PASSWORD, level=spec["level"])


def load_encryption(reader: dict, folder: str) -> Any:
    """LitData's encryption object from a vector's key file (``expected.json``'s ``reader.encryption``)."""
    from litdata.utilities import encryption as litdata_encryption

    cls = getattr(litdata_encryption, reader["class"])
    return cls.load(os.path.join(folder, reader["key_file"]), reader["password"])


def _keep_timestamp_if_unchanged(out: str, old_index: bytes | None) -> None:
    """Regenerating an unchanged dataset leaves index.json byte-identical: when only
    ``updated_at`` differs, the previous file is put back (chunk files are deterministic)."""
    if old_index is None:
        return
    path = os.path.join(out, "index.json")
    with open(path, "rb") as f:
        new_index = json.loads(f.read())
    previous = json.loads(old_index)
    new_index.pop("updated_at", None)
    previous.pop("updated_at", None)
    if new_index == previous:
        with open(path, "wb") as f:
            f.write(old_index)


def write_one(name: str, out_root: str, workdir: str) -> dict:
    import litdata
    from litdata.streaming.item_loader import TokensLoader

    spec = vector_items.SPECS[name]
    out = os.path.join(out_root, name)
    old_index = None
    if os.path.exists(os.path.join(out, "index.json")):
        with open(os.path.join(out, "index.json"), "rb") as f:
            old_index = f.read()
    if os.path.exists(out):
        shutil.rmtree(out)
    values = vector_items.build_items(name, workdir)
    kwargs = dict(spec["optimize"])
    encryption = make_encryption(spec["encryption"]) if "encryption" in spec else None
    if spec.get("item_loader") == "TokensLoader":
        fn = functools.partial(_token_fn, name, workdir)
        inputs = list(range(len(values) // 2))
        kwargs["item_loader"] = TokensLoader()
    else:
        fn = functools.partial(_fn, name, workdir)
        inputs = list(range(len(values)))
    extra = {} if encryption is None else {"encryption": encryption}
    workers = spec.get("num_workers", 1)
    litdata.optimize(fn=fn, inputs=inputs, output_dir=out, num_workers=workers, verbose=False, **kwargs, **extra)
    _keep_timestamp_if_unchanged(out, old_index)
    if encryption is not None:  # the key material a reader needs, next to the dataset
        encryption.save(os.path.join(out, vector_items.ENCRYPTION_KEY_FILE))

    notes = inspect_dataset(out)
    notes["optimize_kwargs"] = {k: (v if k != "item_loader" else "TokensLoader()") for k, v in kwargs.items()}
    if "key_fn" in kwargs:  # a function: recorded by name
        notes["optimize_kwargs"]["key_fn"] = kwargs["key_fn"].__name__
    notes["optimize_kwargs"]["num_workers"] = workers
    if encryption is not None:
        notes["optimize_kwargs"]["encryption"] = f"{spec['encryption']['cls']}(password, level={encryption.level!r})"
    result: dict[str, Any] = {"dataset": name, "covers": spec["covers"]}
    if spec.get("item_loader") == "TokensLoader":
        dims = [c["dim"] for c in notes["chunks"]]
        blocks = token_blocks(values, dims, vector_items.TOKEN_BLOCK_SIZE)
        result["reader"] = {
            "item_loader": "TokensLoader",
            "block_size": vector_items.TOKEN_BLOCK_SIZE,
            "allow_pickle": False,
        }
        result["tokens_written"] = [encode(v) for v in values]
        result["items"] = [encode(b) for b in blocks]
        notes["dim_equals_tokens_in_chunk"] = sum(dims) == sum(len(v) for v in values)
        media = None
    else:
        result["reader"] = {
            "item_loader": "PyTreeLoader",
            "block_size": None,
            "allow_pickle": "pickle" in (notes["data_format"] or []),
        }
        if "expect" in spec:
            values = spec["expect"](values)
            notes["expected_differs_from_input"] = spec["expect_note"]
        result["items"] = [encode(v) for v in values]
        media = None
        if any(
            f.split(":")[0] in ("jpeg", "video", "image", "tifffile", "jpeg_array", "file")
            for f in notes["data_format"]
        ):
            media = [encode(v, media_as_raw=True) for v in values]
    if encryption is not None:
        result["reader"]["encryption"] = {
            "class": spec["encryption"]["cls"],
            "password": vector_items.ENCRYPTION_PASSWORD,
            "key_file": vector_items.ENCRYPTION_KEY_FILE,
        }
    notes["litdata_readback"] = readback(out, result["items"], spec, media, encryption)
    if notes["chunk_count"] < 2:
        notes["warning"] = "only one chunk"
    result["notes"] = notes
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return result


def main() -> None:
    out_root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "data"))
    names = sys.argv[2:] or list(vector_items.SPECS)
    os.makedirs(out_root, exist_ok=True)
    if len(sys.argv) <= 2:  # full regeneration: drop datasets that no longer exist
        for entry in os.listdir(out_root):
            if entry not in vector_items.SPECS and os.path.isdir(os.path.join(out_root, entry)):
                shutil.rmtree(os.path.join(out_root, entry))
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            try:
                result = write_one(name, out_root, workdir)
            except Exception as exc:  # noqa: BLE001
                print(f"{name:22s} FAILED to write: {type(exc).__name__}: {exc}", flush=True)
                continue
            n = result["notes"]
            print(
                f"{name:22s} chunks={n['chunk_count']} layouts={n['layouts']} format={n['data_format']} "
                f"readback={n['litdata_readback']['status']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
