"""The loader's default collate: torch's, plus what datasets hold.

PIL images become uint8 tensors (channels first, as torchvision's ``pil_to_tensor``) and
are stacked when their sizes match; strings and bytes stay lists (as in torch).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info
from torch.utils.data._utils.collate import collate, collate_tensor_fn, default_collate_fn_map

from . import arena as arena_module
from .arena import ArenaHandle

#: Tensors up to this size travel from workers as plain bytes through the result pipe.
SMALL_TENSOR_BYTES = 1 << 20


class PipedTensor:
    """A small tensor on its way from a worker: its bytes, dtype and shape.

    torch moves every other tensor a worker returns into a new shared-memory segment and
    passes its file descriptor, a fixed cost of several system calls per tensor that
    dominates small batches (a batch of 8 token blocks is 32 KB). Small tensors go
    through the pipe instead; :func:`restore_tensors` rebuilds them without a copy.
    """

    __slots__ = ("array", "dtype")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.dtype = tensor.dtype
        self.array = tensor.view(torch.uint8).numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()

    def restore(self) -> torch.Tensor:
        tensor = torch.from_numpy(self.array)
        return tensor.view(torch.bfloat16) if self.dtype == torch.bfloat16 else tensor

    def pin_memory(self, device: Any = None) -> torch.Tensor:
        """Called by the DataLoader's pin-memory thread, which knows no other types."""
        tensor = self.restore()
        return tensor.pin_memory(device) if device is not None else tensor.pin_memory()


def _map_tensors(batch: Any, leaf: Any) -> Any:
    """Apply ``leaf`` to every leaf of a batch, keeping container types (OrderedDict too)."""
    if isinstance(batch, dict):
        mapped = copy.copy(batch)
        for key, value in batch.items():
            mapped[key] = _map_tensors(value, leaf)
        return mapped
    if type(batch) is list:
        return [_map_tensors(value, leaf) for value in batch]
    if type(batch) is tuple:
        return tuple(_map_tensors(value, leaf) for value in batch)
    return leaf(batch)


def _pipe(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.device.type == "cpu" and not value.requires_grad:
        arena = arena_module.ARENA_OF_THIS_PROCESS
        handle = arena.handle(value) if arena is not None else None
        if handle is not None:
            return handle
        if value.nbytes <= SMALL_TENSOR_BYTES:
            return PipedTensor(value.contiguous())
    return value


def pipe_small_tensors(batch: Any) -> Any:
    """In a worker: wrap small CPU tensors of a collated batch as :class:`PipedTensor`
    and batches stacked in the worker's arena as :class:`ArenaHandle`."""
    return _map_tensors(batch, _pipe)


def restore_tensors(batch: Any) -> Any:
    """In the training process: turn :class:`PipedTensor` and :class:`ArenaHandle` back
    into tensors."""

    def restore(value: Any) -> Any:
        return value.restore() if isinstance(value, (PipedTensor, ArenaHandle)) else value

    return _map_tensors(batch, restore)


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


def _collate_tensors(batch: list[torch.Tensor], *, collate_fn_map: Any = None) -> torch.Tensor:
    """Stack tensors; small batches in ordinary memory even in a worker.

    torch stacks a worker's batch straight into a new shared-memory segment, which pays
    off for large batches but costs several system calls per batch: wasted on a batch
    that :class:`PipedTensor` sends through the pipe anyway.
    """
    if get_worker_info() is not None:
        elem = batch[0]
        if elem.device.type == "cpu" and elem.layout == torch.strided and not elem.is_nested:
            if elem.numel() * elem.element_size() * len(batch) <= SMALL_TENSOR_BYTES:
                return torch.stack(batch, 0)
            arena = arena_module.ARENA_OF_THIS_PROCESS
            if arena is not None and all(t.shape == elem.shape and t.dtype == elem.dtype for t in batch):
                stacked = arena.stack(batch)
                if stacked is not None:
                    return stacked
    return collate_tensor_fn(batch, collate_fn_map=collate_fn_map)


def _collate_map() -> dict:
    mapping = dict(default_collate_fn_map)
    mapping[torch.Tensor] = _collate_tensors
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


class WorkerCollate:
    """The collate a StreamingDataLoader runs: the user's, then small tensors wrapped for the pipe."""

    def __init__(self, collate_fn: Any) -> None:
        self.collate_fn = collate_fn

    def __call__(self, batch: list[Any]) -> Any:
        result = self.collate_fn(batch)
        return pipe_small_tensors(result) if get_worker_info() is not None else result
