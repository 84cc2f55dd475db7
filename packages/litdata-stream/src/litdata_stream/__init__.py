"""Stream LitData chunks from any storage into PyTorch training."""

__version__ = "0.1.0"
