"""litdata-stream: stream optimized datasets from any storage into PyTorch training.

``StreamingDataset`` reads a dataset (local, ``local:``, ``s3://``, ``gs://``,
``azure://``); ``StreamingDataLoader`` loads it with pause and resume;
``CombinedStreamingDataset`` mixes several; ``ParallelStreamingDataset`` zips several; ``train_test_split`` splits one.
"""

from .cache import default_cache_root
from .collate import default_collate
from .combined import CombinedStreamingDataset
from .dataset import StreamingDataset
from .loader import StreamingDataLoader
from .parallel import ParallelStreamingDataset
from .split import train_test_split
from .tokens import TokensLoader

__version__ = "0.1.0"

__all__ = [
    "CombinedStreamingDataset",
    "ParallelStreamingDataset",
    "StreamingDataLoader",
    "StreamingDataset",
    "TokensLoader",
    "default_cache_root",
    "default_collate",
    "train_test_split",
]
