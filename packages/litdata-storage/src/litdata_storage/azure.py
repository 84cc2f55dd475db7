"""Azure Blob Storage via azure-storage-blob; URLs are ``azure://container/prefix``.

The account comes from ``storage_options`` (``connection_string``, or ``account_url``
with a ``credential`` / ``account_key`` / ``sas_token``) or from the environment
(``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT_URL`` /
``AZURE_STORAGE_ACCOUNT_NAME`` with ``AZURE_STORAGE_ACCOUNT_KEY`` or
``AZURE_STORAGE_SAS_TOKEN``; otherwise azure-identity's DefaultAzureCredential when it is
installed). Large downloads are parallel ranged reads; uploads are parallel block uploads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

import azure.core.exceptions as ax
from azure.storage.blob import BlobServiceClient, ExponentialRetry

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

__all__ = ["AzureStore"]

_TRANSIENT = (
    (ax.ServiceResponseError, ax.IncompleteReadError, ConnectionError)
    if hasattr(ax, "IncompleteReadError")
    else (ax.ServiceResponseError, ConnectionError)
)


def _code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


class AzureStore(Store):
    """Objects under ``azure://container/prefix``.

    Options: ``connection_string``, ``account_url``, ``account_name``, ``account_key``,
    ``sas_token``, ``credential`` (any azure credential object), ``anon`` (public
    containers) and the common ``part_size``, ``max_concurrency``, ``max_attempts``,
    ``timeout``.
    """

    _transient_errors = _TRANSIENT

    scheme = "azure"

    def __init__(
        self,
        container: str,
        prefix: str = "",
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        account_name: str | None = None,
        account_key: str | None = None,
        sas_token: str | None = None,
        credential: Any = None,
        anon: bool = False,
        part_size: int | None = None,
        max_concurrency: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.container = container
        self.prefix = prefix.strip("/")
        root = f"azure://{container}/{self.prefix}" if self.prefix else f"azure://{container}"
        super().__init__(
            root,
            part_size=part_size,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
            timeout=timeout,
        )
        env = os.environ.get
        self._connection_string = connection_string or (
            None if (account_url or account_name) else env("AZURE_STORAGE_CONNECTION_STRING")
        )
        self._account_name = account_name or env("AZURE_STORAGE_ACCOUNT_NAME")
        self._account_url = account_url or env("AZURE_STORAGE_ACCOUNT_URL")
        self._account_key = account_key or env("AZURE_STORAGE_ACCOUNT_KEY")
        self._sas_token = sas_token or env("AZURE_STORAGE_SAS_TOKEN")
        self._credential = credential
        self._anon = bool(anon)

    def _secrets(self) -> tuple[str, ...]:
        found = [
            self._connection_string,
            self._account_key,
            self._sas_token,
            os.environ.get("AZURE_STORAGE_CONNECTION_STRING"),
        ]
        for text in (self._connection_string or "").split(";"):
            name, _, value = text.partition("=")
            if name.strip().lower() in ("accountkey", "sharedaccesssignature"):
                found.append(value)
        return tuple(s for s in found if s)

    def _make_client(self) -> Any:
        settings: dict[str, Any] = {
            # The SDK's default waits 15 s before the first retry; start at about 1.5 s.
            "retry_policy": ExponentialRetry(
                # The SDK annotates int, but computes the backoff in float seconds.
                initial_backoff=0.5,  # type: ignore[arg-type]  # a float is what the SDK computes with
                increment_base=2,
                retry_total=max(0, self.max_attempts - 1),
            ),
            "connection_timeout": self.timeout,
            "read_timeout": self.timeout,
            "max_single_put_size": max(self.part_size, 1024 * 1024),
            "max_block_size": min(max(self.part_size, 1024 * 1024), 100 * 1024 * 1024),
            "max_single_get_size": max(self.part_size, 1024 * 1024),
            "max_chunk_get_size": max(self.part_size, 1024 * 1024),
        }
        try:
            if self._connection_string:
                return BlobServiceClient.from_connection_string(self._connection_string, **settings)
            url = self._account_url
            if not url and self._account_name:
                url = f"https://{self._account_name}.blob.core.windows.net"
            if not url:
                raise CredentialsError(
                    f"no Azure account for {self.root_url}: set AZURE_STORAGE_CONNECTION_STRING or pass "
                    "storage_options connection_string=..., or account_url=... with a credential"
                )
            credential = self._credential
            if credential is None and self._account_key:
                name = self._account_name or url.split("//", 1)[-1].split(".", 1)[0]
                credential = {"account_name": name, "account_key": self._account_key}
            if credential is None and self._sas_token:
                credential = self._sas_token
            if credential is None and not self._anon:
                try:
                    from azure.identity import DefaultAzureCredential
                except ImportError:
                    raise CredentialsError(
                        f"no Azure credential for {self.root_url}: pass account_key, sas_token or credential "
                        "in storage_options, anon=True for a public container, or install azure-identity"
                    ) from None
                credential = DefaultAzureCredential()
            return BlobServiceClient(url, credential=credential, **settings)
        except ValueError as exc:
            raise CredentialsError(
                self._redact(f"invalid Azure connection settings for {self.root_url}: {exc}")
            ) from None

    def _endpoint(self) -> str:
        """scheme://host[/account] of the service, without any SAS query string."""
        try:
            client = self._client()
            host = client.primary_hostname
            return f"{client.scheme}://{host}"
        except Exception:  # pragma: no cover - only used in messages
            return "(unknown endpoint)"

    def _blob_name(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _container(self) -> Any:
        return self._client().get_container_client(self.container)

    def _translate(self, exc: BaseException, key: str, op: str) -> StorageError:
        where = self.url(key)
        if isinstance(exc, StorageError):
            return exc
        code = _code(exc)
        if code == "ContainerNotFound":
            return BucketNotFoundError(f"container {self.container!r} does not exist: {op} {where}")
        if isinstance(exc, ax.ResourceNotFoundError) or code == "BlobNotFound":
            return NotFoundError(f"no object at {where}")
        status = getattr(exc, "status_code", None)
        if (
            code in ("AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation")
            or status == 401
        ):
            return CredentialsError(f"the server rejected the credentials for {op} {where}: {code or status}")
        if status == 403 or isinstance(exc, ax.ClientAuthenticationError):
            return AccessDeniedError(f"access denied: {op} {where}: {code or status}")
        if isinstance(exc, ax.ServiceRequestError) or isinstance(exc, _TRANSIENT):
            return StorageConnectionError(
                self._redact(
                    f"cannot reach the Azure endpoint {self._endpoint()} for {op} {where} after {self.max_attempts} attempt(s) "
                    f"(timeout {self.timeout:g}s): {type(exc).__name__}"
                )
            )
        message = getattr(exc, "reason", None) or type(exc).__name__
        return StorageError(self._redact(f"{op} {where} failed: {code or message}"))

    # --------------------------------------------------------------- reading
    def get(self, key: str) -> bytes:
        """Download the whole blob."""
        check_key(key)
        name = self._blob_name(key)
        return self._run(
            "get",
            key,
            lambda: cast(
                bytes, self._container().download_blob(name, max_concurrency=1, timeout=self.timeout).readall()
            ),
        )

    def _get_range(self, key: str, start: int, end: int | None) -> bytes:
        name = self._blob_name(key)

        def read() -> bytes:
            try:
                length = None if end is None else end - start
                return cast(
                    bytes,
                    self._container()
                    .download_blob(name, offset=start, length=length, max_concurrency=1, timeout=self.timeout)
                    .readall(),
                )
            except ax.HttpResponseError as exc:
                if getattr(exc, "status_code", None) == 416 or _code(exc) == "InvalidRange":
                    return b""
                raise

        data = self._run("get", key, read)
        if not data:
            self._stat(key)  # a missing object must still raise
        return data

    def _stat(self, key: str) -> ObjectInfo:
        name = self._blob_name(key)
        props = self._run(
            "head",
            key,
            lambda: self._container().get_blob_client(name).get_blob_properties(timeout=self.timeout),
        )
        return ObjectInfo(size=int(props.size), version=props.etag)

    # --------------------------------------------------------------- writing
    def put(self, key: str, data: Buffer) -> None:
        """Upload the blob in one call, overwriting any existing one."""
        check_key(key)
        name = self._blob_name(key)
        payload = bytes(data)
        self._run(
            "put",
            key,
            lambda: self._container().upload_blob(name, payload, overwrite=True, timeout=self.timeout),
        )

    def put_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        """Upload a local file; the SDK splits large files into blocks uploaded in parallel."""
        check_key(key)
        name = self._blob_name(key)
        path = os.fspath(local_path)
        size = os.path.getsize(path)

        def upload() -> None:
            with open(path, "rb") as f:
                self._container().upload_blob(
                    name,
                    f,
                    length=size,
                    overwrite=True,
                    max_concurrency=self.max_concurrency,
                    timeout=self.timeout,
                )

        self._run("put", key, upload)

    def delete(self, key: str) -> None:
        """Delete the blob; a missing blob is not an error, a missing container is."""
        check_key(key)
        name = self._blob_name(key)

        def delete() -> None:
            try:
                self._container().delete_blob(name, timeout=self.timeout)
            except ax.ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise

        self._run("delete", key, delete)

    # --------------------------------------------------------------- listing
    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[str]:
        """List blobs page by page (``walk_blobs`` with delimiter ``/`` when not recursive)."""
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
        container = self._container()
        try:
            if recursive:
                pages = container.list_blobs(
                    name_starts_with=root + prefix, results_per_page=self.list_page_size, timeout=self.timeout
                ).by_page()
            else:
                pages = container.walk_blobs(
                    name_starts_with=root + prefix,
                    delimiter="/",
                    results_per_page=self.list_page_size,
                    timeout=self.timeout,
                ).by_page()
            for page in pages:
                # walk_blobs gives BlobPrefix items (a "folder/") beside the blobs: they have no size
                entries = sorted((item.name, int(item.size) if hasattr(item, "size") else -1) for item in page)
                for name, size in entries:
                    yield name[len(root) :], size
        except Exception as exc:
            raise self._translate(exc, prefix, "list") from None
