"""litdata-format: LitData's chunk and index format, and a codec that reads and writes it.

The spec is ``SPEC.md`` beside this package. Pure bytes in, bytes out: no network, no
processes, no torch requirement (torch and Pillow are used when installed).
"""

from .atomic import write_file_atomic
from .checksum import ALGORITHM as CHECKSUM_ALGORITHM
from .checksum import compute_checksum, crc32_checksum, file_checksum, verify_checksum
from .chunk import ClassicChunk, encode_chunk, header_size, map_file, open_chunk_bytes, open_chunk_file
from .chunk_table import ChunkTable
from .compression import (
    compress,
    decompress,
    decompress_item,
    decompressed_filename,
    is_compressed_filename,
    parse_compression,
    sample_compressed,
)
from .compression_layout import CompressionLayout, resolve_compression_layout
from .encryption import (
    DecryptionError,
    Encryption,
    EncryptionError,
    EncryptionLevel,
    EncryptionLevelType,
    FernetEncryption,
    RSAEncryption,
    check_for_writing,
    decrypt_chunk,
    decrypt_item,
    key_fingerprint,
    resolve_encryption,
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
from .framed import FramedChunk, is_framed
from .index import INDEX_FILENAME, ChunkInfo, Index, IndexConfig, merge_indexes, validate_chunk_filename
from .item import ItemDecoder, ItemEncoder
from .keys_layout import (
    KEYS_DIRNAME,
    KEYS_SECTION,
    LEGACY_KEYS_FILENAME,
    ROW_GROUP_ROWS,
    key_shard,
    keys_section,
    normalize_key,
    section_num_shards,
    shard_key,
)
from .pytree import TreeSpec, flatten, unflatten
from .reader import DatasetReader, read_dataset
from .serializers import (
    ALLOW_PICKLE_ENV,
    REGISTRY,
    Decoder,
    JpegArray,
    Serializer,
    SerializerRegistry,
    pickle_allowed_by_env,
    register_serializer,
)
from .tokens import blocks_in_chunk, token_block, token_dtype
from .units import parse_size
from .verify import check_chunk_file
from .writer import (
    PYTREE_LOADER,
    TOKENS_LOADER,
    ChunkWriter,
    chunk_filename,
    is_chunk_filename,
    write_dataset,
)

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
    "ChunkTable",
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
    "check_chunk_file",
    "chunk_filename",
    "compress",
    "compute_checksum",
    "decompress",
    "decompressed_filename",
    "encode_chunk",
    "file_checksum",
    "flatten",
    "header_size",
    "is_chunk_filename",
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
    # Shared by the writer, the stream and the CLI (layout details and building blocks).
    "CHECKSUM_ALGORITHM",
    "CompressionLayout",
    "Decoder",
    "EncryptionLevelType",
    "KEYS_DIRNAME",
    "KEYS_SECTION",
    "LEGACY_KEYS_FILENAME",
    "ROW_GROUP_ROWS",
    "check_for_writing",
    "crc32_checksum",
    "decompress_item",
    "decrypt_chunk",
    "decrypt_item",
    "is_compressed_filename",
    "is_framed",
    "key_fingerprint",
    "key_shard",
    "keys_section",
    "map_file",
    "normalize_key",
    "pickle_allowed_by_env",
    "resolve_compression_layout",
    "resolve_encryption",
    "sample_compressed",
    "section_num_shards",
    "shard_key",
    "write_file_atomic",
]
