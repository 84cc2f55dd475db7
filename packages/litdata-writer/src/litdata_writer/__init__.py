"""Turn any dataset into LitData chunks: ``optimize()``; run a file transform in parallel: ``map()``."""

__version__ = "0.1.0"

from .keys import build_keys_index  # noqa: E402
from .map import map  # noqa: E402
from .merge_datasets import merge_datasets  # noqa: E402
from .modes import ConfigMismatchError  # noqa: E402
from .optimize import optimize  # noqa: E402
from .uploader import UploadError  # noqa: E402
from .worker_processes import WorkerError  # noqa: E402

__all__ = [
    "ConfigMismatchError",
    "UploadError",
    "WorkerError",
    "__version__",
    "build_keys_index",
    "map",
    "merge_datasets",
    "optimize",
]
