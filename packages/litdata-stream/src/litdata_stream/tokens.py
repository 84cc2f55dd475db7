"""``TokensLoader``: read a token dataset as fixed-size blocks (for LLM pre-training).

A token dataset's chunk is one stream of tokens; this loader cuts each chunk into
``block_size`` blocks (see the format spec). Blocks are handed out as tensors that share
memory with the memory-mapped chunk (no copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokensLoader:
    """Pass as ``item_loader=TokensLoader(block_size=2049)`` to read token blocks.

    ``optimize(..., item_loader=TokensLoader())`` writes a token dataset; reading needs
    the block size.

    Args:
        block_size: tokens per item read (for next-token training, the context length
            plus one); None only when writing.

    Raises:
        ValueError: if ``block_size`` is not a positive int.
    """

    block_size: int | None = None

    def __post_init__(self) -> None:
        if self.block_size is None:
            return
        if not isinstance(self.block_size, int) or isinstance(self.block_size, bool) or self.block_size < 1:
            raise ValueError(f"block_size must be a positive int, got {self.block_size!r}")

    @classmethod
    def encode_data(cls, data: list[bytes], sizes: list[int], flattened: list[Any]) -> tuple[bytes, int]:
        """One token item as it goes into a chunk: its serialized bytes and its token count.

        LitData's writer hook: a token item is a single leaf (a 1-D tensor or array), so
        the chunk stores its bytes as they are (no per-item header) and counts its tokens.

        Args:
            data: the serialized leaves of the item (one for a token item).
            sizes: their sizes in bytes (unused: a token chunk stores no offsets).
            flattened: the leaves themselves, to count the tokens of the first.
        """
        leaf = flattened[0]
        shape = getattr(leaf, "shape", None)
        tokens = int(shape[0]) if shape else len(leaf)
        return bytes(data[0]), tokens
