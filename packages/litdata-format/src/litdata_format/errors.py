"""Exceptions of the format package.

Every error raised while reading a dataset derives from :class:`FormatError` and names
the file it is about, so a user can tell which index or chunk is broken.
"""

from __future__ import annotations


class FormatError(ValueError):
    """A dataset's bytes do not follow the format."""


class IndexFormatError(FormatError):
    """``index.json`` is missing a field, has a wrong type or an unsafe chunk name."""


class ChunkFormatError(FormatError):
    """A chunk file is truncated, corrupted or not a chunk at all."""


class ChecksumMismatchError(ChunkFormatError):
    """A chunk's bytes do not match the checksum recorded in ``index.json``."""


class SerializationError(TypeError):
    """An item cannot be encoded (unsupported type, or leaves that differ from the first item)."""


class PickleNotAllowedError(FormatError):
    """A dataset holds pickled values and the caller did not allow unpickling them."""


class ItemIndexError(IndexError, ValueError):
    """An item index outside the dataset.

    An ``IndexError`` as Python sequences raise, and a ``ValueError`` too, because that is
    what LitData raises there: code written for either catches it.
    """


class DatasetExistsError(FileExistsError, RuntimeError):
    """The output already holds a dataset and the call did not say what to do with it.

    A ``FileExistsError`` (what it is), and a ``RuntimeError`` too, because that is what
    LitData raises there: code written for either catches it.
    """
