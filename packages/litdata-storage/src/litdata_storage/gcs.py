"""Google Cloud Storage via google-cloud-storage.

Credentials come from Application Default Credentials unless ``storage_options`` give a
``credentials`` object or a service-account JSON path. With ``STORAGE_EMULATOR_HOST``
set (fake-gcs-server, the official emulators), or an ``endpoint_url`` option, requests go
there with anonymous credentials and a placeholder project. Large downloads are parallel
ranged reads (the shared logic of ``Store``); uploads above 8 MB are resumable uploads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

import google.api_core.exceptions as gx
import google.auth.exceptions as gax
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from .base import Buffer, ObjectInfo, Store
from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    NotFoundError,
    StorageConnectionError,
    StorageError,
)
from .url import check_key, join_key

__all__ = ["GCSStore"]

# google-cloud-storage already retries connection errors, timeouts, 429 and 5xx within
# the retry deadline; this outer layer only re-reads a body cut after the retries ran out.
_TRANSIENT = (requests.exceptions.ChunkedEncodingError,)


class GCSStore(Store):
    """Objects under ``gs://bucket/prefix``.

    Options: ``project``, ``credentials`` (a google.auth credentials object or the path
    of a service-account JSON file), ``endpoint_url`` (an emulator or a private endpoint),
    ``anon`` (unauthenticated access to public buckets) and the common ``part_size``,
    ``max_concurrency``, ``max_attempts``, ``timeout``.
    """

    _transient_errors = _TRANSIENT

    scheme = "gs"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        project: str | None = None,
        credentials: Any = None,
        endpoint_url: str | None = None,
        anon: bool = False,
        part_size: int | None = None,
        max_concurrency: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        root = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"
        super().__init__(
            root,
            part_size=part_size,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
            timeout=timeout,
        )
        self._project = project
        self._credentials = credentials
        self._endpoint_url = endpoint_url
        self._anon = bool(anon)

    def _make_client(self) -> Any:
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        options = {"api_endpoint": self._endpoint_url} if self._endpoint_url else None
        project = self._project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        try:
            if isinstance(self._credentials, str):
                client = storage.Client.from_service_account_json(
                    self._credentials, project=project, client_options=options
                )
            else:
                credentials = self._credentials
                if credentials is None and (self._anon or emulator or self._endpoint_url):
                    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]  # google-auth's __init__ is unannotated
                    project = project or "litdata"
                client = storage.Client(project=project, credentials=credentials, client_options=options)
        except (gax.DefaultCredentialsError, OSError, ValueError) as exc:
            raise CredentialsError(
                f"no usable Google Cloud credentials for {self.root_url}: {type(exc).__name__}. Run "
                "`gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, pass "
                "storage_options={'credentials': ...}, or anon=True for public buckets"
            ) from None
        try:  # room for every parallel part in the connection pool
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=4, pool_maxsize=max(32, 4 * self.max_concurrency)
            )
            client._http.mount("https://", adapter)
            client._http.mount("http://", adapter)
        except Exception:  # pragma: no cover - a private attribute; only a performance tweak
            pass
        return client

    def _secrets(self) -> tuple[str, ...]:
        return ()

    def _blob(self, key: str) -> Any:
        return self._client().bucket(self.bucket).blob(join_key(self.prefix, key))

    def _retry(self) -> Any:
        """google's retry policy, bounded so a dead endpoint fails in minutes, not hours."""
        deadline = min(120.0, self.timeout * self.max_attempts)
        if hasattr(DEFAULT_RETRY, "with_timeout"):
            return DEFAULT_RETRY.with_timeout(deadline)
        return DEFAULT_RETRY.with_deadline(deadline)  # pragma: no cover - older api-core

    def _translate(self, exc: BaseException, key: str, op: str) -> StorageError:
        where = self.url(key)
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, gx.RetryError) and exc.cause is not None:  # the retry deadline passed
            exc = exc.cause
        if isinstance(exc, gx.NotFound):
            if self._bucket_missing():
                return BucketNotFoundError(f"bucket {self.bucket!r} does not exist: {op} {where}")
            return NotFoundError(f"no object at {where}")
        if isinstance(exc, gx.Unauthorized) or isinstance(exc, gax.GoogleAuthError):
            return CredentialsError(
                f"the server rejected the credentials for {op} {where}: {type(exc).__name__}"
            )
        if isinstance(exc, gx.Forbidden):
            return AccessDeniedError(
                self._redact(f"access denied: {op} {where}: {getattr(exc, 'message', exc)}")
            )
        if isinstance(
            exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)
        ):
            return StorageConnectionError(
                f"cannot reach the GCS endpoint {self._endpoint()} for {op} {where} after {self.max_attempts} attempt(s) "
                f"(timeout {self.timeout:g}s): {type(exc).__name__}"
            )
        return StorageError(self._redact(f"{op} {where} failed: {type(exc).__name__}: {exc}"))

    def _endpoint(self) -> str:
        return (
            self._endpoint_url or os.environ.get("STORAGE_EMULATOR_HOST") or "https://storage.googleapis.com"
        )

    def _bucket_missing(self) -> bool:
        try:
            return self._client().lookup_bucket(self.bucket, timeout=self.timeout) is None
        except Exception:
            return False

    # --------------------------------------------------------------- reading
    def get(self, key: str) -> bytes:
        """Download the whole blob (raw bytes, without decompressive transcoding)."""
        check_key(key)
        blob = self._blob(key)
        return self._run(
            "get",
            key,
            lambda: cast(
                bytes,
                blob.download_as_bytes(raw_download=True, checksum=None, timeout=self.timeout, retry=self._retry()),
            ),
        )

    def _get_range(self, key: str, start: int, end: int | None) -> bytes:
        blob = self._blob(key)

        def read() -> bytes:
            try:
                return cast(
                    bytes,
                    blob.download_as_bytes(
                        start=start,
                        end=None if end is None else end - 1,
                        raw_download=True,
                        checksum=None,
                        timeout=self.timeout,
                        retry=self._retry(),
                    ),
                )
            except gx.RequestRangeNotSatisfiable:
                return b""

        data = self._run("get", key, read)
        if start > 0 and not data:
            self._stat(key)  # a missing object must still raise
        return data

    def _stat(self, key: str) -> ObjectInfo:
        blob = self._blob(key)
        self._run("head", key, lambda: blob.reload(timeout=self.timeout, retry=self._retry()))
        return ObjectInfo(
            size=int(blob.size or 0), version=str(blob.generation) if blob.generation else blob.etag
        )

    # --------------------------------------------------------------- writing
    def put(self, key: str, data: Buffer) -> None:
        """Upload the object in a single request."""
        check_key(key)
        blob = self._blob(key)
        payload = bytes(data)
        self._run(
            "put",
            key,
            lambda: blob.upload_from_string(
                payload, timeout=self.timeout, retry=self._retry(), checksum=None
            ),
        )

    def put_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        """Upload a local file (google-cloud-storage switches to a resumable upload for large files)."""
        check_key(key)
        blob = self._blob(key)
        path = os.fspath(local_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
        self._run(
            "put",
            key,
            lambda: blob.upload_from_filename(path, timeout=self.timeout, retry=self._retry(), checksum=None),
        )

    def delete(self, key: str) -> None:
        """Delete the blob; a missing blob is not an error, a missing bucket is."""
        check_key(key)
        blob = self._blob(key)

        def delete() -> None:
            try:
                blob.delete(timeout=self.timeout, retry=self._retry())
            except gx.NotFound:
                if self._bucket_missing():
                    raise

        self._run("delete", key, delete)

    # --------------------------------------------------------------- listing
    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[str]:
        """List blobs page by page (with delimiter ``/`` for a non-recursive listing)."""
        check_key(prefix, allow_empty=True)
        return self._list(prefix, recursive)

    def list_sizes(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Keys and sizes from the same listing pages as :meth:`list`."""
        check_key(prefix, allow_empty=True)
        return ((key, size) for key, size in self._list_objects(prefix, True) if size >= 0)

    def _list(self, prefix: str, recursive: bool) -> Iterator[str]:
        return (key for key, _ in self._list_objects(prefix, recursive))

    def _list_objects(self, prefix: str, recursive: bool) -> Iterator[tuple[str, int]]:
        """``(key, size)`` per blob and ``("folder/", -1)`` per prefix, sorted per page."""
        root = f"{self.prefix}/" if self.prefix else ""
        client = self._client()
        iterator = client.list_blobs(
            self.bucket,
            prefix=root + prefix,
            delimiter=None if recursive else "/",
            page_size=self.list_page_size,
            timeout=self.timeout,
            retry=self._retry(),
        )
        try:
            for page in iterator.pages:
                entries = [(blob.name, int(blob.size or 0)) for blob in page]
                entries += [(name, -1) for name in getattr(page, "prefixes", ()) or ()]
                for name, size in sorted(entries):
                    yield name[len(root) :], size
        except Exception as exc:
            raise self._translate(exc, prefix, "list") from None
