"""The loader's default collate: torch's, plus what datasets hold.

PIL images become uint8 tensors (channels first, as torchvision's ``pil_to_tensor``) and
are stacked when their sizes match; strings and bytes stay lists (as in torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data._utils.collate import collate, default_collate_fn_map


def pil_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image as a uint8 ``C x H x W`` tensor."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _collate_pil(batch: list[Any], *, collate_fn_map: Any = None) -> Any:
    tensors = [pil_to_tensor(image) for image in batch]
    if all(t.shape == tensors[0].shape for t in tensors):
        return torch.stack(tensors)
    return tensors


def _collate_map() -> dict:
    mapping = dict(default_collate_fn_map)
    try:
        from PIL import Image
    except ImportError:
        return mapping
    mapping[Image.Image] = _collate_pil
    return mapping


_MAP = _collate_map()


def default_collate(batch: list[Any]) -> Any:
    """Collate a batch of items as torch does, turning PIL images into tensors."""
    return collate(batch, collate_fn_map=_MAP)
