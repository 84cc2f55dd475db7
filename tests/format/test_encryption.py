"""Encrypted datasets in the format package: LitData 0.2.76's Fernet and RSA, sample and chunk level.

Covers: round trips with exact items, what ``index.json`` and the key files hold (LitData's
layout), the errors for a missing, mismatched or wrong key, what cannot be encrypted, the
optional ``cryptography`` dependency, and byte-compatibility with the datasets LitData
0.2.76 encrypted itself (tests/format/vectors/data/encrypted_*) in both directions.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from litdata_vectors import NAMES, expected  # tests/ is on sys.path (tests/conftest.py)

pytest.importorskip("cryptography")

import litdata_format as lf  # noqa: E402
from litdata_format import (  # noqa: E402
    DecryptionError,
    EncryptionError,
    FernetEncryption,
    Index,
    RSAEncryption,
    read_dataset,
    write_dataset,
)
from litdata_format.compression import decompress  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LITDATA_PYTHON = REPO / ".venvs" / "litdata-0.2.76" / "bin" / "python"
ENCRYPTED_VECTORS = [n for n in NAMES if expected.load(n)["reader"].get("encryption")]
MARKER = b"plaintext-marker"


def _items(n: int = 10) -> list:
    return [{"id": i, "text": MARKER.decode() + "-" * i, "vec": np.arange(i, dtype=np.float32)} for i in range(n)]


def _check(back: list, items: list) -> None:
    assert len(back) == len(items)
    for got, want in zip(back, items):
        assert got["id"] == want["id"] and got["text"] == want["text"]
        assert got["vec"].dtype == want["vec"].dtype and np.array_equal(got["vec"], want["vec"])


@pytest.fixture(scope="module")
def fernet_sample() -> FernetEncryption:
    return FernetEncryption("correct horse", level="sample")


@pytest.fixture(scope="module")
def fernet_chunk() -> FernetEncryption:
    return FernetEncryption("correct horse", level="chunk")


@pytest.mark.parametrize("level", ["sample", "chunk"])
@pytest.mark.parametrize("compression", [None, "zstd"])
def test_fernet_round_trip_exact_items_and_no_plaintext_on_disk(
    tmp_path, level, compression, fernet_sample, fernet_chunk
):
    enc = fernet_sample if level == "sample" else fernet_chunk
    items = _items()
    kwargs = {"compression": compression, "compression_level": "chunk"} if compression else {}
    index = write_dataset(tmp_path / "ds", items, chunk_size=4, encryption=enc, **kwargs)
    assert index.config.encryption == {"algorithm": "fernet", "level": level}
    _check(read_dataset(tmp_path / "ds", encryption=enc), items)
    for chunk in index.chunks:
        raw = (tmp_path / "ds" / chunk.filename).read_bytes()
        plain = decompress(raw, chunk.filename) if compression else raw
        assert MARKER not in plain
        if level == "chunk":  # LitData records the ciphertext's size
            assert chunk.chunk_bytes == len(plain)


def test_index_json_holds_the_state_dict_and_no_key_material(tmp_path, fernet_sample):
    write_dataset(tmp_path / "ds", _items(3), encryption=fernet_sample)
    text = (tmp_path / "ds" / "index.json").read_text()
    assert json.loads(text)["config"]["encryption"] == {"algorithm": "fernet", "level": "sample"}
    assert "correct horse" not in text and fernet_sample.key.decode() not in text


def test_sample_level_keeps_the_classic_header_over_ciphertexts(tmp_path, fernet_sample):
    """Each item between two offsets of the classic header is one Fernet token on its own."""
    items = _items(5)
    write_dataset(tmp_path / "ds", items, chunk_size=5, encryption=fernet_sample)
    raw = (tmp_path / "ds" / "chunk-0-0.bin").read_bytes()
    (count,) = struct.unpack_from("<I", raw)
    offsets = struct.unpack_from(f"<{count + 1}I", raw, 4)
    assert count == 5 and offsets[0] == 4 + 4 * 6 and offsets[-1] == len(raw)
    plain = write_dataset(tmp_path / "plain", items, chunk_size=5)
    plain_raw = (tmp_path / "plain" / plain.chunks[0].filename).read_bytes()
    plain_offsets = struct.unpack_from(f"<{count + 1}I", plain_raw, 4)
    for i in range(count):
        item = fernet_sample.decrypt(raw[offsets[i] : offsets[i + 1]])
        assert item == plain_raw[plain_offsets[i] : plain_offsets[i + 1]]


@pytest.mark.parametrize("level", ["sample", "chunk"])
def test_rsa_round_trip_of_tiny_items(tmp_path, level):
    enc = RSAEncryption("pw", level=level)
    items = list(range(7))
    index = write_dataset(tmp_path / "ds", items, chunk_size=3, encryption=enc)
    assert index.config.encryption == {"algorithm": "rsa", "level": level}
    assert read_dataset(tmp_path / "ds", encryption=enc) == items


def test_rsa_refuses_data_over_190_bytes(tmp_path):
    enc = RSAEncryption("pw", level="sample")
    message = "RSA (2048-bit, OAEP SHA-256) encrypts at most 190 bytes at once; this item has 204 bytes."
    with pytest.raises(ValueError, match=re.escape(message + " Use FernetEncryption for larger data.")):
        write_dataset(tmp_path / "ds", ["x" * 200], encryption=enc)
    assert not (tmp_path / "ds" / "index.json").exists()


def test_missing_key_fails_naming_the_dataset_and_what_to_pass(tmp_path, fernet_chunk):
    write_dataset(tmp_path / "ds", _items(3), encryption=fernet_chunk)
    with pytest.raises(EncryptionError) as info:
        read_dataset(tmp_path / "ds")
    assert isinstance(info.value, ValueError)  # what LitData raises
    assert str(info.value) == (
        f"{tmp_path / 'ds'} is encrypted (fernet, chunk level): pass encryption= with its key, "
        "e.g. encryption=FernetEncryption.load(key_file, password)"
    )


def test_another_algorithm_or_level_fails_before_reading(tmp_path, fernet_sample, fernet_chunk):
    write_dataset(tmp_path / "ds", _items(3), encryption=fernet_sample)
    with pytest.raises(EncryptionError, match="encrypted at the 'sample' level, the encryption given is for the 'chunk'"):
        lf.DatasetReader(tmp_path / "ds", encryption=fernet_chunk)
    with pytest.raises(EncryptionError, match="encrypted with 'fernet', the encryption given is 'rsa'"):
        lf.DatasetReader(tmp_path / "ds", encryption=RSAEncryption("pw", level="sample"))


@pytest.mark.parametrize("level", ["sample", "chunk"])
def test_wrong_key_fails_clearly_not_with_garbage(tmp_path, level, fernet_sample, fernet_chunk):
    enc = fernet_sample if level == "sample" else fernet_chunk
    write_dataset(tmp_path / "ds", _items(3), encryption=enc)
    enc.save(str(tmp_path / "key.json"))
    wrong_password = FernetEncryption.load(str(tmp_path / "key.json"), "wrong horse")
    other_salt = FernetEncryption("correct horse", level=level)  # same password, new salt: another key
    for wrong in (wrong_password, other_salt):
        reader = lf.DatasetReader(tmp_path / "ds", encryption=wrong)
        with pytest.raises(DecryptionError, match="cannot be decrypted with the fernet key given: wrong password or key"):
            reader[0]
    right = FernetEncryption.load(str(tmp_path / "key.json"), "correct horse")
    _check(read_dataset(tmp_path / "ds", encryption=right), _items(3))


def test_rsa_wrong_key_fails_clearly(tmp_path):
    write_dataset(tmp_path / "ds", [1, 2], encryption=RSAEncryption("pw", level="chunk"))
    with pytest.raises(DecryptionError, match="chunk chunk-0-0.bin cannot be decrypted with the rsa key given"):
        read_dataset(tmp_path / "ds", encryption=RSAEncryption("pw", level="chunk"))


def test_what_cannot_be_encrypted_is_refused_up_front(tmp_path, fernet_sample):
    with pytest.raises(ValueError, match="not supported with item_loader='TokensLoader'"):
        lf.ChunkWriter(tmp_path / "t", item_loader="TokensLoader", encryption=fernet_sample)
    for level in ("batch", "sample"):
        with pytest.raises(ValueError, match=f"compression_level='{level}' does not support encryption"):
            lf.ChunkWriter(tmp_path / "z", compression="zstd", compression_level=level, encryption=fernet_sample)
    with pytest.raises(TypeError, match="encryption must be an Encryption object, got str"):
        lf.ChunkWriter(tmp_path / "s", encryption="fernet")
    with pytest.raises(ValueError, match="level must be 'sample' or 'chunk', got 'file'"):
        FernetEncryption("pw", level="file")


def test_fernet_key_file_has_litdatas_layout_and_loads_back(tmp_path, fernet_chunk):
    path = tmp_path / "key.json"
    fernet_chunk.save(str(path))
    state = json.loads(path.read_bytes())
    assert list(state) == ["algorithm", "level", "salt"]
    assert state["algorithm"] == "fernet" and state["level"] == "chunk"
    assert len(__import__("base64").urlsafe_b64decode(state["salt"])) == 16
    loaded = FernetEncryption.load(str(path), "correct horse")
    assert loaded.level == "chunk" and loaded.salt == fernet_chunk.salt and loaded.key == fernet_chunk.key
    assert loaded.decrypt(fernet_chunk.encrypt(b"abc")) == b"abc"


def test_rsa_key_file_and_pem_files_load_back(tmp_path):
    enc = RSAEncryption("pw", level="sample")
    enc.save(str(tmp_path / "key.json"))
    state = json.loads((tmp_path / "key.json").read_bytes())
    assert list(state) == ["private_key", "public_key", "password", "level"]
    assert "ENCRYPTED" in state["private_key"]  # protected by the password
    token = enc.encrypt(b"hello")
    assert RSAEncryption.load(str(tmp_path / "key.json"), "pw").decrypt(token) == b"hello"
    enc.save_keys(str(tmp_path / "private.pem"), str(tmp_path / "public.pem"))
    other = RSAEncryption("pw", level="sample")
    other.load_keys(str(tmp_path / "private.pem"), str(tmp_path / "public.pem"), "pw")
    assert other.decrypt(token) == b"hello"
    with pytest.raises(ValueError, match="cannot load the RSA private key: wrong password"):
        other.load_keys(str(tmp_path / "private.pem"), str(tmp_path / "public.pem"), "nope")


def test_encryption_objects_survive_pickling(fernet_sample):
    """DataLoader and optimize() workers receive them pickled."""
    token = fernet_sample.encrypt(b"payload")
    assert pickle.loads(pickle.dumps(fernet_sample)).decrypt(token) == b"payload"
    rsa = RSAEncryption("", level="chunk")
    assert pickle.loads(pickle.dumps(rsa)).decrypt(rsa.encrypt(b"payload")) == b"payload"


def test_item_decoder_with_sample_encryption_survives_pickling(fernet_sample):
    """The stream's workers get the decoder pickled, key and per-sample setting included."""
    encoder = lf.ItemEncoder()
    stored = fernet_sample.encrypt(encoder.encode({"id": 3, "text": "x"}))
    decoder = lf.ItemDecoder(encoder.data_format, encoder.data_spec, sample_encryption=fernet_sample)
    clone = pickle.loads(pickle.dumps(decoder))
    assert clone.decode(stored) == decoder.decode(stored, "chunk-0-0.bin", 0) == {"id": 3, "text": "x"}
    with pytest.raises(DecryptionError) as caught:
        clone.decode(stored[:-1], "chunk-0-0.bin", 4, "/data/ds")
    assert str(caught.value).startswith(
        "/data/ds: chunk chunk-0-0.bin, item 4: the item cannot be decrypted with the fernet key given"
    )
    compressed = lf.ItemDecoder(["int"], None, per_sample=True)
    assert pickle.loads(pickle.dumps(compressed)).decode(lf.compress(lf.ItemEncoder().encode(7), "zstd")) == 7


