"""Exceptions raised by every store.

One hierarchy for all backends, so callers handle "missing object" or "access denied"
once instead of once per cloud SDK. Each class also derives from the matching builtin
(FileNotFoundError, PermissionError, ImportError, ...) so code written against plain
files keeps working. Messages name the URL and what is wrong, and never carry secrets.
"""

from __future__ import annotations

__all__ = [
    "StorageError",
    "InvalidURLError",
    "InvalidKeyError",
    "NotFoundError",
    "BucketNotFoundError",
    "AccessDeniedError",
    "CredentialsError",
    "MissingExtraError",
    "StorageConnectionError",
    "IntegrityError",
    "redact",
]


class StorageError(Exception):
    """Base class of every error raised by litdata_storage."""


class InvalidURLError(StorageError, ValueError):
    """A location could not be parsed or names no known scheme."""


class InvalidKeyError(StorageError, ValueError):
    """A key is empty, absolute, or climbs out of the store with '..'."""


class NotFoundError(StorageError, FileNotFoundError):
    """The object does not exist (its bucket or container does)."""


class BucketNotFoundError(StorageError, FileNotFoundError):
    """The bucket (S3, GCS) or container (Azure) does not exist."""


class AccessDeniedError(StorageError, PermissionError):
    """The credentials are valid but not allowed to do this."""


class CredentialsError(StorageError):
    """No credentials were found, or the server rejected them."""


class MissingExtraError(StorageError, ImportError):
    """The SDK a scheme needs is not installed."""


class StorageConnectionError(StorageError, ConnectionError):
    """The endpoint could not be reached or stopped answering, after all retries."""


class IntegrityError(StorageError):
    """Downloaded bytes do not match what the server announced (size or version)."""


def redact(text: str, secrets: object) -> str:
    """Return ``text`` with every non-trivial secret string replaced by ``***``."""
    for secret in secrets or ():  # type: ignore[attr-defined]
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
