"""The ``litdata`` command line, run for real (``python -m litdata``) in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import litdata
from litdata.cli import _human_bytes
from litdata_format import Index, write_dataset

S3_KEY_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache folder, and no AWS settings from the machine leak into a test."""
    monkeypatch.setenv("LITDATA_CACHE_DIR", str(tmp_path / "cache"))
    for name in (*S3_KEY_ENV, "AWS_PROFILE", "LITDATA_ALLOW_PICKLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "litdata", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def squares(path: Path, n: int = 200, **kwargs) -> str:
    write_dataset(path, [(i, i**2) for i in range(n)], chunk_size=kwargs.pop("chunk_size", 16), **kwargs)
    return str(path)


def field(stdout: str, name: str) -> str:
    for line in stdout.splitlines():
        if line.startswith(name + " "):
            return line[len(name) :].strip()
    raise AssertionError(f"no {name!r} line in:\n{stdout}")


# ----------------------------------------------------------------------- general
@pytest.mark.parametrize(
    "args",
    [[], ["inspect"], ["verify"], ["cache"], ["cache", "path"], ["cache", "clear"]],
    ids=lambda a: " ".join(a) or "top",
)
def test_help(args):
    done = cli(*args, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: litdata {' '.join(args)}".rstrip())
    assert done.stderr == ""


def test_top_level_help_lists_the_commands():
    out = cli("--help").stdout
    for command in ("inspect", "verify", "cache"):
        assert command in out


def test_version():
    done = cli("--version")
    assert done.returncode == 0
    line = done.stdout.strip()
    assert line.startswith(f"litdata {litdata.__version__} (")
    for name, version in litdata.versions().items():
        assert f"{name} {version}" in line


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice"),
        (["inspect"], "required: URL"),
        (["cache"], "required: ACTION"),
        (["cache", "drop"], "invalid choice"),
        (["inspect", "ds", "--block-size", "x"], "invalid int value"),
    ],
)
def test_usage_errors_exit_2(args, message):
    done = cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("litdata")
    if not script.exists():
        pytest.skip("the litdata script is not beside this python (package not installed in this env)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "inspect" in done.stdout


# ----------------------------------------------------------------------- inspect
def test_inspect_local(tmp_path):
    url = squares(tmp_path / "ds")
    done = cli("inspect", url)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert field(out, "dataset") == url
    assert field(out, "items") == "200"
    assert field(out, "chunks") == "13"
    assert field(out, "data format") == "int, int"
    assert field(out, "structure") == "('int', 'int')"
    assert field(out, "item loader") == "PyTreeLoader"
    assert field(out, "compression") == "none"
    assert field(out, "checksums") == "all chunks"
    assert field(out, "sample[0]") == "(0, 0)"
    size = sum(c.chunk_bytes for c in Index.load(url).chunks)
    assert f"({size:,} bytes, uncompressed)" in field(out, "bytes")


@pytest.mark.parametrize(
    "level, label",
    [
        (None, "uncompressed"),
        ("chunk", "uncompressed"),  # chunk_bytes: the classic chunk before whole-file zstd
        ("batch", "as stored, after compression"),  # chunk_bytes: the framed file's size
        ("sample", "as stored, after compression"),
    ],
)
def test_inspect_says_what_the_bytes_measure(tmp_path, level, label):
    kwargs = {"compression": "zstd", "compression_level": level} if level else {}
    write_dataset(tmp_path / "ds", [("x" * 200 + str(i), i) for i in range(100)], chunk_size=25, **kwargs)
    chunks = Index.load(tmp_path / "ds").chunks
    size = sum(c.chunk_bytes for c in chunks)
    stored = sum(os.path.getsize(tmp_path / "ds" / c.filename) for c in chunks)
    if level in ("batch", "sample"):
        assert size == stored  # the files as they are on disk: compressed
    elif level == "chunk":
        assert size > 10 * stored  # the chunks before whole-file compression
    done = cli("inspect", str(tmp_path / "ds"), "--no-sample")
    assert done.returncode == 0, done.stderr
    assert field(done.stdout, "bytes") == f"{_human_bytes(size)} ({size:,} bytes, {label})"
    summary = json.loads(cli("inspect", str(tmp_path / "ds"), "--no-sample", "--json").stdout)
    assert (summary["bytes"], summary["bytes_label"]) == (size, label)


@pytest.mark.parametrize("level", ["sample", "chunk"])
def test_inspect_encrypted_dataset_summarizes_without_the_key(tmp_path, level):
    pytest.importorskip("cryptography")
    from litdata_format import FernetEncryption

    write_dataset(tmp_path / "ds", [(i, f"secret {i}") for i in range(20)], chunk_size=8,
                  encryption=FernetEncryption("pw", level=level))  # fmt: skip
    done = cli("inspect", str(tmp_path / "ds"))
    assert done.returncode == 0, done.stderr
    assert field(done.stdout, "items") == "20"
    assert field(done.stdout, "sample[0]") == (
        f"(the items are encrypted (fernet, {level} level): inspect does not decrypt them)"
    )
    assert "secret" not in done.stdout


def test_inspect_json_compressed_dict_items(tmp_path):
    items = [
        {"name": f"item-{i}", "grid": np.full((2, 3), i, dtype=np.int16), "tags": [i, "x"]} for i in range(40)
    ]
    write_dataset(tmp_path / "ds", items, chunk_size=10, compression="zstd")
    done = cli("inspect", str(tmp_path / "ds"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["items"] == 40
    assert summary["chunks"] == 4
    assert summary["compression"].startswith("zstd")
    assert summary["item_loader"] == "PyTreeLoader"
    assert summary["structure"]["name"] == "str"
    assert set(summary["structure"]) == {"name", "grid", "tags"}
    assert summary["sample"].startswith("{'name': 'item-0', 'grid': array([[0, 0, 0]")


def test_inspect_truncates_the_sample(tmp_path):
    write_dataset(tmp_path / "ds", ["x" * 5000, "y"], chunk_size=10)
    out = cli("inspect", str(tmp_path / "ds"), "--max-repr", "50").stdout
    sample = field(out, "sample[0]")
    assert len(sample) == 50 and sample.endswith("...")
    no_sample = cli("inspect", str(tmp_path / "ds"), "--no-sample").stdout
    assert "sample[0]" not in no_sample


def test_inspect_tokens(tmp_path):
    arrays = [np.arange(i * 100, i * 100 + 100, dtype=np.int32) for i in range(5)]
    write_dataset(tmp_path / "tokens", arrays, chunk_size=250, item_loader="TokensLoader")
    done = cli("inspect", str(tmp_path / "tokens"), "--block-size", "4")
    assert done.returncode == 0, done.stderr
    assert field(done.stdout, "item loader") == "TokensLoader"
    assert field(done.stdout, "tokens").startswith("500")
    assert "[0, 1, 2, 3]" in done.stdout


def test_inspect_pickled_items_need_permission(tmp_path):
    write_dataset(tmp_path / "ds", [{1, 2}, {3}], chunk_size=10)
    refused = cli("inspect", str(tmp_path / "ds"))
    assert refused.returncode == 0, refused.stderr
    assert "--allow-pickle" in refused.stdout
    allowed = cli("inspect", str(tmp_path / "ds"), "--allow-pickle")
    assert field(allowed.stdout, "sample[0]") == "{1, 2}"


def test_inspect_missing_folder(tmp_path):
    done = cli("inspect", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_inspect_folder_without_index(tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli("inspect", str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "no index.json" in done.stderr


def test_inspect_invalid_index(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "index.json").write_text("{not json")
    done = cli("inspect", str(tmp_path / "ds"))
    assert done.returncode == 1
    assert "not valid JSON" in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["inspect", "s3://"], "names no bucket"),
        (["inspect", "ds", "--storage-option", "novalue"], "KEY=VALUE"),
        (["verify", "ds", "-o", "colour=blue"], "unknown storage option"),
    ],
)
def test_bad_locations_are_usage_errors(tmp_path, args, message):
    squares(tmp_path / "ds", 10)
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------------ verify
def test_verify_good_dataset(tmp_path):
    url = squares(tmp_path / "ds")
    done = cli("verify", url, "-v")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok ") == 13
    assert "OK: 13 chunks, 200 items" in done.stdout
    assert "13 checksums verified" in done.stdout
    assert "note:" not in done.stdout


def test_verify_notes_chunk_files_the_index_does_not_list(tmp_path):
    url = squares(tmp_path / "ds")
    (tmp_path / "ds" / "chunk-9-9.bin").write_bytes(b"left over")
    (tmp_path / "ds" / "chunk-9-10.zstd.bin").write_bytes(b"left over")
    (tmp_path / "ds" / "chunk-notes.txt").write_bytes(b"not a chunk")
    done = cli("verify", url)
    assert done.returncode == 0, done.stderr
    assert "note: chunk-9-9.bin is not listed in index.json" in done.stdout
    notes = [line for line in done.stdout.splitlines() if line.startswith("note:")]
    assert sorted(notes) == [
        "note: chunk-9-10.zstd.bin is not listed in index.json (ignored by readers)",
        "note: chunk-9-9.bin is not listed in index.json (ignored by readers)",
    ]


@pytest.mark.parametrize("level", ["chunk", "batch", "sample"])
def test_verify_compressed_dataset(tmp_path, level):
    url = squares(tmp_path / "ds", compression="zstd", compression_level=level)
    done = cli("verify", url)
    assert done.returncode == 0, done.stderr


def test_verify_names_a_corrupted_chunk(tmp_path):
    url = squares(tmp_path / "ds")
    bad = Index.load(url).chunks[5].filename
    path = tmp_path / "ds" / bad
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte in the last item: the layout still parses
    path.write_bytes(bytes(data))
    done = cli("verify", url)
    assert done.returncode == 1
    assert f"BAD chunk {bad}: checksum mismatch" in done.stderr
    assert f"1 of 13 chunks are bad: {bad}" in done.stderr


def test_verify_reports_every_kind_of_problem(tmp_path):
    url = squares(tmp_path / "ds", compression="zstd", compression_level="chunk")
    chunks = Index.load(url).chunks
    (tmp_path / "ds" / chunks[1].filename).unlink()
    truncated = tmp_path / "ds" / chunks[2].filename
    truncated.write_bytes(truncated.read_bytes()[:20])
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    index["chunks"][3]["chunk_size"] += 1  # the index lies about an item count
    index["chunks"][3]["chunk_bytes"] += 7  # and about its size
    (tmp_path / "ds" / "index.json").write_text(json.dumps(index))
    done = cli("verify", url)
    assert done.returncode == 1
    err = done.stderr
    assert f"BAD chunk {chunks[1].filename}: missing" in err
    assert f"BAD chunk {chunks[2].filename}: checksum mismatch" in err
    assert f"BAD chunk {chunks[3].filename}: holds 16 items, index.json says 17" in err
    assert f"BAD chunk {chunks[3].filename}: decompressed size is" in err
    assert "3 of 13 chunks are bad" in err


def test_verify_without_checksums_checks_sizes(tmp_path):
    url = squares(tmp_path / "ds", checksum=False)
    assert cli("verify", url).returncode == 0
    path = tmp_path / "ds" / Index.load(url).chunks[0].filename
    path.write_bytes(path.read_bytes() + b"extra")
    done = cli("verify", url)
    assert done.returncode == 1
    assert "size is" in done.stderr and path.name in done.stderr


ENCRYPTED_NOTE = (
    "note: the chunks are encrypted ({}, chunk level): verify checks the stored, encrypted bytes "
    "(checksums and sizes) without decrypting them, so the item counts inside are not checked"
)


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_verify_chunk_encrypted_dataset_checks_the_stored_bytes(tmp_path, compression):
    """Checksums cover the chunk files as stored (ciphertext, then whole-chunk zstd): verify
    needs no key, and says that the item counts inside the ciphertext go unchecked."""
    pytest.importorskip("cryptography")
    from litdata_format import FernetEncryption, compute_checksum

    kwargs = {"compression": compression, "compression_level": "chunk"} if compression else {}
    url = squares(tmp_path / "ds", 40, chunk_size=10, encryption=FernetEncryption("pw", level="chunk"), **kwargs)
    chunks = Index.load(url).chunks
    done = cli("verify", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        ENCRYPTED_NOTE.format("fernet"),
        "OK: 4 chunks, 40 items; sizes match index.json, 4 checksums verified",
    ]
    assert done.stderr == ""

    path = tmp_path / "ds" / chunks[1].filename
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    index["chunks"][2]["chunk_bytes"] += 1
    (tmp_path / "ds" / "index.json").write_text(json.dumps(index))
    done = cli("verify", url)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [ENCRYPTED_NOTE.format("fernet")]
    what = "decompressed size" if compression else "size"
    assert done.stderr.splitlines() == [
        f"BAD chunk {chunks[1].filename}: checksum mismatch: file has {compute_checksum(bytes(data))}, "
        f"index.json records {chunks[1].checksum}",
        f"BAD chunk {chunks[2].filename}: {what} is {chunks[2].chunk_bytes} bytes, "
        f"index.json says {chunks[2].chunk_bytes + 1}",
        f"2 of 4 chunks are bad: {chunks[1].filename}, {chunks[2].filename}",
    ]


def test_verify_sample_encrypted_dataset_checks_item_counts_too(tmp_path):
    pytest.importorskip("cryptography")
    from litdata_format import FernetEncryption

    url = squares(tmp_path / "ds", 40, chunk_size=10, encryption=FernetEncryption("pw", level="sample"))
    done = cli("verify", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["OK: 4 chunks, 40 items; sizes and item counts match index.json, 4 checksums verified"]
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    index["chunks"][0]["chunk_size"] = 11
    (tmp_path / "ds" / "index.json").write_text(json.dumps(index))
    done = cli("verify", url)
    assert done.returncode == 1
    assert f"BAD chunk {index['chunks'][0]['filename']}: holds 10 items, index.json says 11" in done.stderr


def test_verify_names_an_unknown_checksum_algorithm(tmp_path):
    url = squares(tmp_path / "ds", 20, chunk_size=10)
    index = json.loads((tmp_path / "ds" / "index.json").read_text())
    index["chunks"][0]["checksum"] = "md5:0123"
    (tmp_path / "ds" / "index.json").write_text(json.dumps(index))
    done = cli("verify", url)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"BAD chunk {index['chunks'][0]['filename']}: unknown checksum algorithm 'md5' (this reader knows 'crc32')"
    )


def test_verify_missing_index(tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli("verify", str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "no index.json" in done.stderr


# -------------------------------------------------------------------------- cloud
@pytest.fixture
def s3_dataset(moto_server, tmp_path):
    """200 items (i, i**2) on the moto S3 server, written with optimize."""
    from litdata_writer import optimize

    url = moto_server.new_location() + "/squares"
    optimize(
        _square,
        list(range(200)),
        url,
        chunk_size=16,
        num_workers=1,
        storage_options=moto_server.storage_options(),
        verbose=False,
    )
    return url, moto_server


def _square(i):
    return i, i**2


def _aws_env(server) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.mark.s3
def test_inspect_s3_with_storage_options(s3_dataset):
    url, server = s3_dataset
    # Only index.json and the first chunk are read: the others may as well be gone.
    store = litdata.open_store(url, **server.storage_options())
    for chunk in Index.from_json(store.get("index.json")).chunks[1:]:
        store.delete(chunk.filename)
    opts = [f"--storage-option={k}={v}" for k, v in server.storage_options().items()]
    done = cli("inspect", url, *opts)
    assert done.returncode == 0, done.stderr
    assert field(done.stdout, "dataset") == url
    assert field(done.stdout, "items") == "200"
    assert field(done.stdout, "sample[0]") == "(0, 0)"


@pytest.mark.s3
def test_verify_s3_good_then_corrupted(s3_dataset):
    url, server = s3_dataset
    env = _aws_env(server)
    done = cli("verify", url, env=env)
    assert done.returncode == 0, done.stderr
    assert "OK: 13 chunks, 200 items" in done.stdout

    store = litdata.open_store(url, **server.storage_options())
    bad = Index.from_json(store.get("index.json")).chunks[7].filename
    data = bytearray(store.get(bad))
    data[-1] ^= 0x01
    store.put(bad, bytes(data))
    done = cli("verify", url, env=env)
    assert done.returncode == 1
    assert f"BAD chunk {bad}: checksum mismatch" in done.stderr
    assert f"1 of 13 chunks are bad: {bad}" in done.stderr


@pytest.mark.s3
def test_s3_missing_bucket_and_missing_index(moto_server):
    env = _aws_env(moto_server)
    done = cli("inspect", "s3://litdata-no-such-bucket-0/data", env=env)
    assert done.returncode == 1
    assert "litdata-no-such-bucket-0" in done.stderr and "Traceback" not in done.stderr
    empty = moto_server.new_location() + "/nothing"
    done = cli("verify", empty, env=env)
    assert done.returncode == 1
    assert "no index.json" in done.stderr


# -------------------------------------------------------------------------- cache
def test_cache_path_follows_the_environment(tmp_path):
    done = cli("cache", "path")
    assert done.returncode == 0
    assert done.stdout.strip() == str(tmp_path / "cache")
    done = cli("cache", "path", env={"LITDATA_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert done.stdout.strip() == str(tmp_path / "xdg" / "litdata")


@pytest.mark.s3
def test_cache_clear_after_streaming(s3_dataset, tmp_path):
    url, server = s3_dataset
    ds = litdata.StreamingDataset(url, storage_options=server.storage_options())
    assert [ds[i] for i in range(0, 200, 16)] == [(i, i**2) for i in range(0, 200, 16)]
    cache = tmp_path / "cache"
    chunk_bytes = sum(p.stat().st_size for p in cache.rglob("chunk-*.bin"))
    assert chunk_bytes > 0

    dry = cli("cache", "clear", "--dry-run")
    assert dry.returncode == 0 and "would free" in dry.stdout
    assert cache.exists()

    done = cli("cache", "clear")
    assert done.returncode == 0, done.stderr
    assert not cache.exists()
    freed = int(done.stdout.split("(")[1].split(" bytes")[0].replace(",", ""))
    assert freed >= chunk_bytes
    assert str(cache) in done.stdout

    again = cli("cache", "clear")
    assert again.returncode == 0 and "nothing to clear" in again.stdout


def test_cache_clear_refuses_the_home_folder(tmp_path):
    done = cli("cache", "clear", env={"LITDATA_CACHE_DIR": str(Path.home())})
    assert done.returncode == 2
    assert "refusing" in done.stderr


@pytest.mark.parametrize(
    "env",
    [{"LITDATA_CACHE_DIR": "/tmp/x-cache"}, {"LITDATA_CACHE_DIR": "", "XDG_CACHE_HOME": "/tmp/xdg"}, {}],
    ids=["explicit", "xdg", "home"],
)
def test_cache_root_is_the_stream_packages(monkeypatch, env):
    """The CLI reads cache.py without importing torch; it must agree with the real import."""
    from litdata.cli import cache_root
    from litdata_stream import default_cache_root

    for name in ("LITDATA_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cache_root() == default_cache_root()


def test_cache_commands_do_not_import_torch():
    code = "import sys; from litdata.cli import main; main(['cache', 'path']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-1] == "False"


VECTORS = Path(__file__).resolve().parents[1] / "format" / "vectors" / "data"


@pytest.mark.parametrize(
    "name, compression, sample",
    [
        ("zstd_framed_default", "zstd (framed, per batch of items)", "'record 0: lorem ipsum"),
        ("zstd_sample", "zstd (per sample)", "'record 0: lorem ipsum"),
        ("tokens_zstd", "zstd (whole chunk)", "[2401, 45516, 15551, 6085]"),
        ("pytree_dict", "none", "{'id': 0, 'name': 'item-0', 'pair': (0, 0)"),
    ],
)
def test_datasets_written_by_litdata(name, compression, sample):
    """Datasets written by LitData 0.2.x itself (the format package's test vectors)."""
    url = str(VECTORS / name)
    if not os.path.isdir(url):
        pytest.skip(f"{url} is missing")
    inspected = cli("inspect", url, "--block-size", "4")
    assert inspected.returncode == 0, inspected.stderr
    assert field(inspected.stdout, "compression") == compression
    assert field(inspected.stdout, "sample[0]").startswith(sample)
    verified = cli("verify", url)
    assert verified.returncode == 0, verified.stderr
    assert "no checksums recorded" in verified.stdout


@pytest.mark.parametrize(
    "name, algorithm",
    [("encrypted_fernet_chunk", "fernet"), ("encrypted_fernet_chunk_zstd", "fernet"), ("encrypted_rsa_chunk", "rsa")],
)
def test_verify_chunk_encrypted_datasets_written_by_litdata(name, algorithm):
    url = str(VECTORS / name)
    if not os.path.isdir(url):
        pytest.skip(f"{url} is missing")
    index = Index.load(url)
    done = cli("verify", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        ENCRYPTED_NOTE.format(algorithm),
        f"OK: {len(index.chunks)} chunks, {index.num_items} items; sizes match index.json, no checksums recorded",
    ]
