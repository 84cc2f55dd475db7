"""Faults on real servers: connections dropped mid-body, a server that restarts during a
download, endpoints that do not answer, and secrets that must never leak into errors."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import traceback
import zlib
from urllib.parse import urlparse

import pytest

import servers
from litdata_storage import (
    AccessDeniedError,
    CredentialsError,
    StorageConnectionError,
    StorageError,
    open_store,
)

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _proxy_for(target) -> servers.TCPProxy:
    endpoint = urlparse(target.server.endpoint_url)
    if endpoint.scheme != "http":
        pytest.skip("the fault proxy only speaks to plain-HTTP endpoints")
    return servers.TCPProxy(endpoint.hostname or servers.HOST, endpoint.port or 80)


def test_connection_drops_mid_body_are_resumed(s3_target, tmp_path):
    data = os.urandom(6 * MiB + 777)
    s3_target.open().put("obj", data)
    with _proxy_for(s3_target) as proxy:
        store = s3_target.open(endpoint_url=proxy.url, part_size=1 * MiB, max_concurrency=3)
        # Parallel ranged download: three parts lose their connection after 300 kB.
        proxy.cut_next(300_000, count=3)
        assert store.download_with_crc32("obj", tmp_path / "obj") == (len(data), zlib.crc32(data))
        assert sha((tmp_path / "obj").read_bytes()) == sha(data)
        assert proxy.cuts == 3
        # A whole-object GET resumes from the byte where it was cut.
        proxy.cut_next(2 * MiB)
        assert store.get("obj") == data
        assert proxy.cuts == 4
        proxy.cut_next(200_000)
        assert store.get_range("obj", 100, 5 * MiB) == data[100 : 5 * MiB]
        assert proxy.cuts == 5


@pytest.mark.slow
def test_server_restart_mid_download(tmp_path):
    """rclone is killed and started again on the same port while a download runs."""
    process = servers.rclone_process(tmp_path / "data", tmp_path, name="rclone-restart")
    (tmp_path / "data").mkdir()
    process.start()
    server = servers.S3Server("rclone", process.url, servers.S3_KEY, servers.S3_SECRET, process=process)
    restarts: list[threading.Thread] = []
    try:
        url = server.new_location()
        data = os.urandom(12 * MiB)
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        open_store(url, **server.storage_options()).put_file("obj", src)
        old_pid = process.proc.pid  # type: ignore[union-attr]

        def restart() -> None:
            process.kill()
            time.sleep(0.3)
            process.start()

        with servers.TCPProxy(servers.HOST, process.port) as proxy:
            proxy.on_cut = lambda: restarts.append(threading.Thread(target=restart)) or restarts[-1].start()
            proxy.cut_next(1 * MiB)
            store = open_store(
                url,
                **server.storage_options(
                    endpoint_url=proxy.url, part_size=2 * MiB, max_concurrency=2, max_attempts=8
                ),
            )
            assert store.download("obj", tmp_path / "out") == len(data)
        for t in restarts:
            t.join()
        assert sha((tmp_path / "out").read_bytes()) == sha(data)
        assert proxy.cuts == 1 and process.proc.pid != old_pid  # type: ignore[union-attr]
    finally:
        for t in restarts:
            t.join()
        process.stop()


def _unreachable_options(backend: str, port: int) -> tuple[str, dict]:
    endpoint = f"http://127.0.0.1:{port}"
    if backend == "gcs":
        return "gs://bucket/data", {"endpoint_url": endpoint, "anon": True}
    if backend == "azure":
        conn = (
            f"DefaultEndpointsProtocol=http;AccountName={servers.AZURITE_ACCOUNT};AccountKey={servers.AZURITE_KEY};"
            f"BlobEndpoint={endpoint}/{servers.AZURITE_ACCOUNT};"
        )
        return "azure://bucket/data", {"connection_string": conn}
    return "s3://bucket/data", {
        "endpoint_url": endpoint,
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "very-secret-value-123",
    }


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure"])
def test_refused_connection_fails_fast_and_names_the_url(backend, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    port = servers.free_port()  # nothing listens there
    url, options = _unreachable_options(backend, port)
    store = open_store(url, timeout=1, max_attempts=2, **options)
    start = time.monotonic()
    with pytest.raises(StorageConnectionError) as info:
        store.get("key.bin")
    assert time.monotonic() - start < 20
    message = str(info.value)
    assert f"{url}/key.bin" in message and f"127.0.0.1:{port}" in message
    assert isinstance(info.value, ConnectionError)
    for secret in ("very-secret-value-123", servers.AZURITE_KEY):
        assert secret not in message


def test_silent_endpoint_times_out(monkeypatch):
    """A server that accepts connections and never answers: the read timeout fires."""
    blackhole = socket.socket()
    blackhole.bind((servers.HOST, 0))
    blackhole.listen(64)  # the kernel completes handshakes; nobody ever reads or replies
    try:
        port = blackhole.getsockname()[1]
        url, options = _unreachable_options("s3", port)
        store = open_store(url, timeout=1, max_attempts=2, **options)
        start = time.monotonic()
        with pytest.raises(StorageConnectionError) as info:
            store.size("key.bin")
        elapsed = time.monotonic() - start
        assert elapsed < 15, elapsed
        assert "s3://bucket/data/key.bin" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    finally:
        blackhole.close()


def _all_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc)


def test_wrong_s3_secret_is_a_credentials_error_without_the_secret(rclone_server, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Wrong-Secret-Never-Print-Me-42"
    url = rclone_server.new_location()
    store = open_store(url, **rclone_server.storage_options(aws_secret_access_key=secret, max_attempts=1))
    for call in (
        lambda: store.get("k"),
        lambda: store.put("k", b"x"),
        lambda: list(store.list()),
        lambda: store.size("k"),
    ):
        with pytest.raises((CredentialsError, AccessDeniedError)) as info:
            call()
        assert url in str(info.value)
        assert secret not in _all_text(info.value)
    assert secret not in repr(store)
    assert secret not in caplog.text


def test_wrong_azure_key_is_an_error_without_the_key(azure_server, caplog):
    caplog.set_level(logging.DEBUG)
    bad_key = "QmFkS2V5" * 11  # base64, wrong
    url = azure_server.new_location()
    conn = azure_server.connection_string.replace(azure_server.account_key, bad_key)
    store = open_store(url, connection_string=conn, max_attempts=1)
    with pytest.raises(StorageError) as info:
        store.get("k")
    assert isinstance(info.value, (CredentialsError, AccessDeniedError))
    assert bad_key not in _all_text(info.value) and bad_key not in caplog.text and bad_key not in repr(store)
