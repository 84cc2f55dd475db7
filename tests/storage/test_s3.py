"""S3 specifics on moto and rclone: where configuration comes from (environment, AWS
config files, profiles), multipart uploads and parallel ranged GETs really happen, and a
forked child builds its own client."""

from __future__ import annotations

import os

import pytest

from litdata_storage import CredentialsError, open_store
from litdata_storage.s3 import S3Store

MiB = 1024 * 1024


def _count_gets(store: S3Store) -> list[str]:
    ranges: list[str] = []

    def record(params, **_):
        ranges.append(params.get("Range", ""))

    store._client().meta.events.register("provide-client-params.s3.GetObject", record)
    return ranges


def test_multipart_upload_and_ranged_gets(s3_target, tmp_path):
    store = s3_target.open(part_size=5 * MiB, max_concurrency=3)
    src = tmp_path / "src.bin"
    data = os.urandom(12 * MiB + 5)
    src.write_bytes(data)
    client = store._client()
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: calls.append(params["PartNumber"])
    )
    store.put_file("obj", src)
    assert sorted(calls) == [1, 2, 3]  # a 3-part multipart upload
    ranges = _count_gets(store)
    store.download("obj", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert sorted(ranges) == sorted(
        [f"bytes={0}-{5 * MiB - 1}", f"bytes={5 * MiB}-{10 * MiB - 1}", f"bytes={10 * MiB}-{12 * MiB + 4}"]
    )


def test_small_file_is_a_single_put(s3_target, tmp_path):
    store = s3_target.open(part_size=5 * MiB)
    src = tmp_path / "small"
    src.write_bytes(b"x" * 1000)
    calls: list[str] = []
    store._client().meta.events.register(
        "provide-client-params.s3.*",
        lambda params, event_name, **_: calls.append(event_name.rsplit(".", 1)[-1]),
    )
    store.put_file("small", src)
    assert calls == ["PutObject"]


def test_endpoint_and_keys_from_environment(s3_target, monkeypatch):
    server = s3_target.server
    s3_target.open().put("env.txt", b"from env")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store(s3_target.url)  # no storage_options at all
    assert store.get("env.txt") == b"from env"


def test_profile_from_aws_config_files(s3_target, monkeypatch, tmp_path):
    server = s3_target.server
    s3_target.open().put("profile.txt", b"from a profile")
    config = tmp_path / "config"
    credentials = tmp_path / "credentials"
    config.write_text(f"[profile litdata]\nregion = us-east-1\nendpoint_url = {server.endpoint_url}\n")
    credentials.write_text(
        f"[litdata]\naws_access_key_id = {server.access_key}\naws_secret_access_key = {server.secret_key}\n"
    )
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    assert open_store(s3_target.url, profile="litdata").get("profile.txt") == b"from a profile"
    monkeypatch.setenv("AWS_PROFILE", "litdata")
    assert open_store(s3_target.url).get("profile.txt") == b"from a profile"
    with pytest.raises(CredentialsError, match="no-such-profile"):
        open_store(s3_target.url, profile="no-such-profile").get("profile.txt")


def test_anonymous_requests_are_unsigned(moto_server):
    url = moto_server.new_location()
    store = open_store(url, endpoint_url=moto_server.endpoint_url, anon=True, max_attempts=1)
    headers: list[dict] = []
    store._client().meta.events.register(
        "before-send.s3.*", lambda request, **_: headers.append(dict(request.headers))
    )
    store.put("k", b"x")  # moto accepts unsigned writes
    assert headers and not any("Authorization" in h for h in headers)


def test_repr_and_pickle_hide_nothing_secret(s3_target):
    store = s3_target.open()
    assert s3_target.server.secret_key not in repr(store)
    assert store.url("k") == f"{s3_target.url}/k"


def test_whole_object_get_takes_the_quick_path_and_errors_the_ordinary_one(s3_target):
    from litdata_storage import NotFoundError

    store = s3_target.open()
    data = os.urandom(70_000)
    store.put("img.jpg", data)
    ordinary: list[str] = []  # get_object requests sent (presigning one fires no before-send)
    store._client().meta.events.register(
        "before-send.s3.GetObject", lambda request, **_: ordinary.append(request.headers.get("Range", b"").decode())
    )
    assert store.get("img.jpg") == data
    assert ordinary == []  # a presigned GET on the client's connections, no get_object call
    with pytest.raises(NotFoundError):
        store.get("missing.jpg")
    assert ordinary == [""]  # the quick path saw a 404 and left the error to get_object
    assert store.get_range("img.jpg", 5, 9) == data[5:9] and ordinary == ["", "bytes=5-8"]
