"""Turn any dataset into LitData chunks: ``optimize()`` and ``map()``."""

__version__ = "0.1.0"
