"""litdata-format: LitData's chunk and index format, and a codec that reads and writes it.

The spec is ``SPEC.md`` beside this package. Pure bytes in, bytes out: no network, no
processes, no torch requirement (torch and Pillow are used when installed).
"""

from .checksum import compute_checksum, file_checksum, verify_checksum
from .chunk import ClassicChunk, encode_chunk, header_size, open_chunk_bytes, open_chunk_file
from .compression import compress, decompress, decompressed_filename, parse_compression
from .encryption import (
    DecryptionError,
    Encryption,
    EncryptionError,
    EncryptionLevel,
    FernetEncryption,
    RSAEncryption,
)
from .errors import (
    ChecksumMismatchError,
    ChunkFormatError,
    DatasetExistsError,
    FormatError,
    IndexFormatError,
    ItemIndexError,
    PickleNotAllowedError,
    SerializationError,
)
from .framed import FramedChunk
from .index import INDEX_FILENAME, ChunkInfo, Index, IndexConfig, merge_indexes, validate_chunk_filename
from .item import ItemDecoder, ItemEncoder
from .pytree import TreeSpec, flatten, unflatten
from .reader import DatasetReader, read_dataset
from .serializers import (
    ALLOW_PICKLE_ENV,
    REGISTRY,
    JpegArray,
    Serializer,
    SerializerRegistry,
    register_serializer,
)
from .tokens import blocks_in_chunk, token_block, token_dtype
from .units import parse_size
from .writer import PYTREE_LOADER, TOKENS_LOADER, ChunkWriter, chunk_filename, write_dataset

__version__ = "0.1.0"

__all__ = [
    "ALLOW_PICKLE_ENV",
    "INDEX_FILENAME",
    "PYTREE_LOADER",
    "REGISTRY",
    "TOKENS_LOADER",
    "ChecksumMismatchError",
    "ChunkFormatError",
    "ChunkInfo",
    "ChunkWriter",
    "ClassicChunk",
    "DatasetExistsError",
    "DatasetReader",
    "DecryptionError",
    "Encryption",
    "EncryptionError",
    "EncryptionLevel",
    "FernetEncryption",
    "FormatError",
    "FramedChunk",
    "Index",
    "IndexConfig",
    "IndexFormatError",
    "ItemDecoder",
    "ItemIndexError",
    "ItemEncoder",
    "JpegArray",
    "PickleNotAllowedError",
    "RSAEncryption",
    "SerializationError",
    "Serializer",
    "SerializerRegistry",
    "TreeSpec",
    "blocks_in_chunk",
    "chunk_filename",
    "compress",
    "compute_checksum",
    "decompress",
    "decompressed_filename",
    "encode_chunk",
    "file_checksum",
    "flatten",
    "header_size",
    "merge_indexes",
    "open_chunk_bytes",
    "open_chunk_file",
    "parse_compression",
    "parse_size",
    "read_dataset",
    "register_serializer",
    "token_block",
    "token_dtype",
    "unflatten",
    "validate_chunk_filename",
    "verify_checksum",
    "write_dataset",
]
