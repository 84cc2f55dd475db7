"""StreamingDataset(..., encryption=...): encrypted datasets written by optimize() stream exactly.

Both of LitData's levels, a key loaded back from its key file, 2 DataLoader workers, and
the errors for a missing or wrong key. Chunk-level ciphertext is decrypted in memory:
the cache never holds plaintext.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("cryptography")

from litdata_format import DecryptionError, EncryptionError, FernetEncryption, RSAEncryption  # noqa: E402
from litdata_stream import StreamingDataLoader, StreamingDataset  # noqa: E402
from litdata_writer import optimize  # noqa: E402

MARKER = "plaintext-marker"
N = 40


def make_item(i: int) -> dict:
    return {"id": i, "text": f"{MARKER} {i} " + "z" * (i % 7), "vec": np.full(i % 5, i, dtype=np.int32)}


def _key(item: dict) -> tuple:
    return (item["id"], item["text"], item["vec"].dtype.str, item["vec"].tobytes())


def _check_exact(items: list) -> None:
    assert [_key(x) for x in items] == [_key(make_item(i)) for i in range(N)]


def _loader_items(ds: StreamingDataset) -> list:
    loader = StreamingDataLoader(ds, batch_size=1, num_workers=2, collate_fn=lambda batch: batch[0])
    return list(loader)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    """One dataset per level (and one chunk-level over whole-chunk zstd), with its key file."""
    root = tmp_path_factory.mktemp("encrypted")
    out = {}
    for name, level, compression in (("sample", "sample", None), ("chunk", "chunk", None), ("chunk_zstd", "chunk", "zstd")):
        enc = FernetEncryption("pw", level=level)
        kwargs = {"compression": compression, "compression_level": "chunk"} if compression else {}
        optimize(make_item, range(N), str(root / name), num_workers=2, chunk_size=6, encryption=enc,
                 verbose=False, **kwargs)  # fmt: skip
        enc.save(str(root / f"{name}.key.json"))
        out[name] = (str(root / name), str(root / f"{name}.key.json"))
    return out


@pytest.mark.parametrize("name", ["sample", "chunk", "chunk_zstd"])
def test_round_trip_exact_items_in_order_and_through_two_workers(written, name):
    folder, key_file = written[name]
    enc = FernetEncryption.load(key_file, "pw")  # as a user reads it later: from the key file
    ds = StreamingDataset(folder, encryption=enc)
    assert len(ds) == N
    _check_exact(ds[:])
    streamed = _loader_items(StreamingDataset(folder, encryption=enc, shuffle=True))
    assert Counter(map(_key, streamed)) == Counter(_key(make_item(i)) for i in range(N))
    assert len(streamed) == N


def test_cache_never_holds_plaintext(written, isolated_cache):
    folder, key_file = written["chunk_zstd"]  # compressed chunks go through the cache
    ds = StreamingDataset(folder, encryption=FernetEncryption.load(key_file, "pw"))
    _check_exact(ds[:])
    cached = [os.path.join(root, f) for root, _, files in os.walk(isolated_cache) for f in files]
    assert any(f.endswith(".bin") for f in cached)
    for path in cached:
        with open(path, "rb") as f:
            assert MARKER.encode() not in f.read(), path


@pytest.mark.parametrize("name", ["sample", "chunk"])
def test_missing_key_fails_when_the_dataset_is_opened(written, name):
    folder, _ = written[name]
    with pytest.raises(EncryptionError) as info:
        StreamingDataset(folder)
    assert str(info.value) == (
        f"{folder} is encrypted (fernet, {name} level): pass encryption= with its key, "
        "e.g. encryption=FernetEncryption.load(key_file, password)"
    )


@pytest.mark.parametrize("name", ["sample", "chunk"])
def test_wrong_key_fails_clearly_in_workers_too(written, name):
    folder, key_file = written[name]
    wrong = FernetEncryption.load(key_file, "not the password")
    with pytest.raises(DecryptionError, match="cannot be decrypted with the fernet key given: wrong password or key"):
        StreamingDataset(folder, encryption=wrong)[0]
    with pytest.raises(DecryptionError, match="cannot be decrypted with the fernet key given"):
        _loader_items(StreamingDataset(folder, encryption=wrong))


@pytest.mark.parametrize("name", ["sample", "chunk"])
def test_a_pickled_dataset_decrypts_as_the_original(written, name):
    """Spawned DataLoader workers get the dataset pickled: its decoder keeps the key."""
    import pickle

    folder, key_file = written[name]
    ds = StreamingDataset(folder, encryption=FernetEncryption.load(key_file, "pw"))
    _check_exact(pickle.loads(pickle.dumps(ds))[:])


def test_level_mismatch_is_refused(written):
    folder, _ = written["sample"]
    with pytest.raises(EncryptionError, match="encrypted at the 'sample' level, the encryption given is for the 'chunk'"):
        StreamingDataset(folder, encryption=FernetEncryption("pw", level="chunk"))


def test_rsa_sample_level_streams(tmp_path):
    enc = RSAEncryption("pw", level="sample")
    optimize(_tiny, range(10), str(tmp_path / "ds"), num_workers=2, chunk_size=3, encryption=enc, verbose=False)
    enc.save(str(tmp_path / "key.json"))
    loaded = RSAEncryption.load(str(tmp_path / "key.json"), "pw")
    assert StreamingDataset(str(tmp_path / "ds"), encryption=loaded)[:] == [(i, -i) for i in range(10)]
    assert sorted(_loader_items(StreamingDataset(str(tmp_path / "ds"), encryption=loaded))) == [
        (i, -i) for i in range(10)
    ]


def _tiny(i: int) -> tuple:
    return i, -i
