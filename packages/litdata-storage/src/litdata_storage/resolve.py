"""From a location to a Store: ``open_store(url, **storage_options)``.

A table maps each scheme to a small factory, and each factory imports its backend module
only when asked, so ``import litdata_storage`` never loads boto3, google or azure. A new
backend is one file plus one ``register_scheme`` call.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable
from typing import Any

from .base import Store
from .errors import InvalidURLError, MissingExtraError
from .url import ParsedURL, parse_url

__all__ = ["open_store", "register_scheme", "require"]

StoreFactory = Callable[[ParsedURL, dict[str, Any]], Store]
_FACTORIES: dict[str, StoreFactory] = {}


def register_scheme(scheme: str, factory: StoreFactory) -> None:
    """Serve ``scheme://...`` URLs with ``factory(parsed_url, storage_options)``.

    Args:
        scheme: The URL scheme, case-insensitive; registering a built-in one replaces it.
        factory: Called with the :class:`ParsedURL` and the options dict; returns the store.
    """
    _FACTORIES[scheme.lower()] = factory


def require(module: str, extra: str, url: str) -> None:
    """Raise MissingExtraError naming the pip extra when ``module`` is not importable."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(
            f"{url!r} needs the {module} package, which is not installed: "
            f"pip install 'litdata-storage[{extra}]'"
        )


def open_store(url: str | os.PathLike[str], **storage_options: Any) -> Store:
    """Open the store rooted at ``url``.

    ``url`` is a plain path, ``file:///abs/path``, ``local:/mnt/share/dir`` (a network
    drive), ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``azure://container/prefix``
    or any other fsspec URL (when fsspec is installed). ``storage_options`` go to the
    backend (credentials, endpoint, transfer settings); unknown options raise TypeError.

    Opening a built-in backend is cheap: it sends no request until the first operation.

    Args:
        url: The location of the store's root.
        **storage_options: Keyword arguments of the backend, e.g. ``endpoint_url`` or
            ``anon`` for S3, and the transfer settings of :class:`Store`.

    Returns:
        The store.

    Raises:
        InvalidURLError: ``url`` cannot be parsed, or fsspec does not know its scheme.
        MissingExtraError: The backend's SDK is not installed (the message names the extra).
        TypeError: An option is not accepted by the backend.
    """
    parsed = parse_url(url)
    factory = _FACTORIES.get(parsed.scheme)
    if factory is None:
        factory = _fsspec_factory
    return factory(parsed, dict(storage_options))


def _local_factory(parsed: ParsedURL, options: dict[str, Any]) -> Store:
    from .local import LocalStore

    _check_options(parsed, options, ("part_size", "max_concurrency", "max_attempts", "timeout"))
    return LocalStore(parsed.path, network_drive=parsed.scheme == "local", **options)


def _s3_factory(parsed: ParsedURL, options: dict[str, Any]) -> Store:
    require("boto3", "s3", parsed.url)
    from .s3 import S3Store

    _check_options(parsed, options, _keyword_options(S3Store))
    return S3Store(parsed.bucket, parsed.prefix, **options)


def _gcs_factory(parsed: ParsedURL, options: dict[str, Any]) -> Store:
    require("google.cloud.storage", "gcs", parsed.url)
    from .gcs import GCSStore

    _check_options(parsed, options, _keyword_options(GCSStore))
    return GCSStore(parsed.bucket, parsed.prefix, **options)


def _azure_factory(parsed: ParsedURL, options: dict[str, Any]) -> Store:
    require("azure.storage.blob", "azure", parsed.url)
    from .azure import AzureStore

    _check_options(parsed, options, _keyword_options(AzureStore))
    return AzureStore(parsed.bucket, parsed.prefix, **options)


def _fsspec_factory(parsed: ParsedURL, options: dict[str, Any]) -> Store:
    try:
        found = importlib.util.find_spec("fsspec") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(
            f"{parsed.url!r}: no built-in store for {parsed.scheme}:// URLs (built in: paths, file://, "
            "local:, s3://, gs://, azure://); other schemes go through fsspec, which is not installed: "
            "pip install fsspec (plus the package of that filesystem)"
        )
    from .fsspec_store import FsspecStore

    try:
        return FsspecStore(parsed.url, **options)
    except ValueError as exc:  # fsspec: "Protocol not known"
        raise InvalidURLError(
            f"{parsed.url!r}: fsspec does not know the {parsed.scheme}:// scheme ({exc})"
        ) from None


def _keyword_options(cls: type) -> tuple[str, ...]:
    params = inspect.signature(cls).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _check_options(parsed: ParsedURL, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"unknown storage option(s) {unknown} for {parsed.url!r}; accepted: {', '.join(allowed)}"
        )


register_scheme("file", _local_factory)
register_scheme("local", _local_factory)
register_scheme("s3", _s3_factory)
register_scheme("gs", _gcs_factory)
register_scheme("azure", _azure_factory)
