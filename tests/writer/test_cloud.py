"""optimize() to S3 (moto, rclone), GCS (fake-gcs-server) and Azure (Azurite)."""

from __future__ import annotations

import functools

import pytest

from litdata_format import Index
from litdata_writer import ConfigMismatchError, WorkerError, optimize

from . import fns
from .helpers import index_of, keys, read_back


def test_round_trip(cloud_target):
    url = cloud_target.url + "/dataset"
    options = cloud_target.storage_options
    optimize(fns.mixed, range(30), url, num_workers=2, chunk_size=4, storage_options=options, verbose=False)
    items = read_back(url, options)
    expected = [fns.mixed(i) for i in range(30)]
    assert [x["i"] for x in items] == list(range(30))
    assert [x["nested"] for x in items] == [e["nested"] for e in expected]
    assert [x["grid"].tolist() for x in items] == [e["grid"].tolist() for e in expected]
    listed = keys(url, options)
    assert listed == sorted(["index.json"] + [c.filename for c in index_of(url, options).chunks])


@pytest.mark.s3
def test_modes_on_s3(s3_target, tmp_path):
    url, options = s3_target.url, s3_target.storage_options
    optimize(
        fns.square,
        range(20),
        url,
        num_workers=2,
        chunk_size=6,
        compression="zstd",
        storage_options=options,
        verbose=False,
    )
    with pytest.raises(FileExistsError, match="already holds"):
        optimize(fns.square, range(3), url, num_workers=1, storage_options=options, verbose=False)
    optimize(
        fns.square,
        range(20, 30),
        url,
        num_workers=2,
        chunk_size=6,
        compression="zstd",
        mode="append",
        storage_options=options,
        verbose=False,
    )
    assert read_back(url, options) == [(i, i**2) for i in range(30)]
    with pytest.raises(ConfigMismatchError, match="compression"):
        optimize(
            fns.square,
            range(3),
            url,
            num_workers=1,
            chunk_size=6,
            mode="append",
            storage_options=options,
            verbose=False,
        )
    optimize(
        fns.square, range(5), url, num_workers=1, mode="overwrite", storage_options=options, verbose=False
    )
    assert read_back(url, options) == [(i, i**2) for i in range(5)]
    assert keys(url, options) == ["chunk-0-0.bin", "index.json"]


@pytest.mark.s3
def test_tokens_and_generator_on_s3(s3_target):
    url, options = s3_target.url, s3_target.storage_options
    optimize(
        fns.tokens,
        range(20),
        url,
        num_workers=2,
        chunk_size=64,
        item_loader="TokensLoader",
        storage_options=options,
        verbose=False,
    )
    index = index_of(url, options)
    assert index.config.item_loader == "TokensLoader"
    assert sum(c.dim for c in index.chunks) == sum(10 + i % 7 for i in range(20))


@pytest.mark.s3
def test_resume_on_s3(moto_server, monkeypatch, tmp_path):
    url, options = moto_server.new_location(), moto_server.storage_options()
    monkeypatch.setenv("LITDATA_CHECKPOINT_INTERVAL", "0")
    monkeypatch.setenv("WRITER_TEST_SLEEP", "0.02")  # lets uploads keep up before the kill
    monkeypatch.setenv(fns.KILL_AT_ENV, "25")
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    run = functools.partial(
        optimize, fns.killed_once, list(range(40)), url, num_workers=2, chunk_size=4,
        storage_options=options, verbose=False,
    )
    with pytest.raises(WorkerError, match="killed by signal 9"):
        run()
    assert any(k.startswith(".checkpoints/") for k in keys(url, options))
    monkeypatch.setenv(fns.CALL_LOG_ENV, str(tmp_path / "calls.log"))
    run()  # the same call again resumes
    assert read_back(url, options) == [(i, k, bytes([k]) * 50) for i in range(40) for k in range(3)]
    second = [int(x) for x in (tmp_path / "calls.log").read_text().split()]
    assert 20 not in second and 25 in second  # rank 1 resumed after its stored chunks
    assert not [k for k in keys(url, options) if not k.startswith("chunk-") and k != "index.json"]


@pytest.mark.s3
def test_staging_stays_bounded(s3_target, tmp_path, monkeypatch):
    """Chunks leave the staging folder as they are uploaded: it never holds many at once."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("DATA_OPTIMIZER_CACHE_FOLDER", str(staging))
    monkeypatch.setenv("WRITER_TEST_STAGING", str(staging))
    monkeypatch.setenv("WRITER_TEST_STAGING_LOG", str(tmp_path / "staged.log"))
    url, options = s3_target.url, s3_target.storage_options
    optimize(
        _count_staged,
        range(60),
        url,
        num_workers=1,
        chunk_size=2,
        storage_options=options,
        max_pending_uploads=2,
        verbose=False,
    )
    counts = [int(x) for x in (tmp_path / "staged.log").read_text().split()]
    assert max(counts) <= 4  # queue of 2 + the one uploading + the one just closed
    assert len(Index.from_json(s3_target.open().get("index.json")).chunks) == 30
    assert list(staging.iterdir()) == []  # the staging root is removed at the end


def _count_staged(i):
    import os

    root = os.environ["WRITER_TEST_STAGING"]
    staged = sum(name.startswith("chunk-") for _, _, files in os.walk(root) for name in files)
    with open(os.environ["WRITER_TEST_STAGING_LOG"], "a") as f:
        f.write(f"{staged}\n")
    return i


@pytest.mark.s3
def test_a_missing_bucket_fails_before_any_work(moto_server):
    from litdata_storage import BucketNotFoundError

    with pytest.raises(BucketNotFoundError, match="litdata-no-such-bucket"):
        optimize(
            fns.square,
            range(5),
            "s3://litdata-no-such-bucket/ds",
            num_workers=2,
            storage_options=moto_server.storage_options(),
            verbose=False,
        )
