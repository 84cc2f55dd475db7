"""One storage interface over local disks, S3 (and S3-compatible servers), GCS and Azure Blob.

    from litdata_storage import open_store
    store = open_store("s3://bucket/dataset", endpoint_url="http://127.0.0.1:9000")
    store.put("index.json", b"{}")
    store.download("chunk-0-0.bin", "/tmp/cache/chunk-0-0.bin")

Importing this package loads no cloud SDK; each backend is imported on first use.
"""

from .base import ObjectInfo, Store
from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    IntegrityError,
    InvalidKeyError,
    InvalidURLError,
    MissingExtraError,
    NotFoundError,
    StorageConnectionError,
    StorageError,
)
from .resolve import open_store, register_scheme
from .url import ParsedURL, parse_url

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "BucketNotFoundError",
    "CredentialsError",
    "IntegrityError",
    "InvalidKeyError",
    "InvalidURLError",
    "MissingExtraError",
    "NotFoundError",
    "ObjectInfo",
    "ParsedURL",
    "StorageConnectionError",
    "StorageError",
    "Store",
    "open_store",
    "parse_url",
    "register_scheme",
]
