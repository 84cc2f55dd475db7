"""Amazon S3 and every S3-compatible server (MinIO, Ceph, R2, rclone, moto...) via botocore (the core of boto3).

Credentials, region and endpoint come from boto3's standard chain (environment
variables including ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``~/.aws`` config
and credentials files, profiles, instance roles) unless ``storage_options`` give them.
Checksums are only computed and validated "when required", which many S3-compatible
servers need (and ranged GETs against rclone need). Large objects download as parallel
ranged GETs streamed into place and upload as multipart uploads. A connection that
drops while a body is read is retried from the last byte received, pinned to the same
object version with If-Match.
"""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions as bx
import botocore.loaders
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

from .base import Buffer, ObjectInfo, PartWriter, Store
from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    IntegrityError,
    NotFoundError,
    StorageConnectionError,
    StorageError,
)
from .retry import backoff_delay, logger
from .s3_quick_get import quick_get
from .url import check_key, join_key

__all__ = ["S3Store"]

MiB = 1024 * 1024
_MIN_PART = 5 * MiB  # S3's smallest multipart part (all but the last)
_MAX_PARTS = 10_000
_READ_CHUNK = 1 * MiB

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}
_CONNECTION = (
    bx.EndpointConnectionError,
    bx.ConnectTimeoutError,
    bx.ReadTimeoutError,
    bx.ConnectionClosedError,
)
_CREDENTIALS = (bx.NoCredentialsError, bx.PartialCredentialsError, bx.ProfileNotFound)


_LOADERS: dict[str | None, Any] = {}


def _shared_loader(data_path: str | None) -> Any:
    """One botocore data loader per process (and per data path) for every client.

    Each new botocore session would otherwise parse S3's service model and endpoint
    rules again (about 50 ms); a DataLoader worker, forked after the training process
    made its first client, inherits the parsed models and builds its client in ~7 ms.
    """
    loader = _LOADERS.get(data_path)
    if loader is None:
        loader = _LOADERS[data_path] = botocore.loaders.create_loader(data_path)
    return loader


def _transient_body_errors() -> tuple[type[BaseException], ...]:
    import http.client
    import socket

    import urllib3.exceptions as ux

    errors: list[type[BaseException]] = [
        bx.IncompleteReadError,
        bx.ReadTimeoutError,
        bx.ConnectionClosedError,
        bx.EndpointConnectionError,
        bx.ConnectTimeoutError,
        ux.ProtocolError,
        ux.ReadTimeoutError,
        http.client.IncompleteRead,
        ConnectionError,
        socket.timeout,
    ]
    if hasattr(bx, "ResponseStreamingError"):
        errors.append(bx.ResponseStreamingError)
    return tuple(errors)


_TRANSIENT = _transient_body_errors()


