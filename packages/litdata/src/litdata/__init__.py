"""litdata: optimize datasets into chunks and stream them from any storage into PyTorch.

This meta-package re-exports the unified API of the four packages it depends on.
"""

from litdata_format import __version__ as format_version
from litdata_storage import __version__ as storage_version
from litdata_stream import __version__ as stream_version
from litdata_writer import __version__ as writer_version

__version__ = "0.1.0"

__all__ = ["__version__", "format_version", "storage_version", "stream_version", "writer_version"]
