"""optimize(..., encryption=...): LitData's Fernet / RSA encryption written by every rank."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("cryptography")

from litdata_format import EncryptionError, FernetEncryption, Index, RSAEncryption, read_dataset  # noqa: E402
from litdata_writer import ConfigMismatchError, optimize  # noqa: E402

from . import fns  # noqa: E402

EXPECTED = [{"input": i, "k": k, "text": f"{i}-{k}"} for i in range(12) for k in range(i % 4)]


@pytest.fixture(scope="module")
def fernet() -> dict[str, FernetEncryption]:
    return {level: FernetEncryption("s3cret", level=level) for level in ("sample", "chunk")}


@pytest.mark.parametrize("level", ["sample", "chunk"])
def test_two_workers_write_an_encrypted_dataset_with_exact_items(tmp_path, fernet, level):
    out = str(tmp_path / "ds")
    index = optimize(
        fns.variable_yield, range(12), out, num_workers=2, chunk_size=4, encryption=fernet[level], verbose=False
    )
    assert index.config.encryption == {"algorithm": "fernet", "level": level}
    assert len({c.filename.split("-")[1] for c in index.chunks}) == 2  # both ranks wrote chunks
    assert read_dataset(out, encryption=fernet[level]) == EXPECTED
    text = (tmp_path / "ds" / "index.json").read_text()
    assert json.loads(text)["config"]["encryption"] == {"algorithm": "fernet", "level": level}
    assert "s3cret" not in text
    with pytest.raises(EncryptionError, match="is encrypted"):
        read_dataset(out)


def test_spawned_workers_get_the_key(tmp_path, fernet):
    """With start_method='spawn' the encryption object reaches the ranks pickled."""
    out = str(tmp_path / "ds")
    optimize(
        fns.square, range(20), out, num_workers=2, chunk_size=3, encryption=fernet["chunk"],
        start_method="spawn", verbose=False,
    )  # fmt: skip
    assert read_dataset(out, encryption=fernet["chunk"]) == [(i, i**2) for i in range(20)]


def test_whole_chunk_zstd_over_chunk_encryption(tmp_path, fernet):
    out = str(tmp_path / "ds")
    index = optimize(
        fns.square, range(10), out, num_workers=1, chunk_size=4, compression="zstd", compression_level="chunk",
        encryption=fernet["chunk"], verbose=False,
    )  # fmt: skip
    assert [c.filename for c in index.chunks] == ["chunk-0-0.zstd.bin", "chunk-0-1.zstd.bin", "chunk-0-2.zstd.bin"]
    assert read_dataset(out, encryption=fernet["chunk"]) == [(i, i**2) for i in range(10)]


def test_rsa_sample_level(tmp_path):
    enc = RSAEncryption("pw", level="sample")
    out = str(tmp_path / "ds")
    optimize(fns.square, range(6), out, num_workers=2, chunk_size=2, encryption=enc, verbose=False)
    assert read_dataset(out, encryption=enc) == [(i, i**2) for i in range(6)]


def test_refused_before_any_worker_starts(tmp_path, fernet):
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match="not supported with item_loader='TokensLoader'"):
        optimize(fns.square, range(4), str(out), item_loader="TokensLoader", encryption=fernet["sample"])
    with pytest.raises(ValueError, match="compression_level='batch' does not support encryption"):
        optimize(fns.square, range(4), str(out), compression="zstd", encryption=fernet["sample"])
    with pytest.raises(TypeError, match="encryption must be an Encryption object, got str"):
        optimize(fns.square, range(4), str(out), encryption="fernet")
    assert not out.exists() or not any(out.iterdir())


def test_append_needs_the_same_encryption(tmp_path, fernet):
    out = str(tmp_path / "ds")
    optimize(fns.square, range(5), out, num_workers=1, encryption=fernet["sample"], verbose=False)
    with pytest.raises(ConfigMismatchError, match="encryption: existing .*'sample'.*, new None"):
        optimize(fns.square, range(5, 8), out, num_workers=1, mode="append", verbose=False)
    with pytest.raises(ConfigMismatchError, match="encryption: existing .*'sample'.*, new .*'chunk'"):
        optimize(fns.square, range(5, 8), out, num_workers=1, mode="append", encryption=fernet["chunk"], verbose=False)
    optimize(fns.square, range(5, 8), out, num_workers=1, mode="append", encryption=fernet["sample"], verbose=False)
    assert read_dataset(out, encryption=fernet["sample"]) == [(i, i**2) for i in range(8)]
    assert Index.load(out).config.encryption == {"algorithm": "fernet", "level": "sample"}
