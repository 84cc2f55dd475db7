"""What an item of a ``StreamingRawDataset`` is: one file, or a group of files.

LitData lets a subclass override ``setup(files)``: it receives every listed file as a
:class:`FileMetadata` and returns the items, each a ``FileMetadata`` (the item is that
file's bytes or path) or a list of them (the item is the list of their bytes or paths).
:func:`layout_of` turns that list into file numbers the raw-files source plans chunks
from, so streaming, splits and resume follow the same items as ``dataset[i]``.

An entry of another type is kept as an *invalid* item rather than refused at once: as in
LitData, the ``TypeError`` comes when the item is read, so a dataset whose bad items are
never touched still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The message of reading an item that is neither a FileMetadata nor a list of them.
BAD_ITEM = "Dataset items must be of type FileMetadata or List[FileMetadata], but found {}"


@dataclass(frozen=True)
class FileMetadata:
    """One listed file: its full path or URL (``s3://bucket/dir/a.jpg``) and its size in bytes."""

    path: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """``{"path": ..., "size": ...}``, as LitData's ``FileMetadata.to_dict``."""
        return {"path": self.path, "size": self.size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileMetadata:
        """The metadata written by :meth:`to_dict`."""
        return cls(path=str(data["path"]), size=int(data["size"]))


@dataclass(frozen=True)
class ItemLayout:
    """Per item: the numbers of its files in the listing, and whether it is a group.

    ``files[i]`` is None for an invalid item (``errors[i]`` says what it was).
    """

    files: list[tuple[int, ...] | None]
    grouped: list[bool]
    errors: dict[int, str]

    @classmethod
    def one_per_file(cls, count: int) -> ItemLayout:
        """The default layout: file ``i`` is item ``i``."""
        return cls(files=[(i,) for i in range(count)], grouped=[False] * count, errors={})

    def is_trivial(self) -> bool:
        """Whether every item is exactly file ``i`` (the layout changes nothing)."""
        return not self.errors and not any(self.grouped) and all(f == (i,) for i, f in enumerate(self.files))

    def item_size(self, i: int, sizes: list[int]) -> int:
        """Bytes of item ``i`` (0 for an invalid item)."""
        numbers = self.files[i]
        return 0 if numbers is None else sum(sizes[n] for n in numbers)

    def digest_parts(self) -> list[Any]:
        """A JSON-able form of the layout, for naming its cache version."""
        return [[list(f) if f is not None else None for f in self.files], self.grouped]


def bad_item_message(item: Any) -> str:
    """Why ``item`` is not an item: the type of it, or of the first entry of a list that is
    not a ``FileMetadata``."""
    if isinstance(item, list):
        item = next((m for m in item if not isinstance(m, FileMetadata)), item)
    return BAD_ITEM.format(type(item))


def check_items(items: Any) -> list[Any]:
    """``items`` as ``setup`` returned it, refused unless it is a list (LitData's message)."""
    if not isinstance(items, list):
        raise TypeError(f"The setup method must return a list, but returned {type(items)}")
    return items


def layout_of(items: list[Any], number_of: dict[str, int], resolve: Any) -> ItemLayout:
    """The layout of ``items`` (FileMetadata or lists of them) over the listed files.

    ``number_of`` maps a file's path to its number in the listing; ``resolve(meta)``
    returns the number of a file not listed (adding it), or raises ``ValueError``.
    """
    files: list[tuple[int, ...] | None] = []
    grouped: list[bool] = []
    errors: dict[int, str] = {}

    def number(meta: FileMetadata) -> int:
        found = number_of.get(meta.path)
        return found if found is not None else int(resolve(meta))

    for i, item in enumerate(items):
        if isinstance(item, FileMetadata):
            files.append((number(item),))
            grouped.append(False)
        elif isinstance(item, list) and all(isinstance(m, FileMetadata) for m in item):
            files.append(tuple(number(m) for m in item))
            grouped.append(True)
        else:
            files.append(None)
            grouped.append(False)
            errors[i] = bad_item_message(item)
    return ItemLayout(files=files, grouped=grouped, errors=errors)
