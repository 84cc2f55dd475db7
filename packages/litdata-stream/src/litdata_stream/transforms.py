"""``transform=``: one callable or, as in LitData, a list of them applied in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class TransformChain:
    """Applies each transform to the result of the previous one (picklable for spawned workers)."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, item: Any) -> Any:
        """Apply every transform in turn to ``item`` and return the last result."""
        for transform in self.transforms:
            item = transform(item)
        return item

    def __repr__(self) -> str:
        return f"TransformChain({self.transforms!r})"


def resolve_transform(
    transform: Callable[[Any], Any] | list[Callable[[Any], Any]] | None,
) -> Callable[[Any], Any] | None:
    """The single callable that applies ``transform`` (None: items as read)."""
    if transform is None:
        return None
    if isinstance(transform, (list, tuple)):
        for t in transform:
            if not callable(t):
                raise ValueError(f"Transform should be a callable. Found {t!r}")
        return TransformChain(transform)
    if not callable(transform):
        raise ValueError(f"Transform should be a callable. Found {transform!r}")
    return transform
