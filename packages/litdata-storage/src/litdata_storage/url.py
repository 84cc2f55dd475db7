"""Parsing of locations ("s3://bucket/prefix", "/data", "file://...", "local:/mnt/nfs").

Kept apart from the stores so a bad URL fails early, with a message that names it,
before any SDK is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from .errors import InvalidKeyError, InvalidURLError

__all__ = ["ParsedURL", "parse_url", "join_key", "check_key"]

# Aliases accepted for the built-in cloud schemes.
SCHEME_ALIASES = {"gcs": "gs", "az": "azure"}
BUCKET_SCHEMES = ("s3", "gs", "azure")


@dataclass(frozen=True)
class ParsedURL:
    """A location split into parts.

    ``scheme`` is "file" for plain paths and file:// URLs, "local" for ``local:``,
    "s3"/"gs"/"azure" for the clouds and anything else for fsspec URLs. ``bucket`` is the
    bucket or container (empty for file/local), ``prefix`` the key prefix inside it with
    no leading or trailing slash, and ``path`` the absolute directory for file/local.
    """

    url: str
    scheme: str
    bucket: str = ""
    prefix: str = ""
    path: str = ""


def parse_url(url: str | os.PathLike[str]) -> ParsedURL:
    """Parse a location; raise InvalidURLError with the URL in the message when it is bad.

    Args:
        url: A path, or a URL such as ``s3://bucket/prefix``.

    Returns:
        The URL split into scheme, bucket, prefix and (for local stores) absolute path.
    """
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str):
        raise InvalidURLError(
            f"a storage location must be a string or a path, not {type(url).__name__}: {url!r}"
        )
    if not url or not url.strip():
        raise InvalidURLError("empty storage location: give a path or a URL such as s3://bucket/prefix")
    if url != url.strip():
        raise InvalidURLError(f"storage location {url!r} has leading or trailing whitespace")

    if url.startswith("local:") and not url.startswith("local://"):
        return _parse_local(url, url[len("local:") :])
    if url.startswith("local://"):
        return _parse_local(url, url[len("local://") :] or "/")

    scheme, sep, rest = url.partition("://")
    if not sep:
        # A plain path (also "C:\\..." style paths, which have no "://").
        return ParsedURL(url=url, scheme="file", path=os.path.abspath(os.path.expanduser(url)))
    scheme = scheme.lower()
    if not scheme or not all(c.isalnum() or c in "+-." for c in scheme):
        raise InvalidURLError(f"storage location {url!r} has an invalid scheme {scheme!r}")
    scheme = SCHEME_ALIASES.get(scheme, scheme)

    if scheme == "file":
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost"):
            raise InvalidURLError(
                f"file URL {url!r} names host {host!r}; use file:///absolute/path (three slashes)"
            )
        if not slash:
            raise InvalidURLError(f"file URL {url!r} has no path; use file:///absolute/path")
        return ParsedURL(url=url, scheme="file", path=os.path.abspath("/" + unquote(path)))

    if scheme in BUCKET_SCHEMES:
        bucket, _, prefix = rest.partition("/")
        what = "container" if scheme == "azure" else "bucket"
        if not bucket:
            raise InvalidURLError(f"storage location {url!r} names no {what}: use {scheme}://{what}/prefix")
        if any(c.isspace() for c in bucket) or any(c in bucket for c in "?#\\"):
            raise InvalidURLError(f"storage location {url!r}: {what} name {bucket!r} is not valid")
        prefix = prefix.strip("/")
        _check_prefix(url, prefix)
        return ParsedURL(url=url, scheme=scheme, bucket=bucket, prefix=prefix)

    # Any other scheme: handed to fsspec as is.
    if not rest:
        raise InvalidURLError(f"storage location {url!r} has nothing after {scheme}://")
    return ParsedURL(url=url, scheme=scheme, prefix=rest.rstrip("/"))


def _parse_local(url: str, path: str) -> ParsedURL:
    if not path:
        raise InvalidURLError(f"storage location {url!r} has no path: use local:/mount/point/dir")
    return ParsedURL(url=url, scheme="local", path=os.path.abspath(os.path.expanduser(path)))


def _check_prefix(url: str, prefix: str) -> None:
    if not prefix:
        return
    for part in prefix.split("/"):
        if part in ("", ".", ".."):
            raise InvalidURLError(f"storage location {url!r} has an empty, '.' or '..' path segment")


def check_key(key: str, *, allow_empty: bool = False) -> str:
    """Validate a key relative to a store's root and return it.

    Keys use '/' as separator, are never absolute, and never contain empty, '.' or '..'
    segments: a store never reads or writes outside its root. A trailing '/' is allowed
    (prefixes) only when ``allow_empty`` is set, which is how listing prefixes are checked.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"a key must be a string, not {type(key).__name__}: {key!r}")
    if not key:
        if allow_empty:
            return key
        raise InvalidKeyError("empty key")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKeyError(f"key {key!r} must be relative, use '/' separators and no NUL")
    parts = key.split("/")
    if allow_empty and parts[-1] == "":
        parts = parts[:-1]
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidKeyError(f"key {key!r} has an empty, '.' or '..' segment")
    return key


def join_key(prefix: str, key: str) -> str:
    """Join a root prefix and a relative key with exactly one '/'."""
    if not prefix:
        return key
    if not key:
        return prefix + "/"
    return f"{prefix}/{key}"