class S3Store(Store):
    """Objects under ``s3://bucket/prefix``.

    Options: ``endpoint_url``, ``aws_access_key_id``, ``aws_secret_access_key``,
    ``aws_session_token``, ``region_name``, ``profile``, ``addressing_style``
    ("path", "virtual" or "auto"; "path" by default with a custom endpoint),
    ``anon`` (unsigned requests), ``verify`` (TLS verification or a CA bundle path),
    ``retry_mode`` ("standard" or "adaptive") and the common ``part_size``,
    ``max_concurrency``, ``max_attempts``, ``timeout``.
    """

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        region_name: str | None = None,
        profile: str | None = None,
        addressing_style: str | None = None,
        anon: bool = False,
        verify: bool | str | None = None,
        retry_mode: str = "standard",
        part_size: int | None = None,
        max_concurrency: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        super().__init__(
            root,
            part_size=part_size,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
            timeout=timeout,
        )
        if addressing_style not in (None, "path", "virtual", "auto"):
            raise ValueError(
                f"addressing_style must be 'path', 'virtual' or 'auto', not {addressing_style!r}"
            )
        if retry_mode not in ("standard", "adaptive", "legacy"):
            raise ValueError(f"retry_mode must be 'standard' or 'adaptive', not {retry_mode!r}")
        self._endpoint_url = endpoint_url
        self._access_key = aws_access_key_id
        self._secret_key = aws_secret_access_key
        self._session_token = aws_session_token
        self._region = region_name
        self._profile = profile
        self._addressing_style = addressing_style
        self._anon = bool(anon)
        self._verify = verify
        self._retry_mode = retry_mode

    def __repr__(self) -> str:
        endpoint = f", endpoint_url={self._endpoint_url!r}" if self._endpoint_url else ""
        return f"S3Store({self.root_url!r}{endpoint})"

    # ---------------------------------------------------------------- client
    def _secrets(self) -> tuple[str, ...]:
        env = (os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN"))
        return tuple(s for s in (self._secret_key, self._session_token, *env) if s)

    def _make_client(self) -> Any:
        try:
            session = botocore.session.Session(profile=self._profile)
            session.register_component("data_loader", _shared_loader(session.get_config_variable("data_path")))
            region = self._region or session.get_config_variable("region") or "us-east-1"
        except _CREDENTIALS as exc:
            raise CredentialsError(
                self._redact(f"cannot load AWS credentials for {self.root_url}: {exc}")
            ) from None
        custom_endpoint = (
            self._endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        style = self._addressing_style or ("path" if custom_endpoint else None)
        options: dict[str, Any] = {
            "retries": {"max_attempts": self.max_attempts, "mode": self._retry_mode},
            "connect_timeout": self.timeout,
            "read_timeout": self.timeout,
            "max_pool_connections": max(64, 4 * self.max_concurrency),
            "tcp_keepalive": True,
        }
        if style:
            options["s3"] = {"addressing_style": style}
        # SigV4 explicitly: botocore's default already for requests, but presigned URLs
        # (the quick GET) would otherwise be signed with the legacy scheme.
        options["signature_version"] = UNSIGNED if self._anon else "s3v4"
        try:
            config = Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                **options,
            )
        except TypeError:  # botocore older than 1.36 has neither setting (nor needs them)
            config = Config(**options)
        kwargs: dict[str, Any] = {
            "config": config,
            "region_name": region,
            "aws_access_key_id": self._access_key,
            "aws_secret_access_key": self._secret_key,
            "aws_session_token": self._session_token,
        }
        if self._endpoint_url:
            kwargs["endpoint_url"] = self._endpoint_url
        if self._verify is not None:
            kwargs["verify"] = self._verify
        try:
            return session.create_client("s3", **kwargs)
        except _CREDENTIALS as exc:
            raise CredentialsError(
                self._redact(f"cannot load AWS credentials for {self.root_url}: {exc}")
            ) from None
        except ValueError as exc:  # a malformed endpoint URL
            raise StorageError(f"cannot create an S3 client for {self.root_url}: {exc}") from None

    def _endpoint(self) -> str:
        try:
            return str(self._client().meta.endpoint_url)
        except Exception:  # pragma: no cover - only used in messages
            return self._endpoint_url or "default endpoint"

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    # ---------------------------------------------------------------- errors
    def _translate(self, exc: BaseException, key: str, op: str) -> StorageError:
        """Turn a botocore exception into ours, naming the URL and endpoint, never secrets."""
        where = f"{self.url(key)} (endpoint {self._endpoint()})"
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, bx.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            message = str(err.get("Message", "")) or code
            if code == "NoSuchBucket":
                return BucketNotFoundError(
                    self._redact(f"bucket {self.bucket!r} does not exist: {op} {where}")
                )
            if code in _NOT_FOUND:
                return NotFoundError(self._redact(f"no object at {where}"))
            if code in _BAD_CREDENTIALS:
                return CredentialsError(
                    self._redact(f"the server rejected the credentials for {op} {where}: {code}")
                )
            if code in _DENIED:
                return AccessDeniedError(self._redact(f"access denied: {op} {where}: {message}"))
            return StorageError(self._redact(f"{op} {where} failed: {code}: {message}"))
        if isinstance(exc, _CREDENTIALS):
            return CredentialsError(
                self._redact(
                    f"no usable AWS credentials for {op} {where}: {exc}. Set AWS_ACCESS_KEY_ID/"
                    "AWS_SECRET_ACCESS_KEY, a profile, or storage_options, or pass anon=True"
                )
            )
        if isinstance(exc, _CONNECTION) or isinstance(exc, _TRANSIENT):
            return StorageConnectionError(
                self._redact(
                    f"cannot reach {where} for {op} after {self.max_attempts} attempt(s) "
                    f"(timeout {self.timeout:g}s): {type(exc).__name__}: {exc}"
                )
            )
        if isinstance(exc, bx.BotoCoreError):
            return StorageError(self._redact(f"{op} {where} failed: {type(exc).__name__}: {exc}"))
        return StorageError(self._redact(f"{op} {where} failed: {type(exc).__name__}: {exc}"))

    def _call(self, op: str, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise self._translate(exc, key, op) from None

    def _check_bucket(self, key: str, op: str) -> None:
        """After a bare 404 (HEAD has no error body): is it the bucket that is missing?"""
        try:
            self._client().head_bucket(Bucket=self.bucket)
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise BucketNotFoundError(
                    f"bucket {self.bucket!r} does not exist: {op} {self.url(key)} (endpoint {self._endpoint()})"
                ) from None
        except bx.BotoCoreError:
            pass

    # --------------------------------------------------------------- reading
    def _stat(self, key: str) -> ObjectInfo:
        try:
            head = self._client().head_object(Bucket=self.bucket, Key=self._key(key))
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                self._check_bucket(key, "head")
            raise self._translate(exc, key, "head") from None
        except bx.BotoCoreError as exc:
            raise self._translate(exc, key, "head") from None
        return ObjectInfo(size=int(head["ContentLength"]), version=head.get("ETag"))

    def _stream(
        self, key: str, start: int, end: int | None, sink: Callable[[int, bytes], None], version: str | None
    ) -> int:
        """GET bytes [start, end) and pass them to ``sink(offset, data)`` as they arrive.

        A drop mid-body is retried (with backoff) from the first byte not yet received,
        with If-Match on the version so all bytes come from one object version.
        Returns the offset after the last byte received.
        """
        pos = start
        attempt = 0
        full_key = self._key(key)
        while True:
            attempt += 1
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full_key}
            if pos > 0 or end is not None:
                kwargs["Range"] = f"bytes={pos}-{'' if end is None else end - 1}"
            if version:
                kwargs["IfMatch"] = version
            try:
                response = self._client().get_object(**kwargs)
            except bx.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code == "InvalidRange":  # start at or past the end of the object
                    return pos
                if code in ("PreconditionFailed", "412"):
                    raise IntegrityError(
                        f"{self.url(key)} changed on the server during the download"
                    ) from None
                if code in _NOT_FOUND and code != "NoSuchKey":  # a bare 404: which one is missing?
                    self._check_bucket(key, "get")
                raise self._translate(exc, key, "get") from None
            except bx.BotoCoreError as exc:  # botocore has already retried the request itself
                raise self._translate(exc, key, "get") from None
            if version is None:
                version = response.get("ETag")
            body = response["Body"]
            if "Range" in kwargs and not response.get("ContentRange") and pos > 0:
                body.close()  # a server that ignores Range would hand us the wrong bytes
                raise IntegrityError(f"{self.url(key)}: the server ignored the Range header of a GET")
            resumed_at = pos
            try:
                for chunk in body.iter_chunks(_READ_CHUNK):
                    if end is not None and pos + len(chunk) > end:  # more than asked: keep the range
                        sink(pos, chunk[: end - pos])
                        return end
                    sink(pos, chunk)
                    pos += len(chunk)
                return pos
            except _TRANSIENT as exc:
                if pos > resumed_at:  # progress was made: a fresh budget for this position
                    attempt = 1
                if attempt >= self.max_attempts:
                    raise self._translate(exc, key, "get") from None
                delay = backoff_delay(attempt)
                logger.debug(
                    "retrying get %s from byte %d after %s (attempt %d)",
                    self.url(key),
                    pos,
                    type(exc).__name__,
                    attempt,
                )
                time.sleep(delay)
            finally:
                body.close()

    def get(self, key: str) -> bytes:
        """GET the whole object, resuming from the last byte received if the connection drops.

        Tried first as a presigned GET on the client's connections (about half the CPU of
        ``get_object``, see :mod:`.s3_quick_get`); anything but a clean answer goes the
        ordinary way.
        """
        check_key(key)
        quick = quick_get(self._client(), self.bucket, self._key(key))
        if quick is not None:
            return quick
        buf = bytearray()

        def sink(offset: int, data: bytes) -> None:
            del buf[offset:]  # a retry resumes at ``offset``; keep exactly what precedes it
            buf.extend(data)

        self._stream(key, 0, None, sink, None)
        return bytes(buf)

    def _get_range(self, key: str, start: int, end: int | None) -> bytes:
        buf = bytearray()

        def sink(offset: int, data: bytes) -> None:
            del buf[offset - start :]
            buf.extend(data)

        self._stream(key, start, end, sink, None)
        return bytes(buf)

    def _read_range_into(self, key: str, start: int, end: int, write: PartWriter, info: ObjectInfo) -> int:
        crc, expected = 0, start

        def sink(offset: int, data: bytes) -> None:
            nonlocal crc, expected
            if offset != expected:  # a resumed GET restarts exactly where the last one stopped
                raise IntegrityError(f"{self.url(key)}: bytes from {offset} arrived where {expected} was due")
            write(data, offset)
            crc = zlib.crc32(data, crc)
            expected = offset + len(data)

        reached = self._stream(key, start, end, sink, info.version)
        if reached != end:
            raise IntegrityError(
                f"{self.url(key)}: got bytes up to {reached} of range [{start}, {end}); the object changed"
            )
        return crc

    # --------------------------------------------------------------- writing
    def put(self, key: str, data: Buffer) -> None:
        """PUT the object in a single request."""
        check_key(key)
        body = bytes(data) if isinstance(data, memoryview) else data
        self._call("put", key, self._client().put_object, Bucket=self.bucket, Key=self._key(key), Body=body)

    def _upload_part_size(self, size: int) -> int:
        part = max(self.part_size, _MIN_PART)
        return max(part, -(-size // _MAX_PARTS))

    def put_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        """Upload a file; above ``part_size`` (at least 5 MiB) as a parallel multipart upload."""
        check_key(key)
        size = os.path.getsize(local_path)
        part = self._upload_part_size(size)
        if size <= part:
            with open(local_path, "rb") as f:
                self._call(
                    "put", key, self._client().put_object, Bucket=self.bucket, Key=self._key(key), Body=f
                )
            return
        self._multipart_upload(key, os.fspath(local_path), size, part)

    def _multipart_upload(self, key: str, path: str, size: int, part: int) -> None:
        client = self._client()
        full_key = self._key(key)
        created = self._call(
            "create multipart upload", key, client.create_multipart_upload, Bucket=self.bucket, Key=full_key
        )
        upload_id = created["UploadId"]
        fd = os.open(path, os.O_RDONLY)
        try:

            def upload(number: int) -> dict[str, Any]:
                offset = (number - 1) * part
                data = os.pread(fd, min(part, size - offset), offset)
                response = self._call(
                    f"upload part {number} of",
                    key,
                    client.upload_part,
                    Bucket=self.bucket,
                    Key=full_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                )
                return {"ETag": response["ETag"], "PartNumber": number}

            count = -(-size // part)
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, count)) as pool:
                parts = list(pool.map(upload, range(1, count + 1)))
            self._call(
                "complete multipart upload",
                key,
                client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            raise
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        """DELETE the object (S3 reports success for a missing key too)."""
        check_key(key)
        self._call("delete", key, self._client().delete_object, Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str = "") -> int:
        """Delete in batches of 1000 keys with DeleteObjects, falling back to one DELETE per key
        on servers that do not implement it.
        """
        check_key(prefix, allow_empty=True)
        keys = list(self.list(prefix))
        client = self._client()
        for i in range(0, len(keys), 1000):
            batch = keys[i : i + 1000]
            try:
                response = client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._key(k)} for k in batch], "Quiet": True},
                )
            except bx.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code not in ("NotImplemented", "MissingContentMD5", "InvalidRequest", "XNotImplemented"):
                    raise self._translate(exc, prefix, "delete") from None
                with ThreadPoolExecutor(max_workers=self.max_concurrency * 2) as pool:
                    list(pool.map(self.delete, batch))
                continue
            except bx.BotoCoreError as exc:
                raise self._translate(exc, prefix, "delete") from None
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"could not delete {len(errors)} object(s) under {self.url(prefix)}, "
                    f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message', '')}"
                )
        return len(keys)

    # --------------------------------------------------------------- listing
    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[str]:
        """List with ListObjectsV2, one page of ``list_page_size`` keys at a time."""
        check_key(prefix, allow_empty=True)
        return self._list(prefix, recursive)

    def list_sizes(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Keys and sizes from the same ListObjectsV2 pages as :meth:`list`."""
        check_key(prefix, allow_empty=True)
        return ((key, size) for key, size in self._list_objects(prefix, True) if size >= 0)

    def _list(self, prefix: str, recursive: bool) -> Iterator[str]:
        return (key for key, _ in self._list_objects(prefix, recursive))

    def _list_objects(self, prefix: str, recursive: bool) -> Iterator[tuple[str, int]]:
        """``(key, size)`` per object and ``("folder/", -1)`` per common prefix, sorted per page."""
        root = f"{self.prefix}/" if self.prefix else ""
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": root + prefix,
            "MaxKeys": self.list_page_size,
        }
        if not recursive:
            kwargs["Delimiter"] = "/"
        client = self._client()
        while True:
            page = self._call("list", prefix, client.list_objects_v2, **kwargs)
            entries = [(obj["Key"], int(obj.get("Size", 0))) for obj in page.get("Contents", ())]
            entries += [(p["Prefix"], -1) for p in page.get("CommonPrefixes", ())]
            for name, size in sorted(entries):
                yield name[len(root) :], size
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token
