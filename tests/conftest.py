"""Shared fixtures: real storage servers on 127.0.0.1, started once per session.

Server fixtures (session-scoped, started on first use, stopped by PID at the end):
  moto_server, rclone_server  -> servers.S3Server (endpoint_url, access_key, secret_key,
                                 storage_options(), new_location(), client())
  s3_server                   -> the external server of LITDATA_TEST_S3_ENDPOINT if set,
                                 else moto_server
  gcs_server                  -> servers.GCSServer (sets STORAGE_EMULATOR_HOST)
  azure_server                -> servers.AzureServer (connection_string, storage_options())
Per-test fixtures:
  store_url                   -> StoreTarget over local, moto, rclone, gcs, azure (or
                                 local, s3, gcs, azure with an external S3 endpoint):
                                 a fresh bucket/prefix with .url, .storage_options, .open()
  cloud_target                -> the same, over the cloud servers only (no local disk)
  s3_target                   -> the same, over the S3 servers only
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Ray reads this when it is first imported (by any test): set before that, it binds every
# address of the test clusters to 127.0.0.1, so test traffic stays on loopback (without
# it Ray announces the machine's external address).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import servers  # noqa: E402

EXTERNAL_S3 = bool(os.environ.get("LITDATA_TEST_S3_ENDPOINT"))
S3_BACKENDS = ["s3"] if EXTERNAL_S3 else ["moto", "rclone"]
CLOUD_BACKENDS = [*S3_BACKENDS, "gcs", "azure"]
ALL_BACKENDS = ["local", *CLOUD_BACKENDS]
_MARKS = {"moto": "s3", "rclone": "s3", "s3": "s3", "gcs": "gcs", "azure": "azure"}


def _params(names: list[str]) -> list[Any]:
    return [
        pytest.param(n, id=n, marks=[getattr(pytest.mark, _MARKS[n])] if n in _MARKS else []) for n in names
    ]


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that holds every server's log file (and its data)."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def moto_server(server_logs: Path) -> Iterator[servers.S3Server]:
    server = servers.start_moto(server_logs)
    yield server
    server.process.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def rclone_server(server_logs: Path) -> Iterator[servers.S3Server]:
    server = servers.start_rclone(server_logs / "rclone-data", server_logs)
    yield server
    server.process.stop()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> servers.S3Server:
    """The S3 endpoint for tests that need one: external (LITDATA_TEST_S3_ENDPOINT) or moto."""
    external = servers.external_s3_server()
    return external if external is not None else request.getfixturevalue("moto_server")


@pytest.fixture(scope="session")
def gcs_server(server_logs: Path) -> Iterator[servers.GCSServer]:
    server = servers.start_fake_gcs(server_logs / "gcs-data", server_logs)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = server.endpoint_url
    yield server
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous
    server.process.stop()


@pytest.fixture(scope="session")
def azure_server(server_logs: Path) -> Iterator[servers.AzureServer]:
    server = servers.start_azurite(server_logs / "azurite-data", server_logs)
    yield server
    server.process.stop()


@dataclass
class StoreTarget:
    """A fresh, empty location on one backend, and how to open a store over it."""

    backend: str
    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    server: Any = None

    def open(self, suffix: str = "", **overrides: Any) -> Any:
        from litdata_storage import open_store

        url = f"{self.url}/{suffix}" if suffix else self.url
        return open_store(url, **{**self.storage_options, **overrides})

    @property
    def missing_bucket_url(self) -> str | None:
        scheme = {"gcs": "gs", "azure": "azure"}.get(self.backend, "s3")
        return None if self.backend == "local" else f"{scheme}://litdata-no-such-bucket-0/data"


def _target(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> StoreTarget:
    if backend == "local":
        return StoreTarget("local", str(tmp_path / "store"))
    fixture = {
        "moto": "moto_server",
        "rclone": "rclone_server",
        "s3": "s3_server",
        "gcs": "gcs_server",
        "azure": "azure_server",
    }[backend]
    server = request.getfixturevalue(fixture)
    return StoreTarget(backend, server.new_location(), server.storage_options(), server)


@pytest.fixture(params=_params(ALL_BACKENDS))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh bucket (or prefix, or directory) per test, on every backend in turn."""
    return _target(request, request.param, tmp_path)


@pytest.fixture(params=_params(CLOUD_BACKENDS))
def cloud_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh bucket or container per test on each cloud server (no local disk)."""
    return _target(request, request.param, tmp_path)


@pytest.fixture(params=_params(S3_BACKENDS))
def s3_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh bucket per test on each S3 server (moto and rclone, or the external one)."""
    return _target(request, request.param, tmp_path)
