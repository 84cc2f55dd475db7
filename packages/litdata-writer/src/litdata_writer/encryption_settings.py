"""``optimize(..., encryption=...)``: checked once in the parent, before any worker starts.

The encryption object itself travels to every writer rank (pickled with its job), and
each rank's :class:`litdata_format.ChunkWriter` encrypts items or chunks with it. Here we
refuse, at once and with a clear message, what the ranks would refuse after minutes of
work (a token dataset, in-file zstd layouts), an append whose encryption differs from the
existing dataset's, and we give the resume fingerprint a digest of the key: a rerun with
another key must start over, not mix chunks that need two keys.
"""

from __future__ import annotations

from typing import Any

from litdata_format import IndexConfig
from litdata_format.encryption import check_for_writing, key_fingerprint
from litdata_format.writer import TOKENS_LOADER


def check_encryption(encryption: Any, settings: Any) -> Any:
    """The encryption to write with (None for none), refused early when the ranks could not use it."""
    encryption = check_for_writing(encryption, settings.item_loader == TOKENS_LOADER)
    if encryption is None:
        return None
    layout = settings.layout  # already resolved: "zstd" alone is LitData's default "batch"
    if layout.in_file:
        raise ValueError(
            f"compression_level={layout.level!r} does not support encryption (as in LitData): "
            "pass compression_level='chunk' (whole-chunk zstd) or no compression"
        )
    return encryption


def append_differences(old: IndexConfig | None, encryption: Any) -> list[str]:
    """A ``name: existing X, new Y`` line when appending would mix encrypted and plain chunks
    (or two algorithms or levels). A different key of the same algorithm cannot be seen in
    the index: the caller must append with the object (or key file) the dataset was written with."""
    if old is None:
        return []
    new = None if encryption is None else encryption.state_dict()
    if old.encryption == new:
        return []
    return [f"encryption: existing {old.encryption!r}, new {new!r}"]


def fingerprint_entry(encryption: Any) -> dict[str, str]:
    """The resume fingerprint's entry for this encryption (none without encryption, so plain
    runs keep the fingerprints they always had)."""
    return {} if encryption is None else {"encryption": key_fingerprint(encryption)}