def test_litdata_import_paths():
    import litdata
    from litdata.utilities.encryption import Encryption, FernetEncryption, RSAEncryption

    assert litdata.FernetEncryption is FernetEncryption is lf.FernetEncryption
    assert litdata.RSAEncryption is RSAEncryption and litdata.Encryption is Encryption
    assert issubclass(FernetEncryption, Encryption) and issubclass(RSAEncryption, Encryption)


def test_without_cryptography_import_works_and_use_names_the_extra():
    code = textwrap.dedent(
        """
        import sys, tempfile
        sys.modules["cryptography"] = None  # as if it were not installed
        import litdata_format as lf
        from litdata.utilities.encryption import FernetEncryption
        with tempfile.TemporaryDirectory() as tmp:
            lf.write_dataset(tmp + "/ds", [1, 2, 3])
            assert lf.read_dataset(tmp + "/ds") == [1, 2, 3]
        try:
            FernetEncryption("pw")
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "ModuleNotFoundError encrypted datasets need the 'cryptography' package, which is not installed: "
        "pip install 'litdata[encryption]'"
    )


# -- LitData 0.2.76's own encrypted datasets ---------------------------------------------


def test_encrypted_vectors_present():
    assert sorted(ENCRYPTED_VECTORS) == [
        "encrypted_fernet_chunk",
        "encrypted_fernet_chunk_zstd",
        "encrypted_fernet_sample",
        "encrypted_rsa_chunk",
        "encrypted_rsa_sample",
    ]


@pytest.mark.parametrize("name", ENCRYPTED_VECTORS)
def test_reads_litdatas_encrypted_vector_exactly(name):
    vector = expected.load(name)
    folder = expected.DATA_DIR / name
    assert Index.load(folder).config.encryption == vector["notes"]["config"]["encryption"]
    items = read_dataset(folder, encryption=expected.encryption_for(vector), verify=True)
    assert len(items) == len(vector["items"])
    for actual, want in zip(items, vector["items"]):
        expected.check(actual, want)
    with pytest.raises(EncryptionError, match="is encrypted"):
        read_dataset(folder)


def _plaintexts(folder: Path, encryption) -> list[bytes]:
    """Every chunk of ``folder`` decrypted (chunk level) or with each item decrypted in place
    (sample level): what the chunk holds under the encryption, as bytes to compare."""
    index = Index.load(folder)
    out = []
    for info in index.chunks:
        raw = (folder / info.filename).read_bytes()
        if lf.compression.is_compressed_filename(info.filename):
            raw = decompress(raw, info.filename)
        if encryption.level == "chunk":
            out.append(encryption.decrypt(raw))
            continue
        (count,) = struct.unpack_from("<I", raw)
        offsets = struct.unpack_from(f"<{count + 1}I", raw, 4)
        out.append(b"".join(encryption.decrypt(raw[offsets[i] : offsets[i + 1]]) for i in range(count)))
    return out


@pytest.mark.parametrize("name", ENCRYPTED_VECTORS)
def test_our_plaintext_is_byte_identical_to_litdatas(tmp_path, name):
    """Encryption is randomized (salt, IV, OAEP), so ciphertexts never match: what must
    match is what was encrypted. Ours, written with the vector's key, decrypts to LitData's bytes."""
    vector = expected.load(name)
    enc = expected.encryption_for(vector)
    kwargs = {k: v for k, v in vector["notes"]["optimize_kwargs"].items() if k in ("chunk_size", "compression")}
    if vector["notes"]["optimize_kwargs"].get("compression_level"):
        kwargs["compression_level"] = vector["notes"]["optimize_kwargs"]["compression_level"]
    write_dataset(tmp_path / "ours", expected.decode(vector["items"]), encryption=enc, **kwargs)
    theirs, ours = Index.load(expected.DATA_DIR / name), Index.load(tmp_path / "ours")
    assert [c.filename for c in ours.chunks] == [c.filename for c in theirs.chunks]
    assert [c.chunk_bytes for c in ours.chunks] == [c.chunk_bytes for c in theirs.chunks]
    for key in ("data_format", "data_spec", "encryption", "compression", "chunk_size", "item_loader"):
        assert getattr(ours.config, key) == getattr(theirs.config, key), key
    assert _plaintexts(tmp_path / "ours", enc) == _plaintexts(expected.DATA_DIR / name, enc)


READ_WITH_LITDATA = textwrap.dedent(
    """
    import json, sys
    from litdata import StreamingDataset
    from litdata.utilities.encryption import FernetEncryption, RSAEncryption
    out = {}
    for folder, cls, key_file, cache in json.loads(sys.argv[1]):
        enc = {"FernetEncryption": FernetEncryption, "RSAEncryption": RSAEncryption}[cls].load(key_file, "pw")
        ds = StreamingDataset(folder, encryption=enc, cache_dir=cache)
        out[folder] = [ds[i] for i in range(len(ds))]
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not LITDATA_PYTHON.exists(), reason="LitData 0.2.76 venv not present")
def test_litdata_reads_what_we_encrypted(tmp_path):
    """LitData 0.2.76 decrypts our datasets with the key files our objects saved."""
    jobs = []
    cases = [
        (FernetEncryption("pw", level="sample"), [(i, f"text {i}") for i in range(9)]),
        (FernetEncryption("pw", level="chunk"), [(i, f"text {i}") for i in range(9)]),
        (RSAEncryption("pw", level="sample"), [(i, f"t{i}") for i in range(5)]),
        (RSAEncryption("pw", level="chunk"), [(i, "") for i in range(5)]),
    ]
    for k, (enc, items) in enumerate(cases):
        folder = tmp_path / f"ds{k}"
        write_dataset(folder, items, chunk_size=2, encryption=enc)
        enc.save(str(tmp_path / f"key{k}.json"))
        jobs.append([str(folder), type(enc).__name__, str(tmp_path / f"key{k}.json"), str(tmp_path / f"cache{k}")])
    done = subprocess.run(
        [str(LITDATA_PYTHON), "-c", READ_WITH_LITDATA, json.dumps(jobs)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for (folder, *_), (_, items) in zip(jobs, cases):
        assert got[folder] == [list(item) for item in items], folder
