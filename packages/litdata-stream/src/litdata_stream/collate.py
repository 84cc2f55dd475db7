"""The loader's default collate: torch's, plus what datasets hold.

PIL images become uint8 tensors (channels first, as torchvision's ``pil_to_tensor``) and
are stacked when their sizes match; strings and bytes stay lists (as in torch).

Also the workers' side of the loader's fast batch path, :class:`BatchFastPath`: small
tensors travel through the result pipe as :class:`PipedTensor`, large batches are stacked
into the epoch's :class:`~litdata_stream.arena.BatchArena` and travel as handles, and
large lists of ``bytes`` are packed into the arena and come back as lists of ``bytes``.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info

from .arena import ArenaHandle, BatchArena, PackedBytesHandle, new_arena
from .torch_private import collate_tensors_as_torch, collate_with_map, default_collate_map

#: Tensors up to this size travel from workers as plain bytes through the result pipe.
SMALL_TENSOR_BYTES = 1 << 20
#: Lists of ``bytes`` (raw items, as torch's collate leaves them) of at least this many
#: bytes in all travel from workers through the arena, packed (:class:`PackedBytesHandle`).
#: Smaller ones fit the widened result pipe (1 MB, see :mod:`litdata_stream.ipc`) in one
#: write and cost no more pickled: measured with batches of 64 items of 4 KB, packing
#: them gained nothing; of 58 KB (3.7 MB a batch), 1.4x the images/s.
PACKED_BYTES_MIN = 1 << 20


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
        """The tensor again, sharing the unpickled array's memory (no copy)."""
        tensor = torch.from_numpy(self.array)
        return tensor.view(torch.bfloat16) if self.dtype == torch.bfloat16 else tensor

    def pin_memory(self, device: Any = None) -> torch.Tensor:
        """Called by the DataLoader's pin-memory thread, which knows no other types."""
        tensor = self.restore()
        return tensor.pin_memory(device) if device is not None else tensor.pin_memory()


def _map_tensors(batch: Any, leaf: Any, whole_list: Any = None) -> Any:
    """Apply ``leaf`` to every leaf of a batch, keeping container types (OrderedDict too).
    ``whole_list`` may replace a whole list (returning anything but None) before its
    elements are visited."""
    if isinstance(batch, dict):
        mapped = copy.copy(batch)
        for key, value in batch.items():
            mapped[key] = _map_tensors(value, leaf, whole_list)
        return mapped
    if type(batch) is list:
        if whole_list is not None:
            replaced = whole_list(batch)
            if replaced is not None:
                return replaced
        return [_map_tensors(value, leaf, whole_list) for value in batch]
    if type(batch) is tuple:
        return tuple(_map_tensors(value, leaf, whole_list) for value in batch)
    return leaf(batch)


def _pack_bytes_list(values: list[Any], arena: BatchArena) -> PackedBytesHandle | None:
    """A list of ``bytes`` of at least :data:`PACKED_BYTES_MIN` in all, packed into a slot
    of ``arena`` (None otherwise, or when no slot is free)."""
    total = 0
    for value in values:
        if type(value) is not bytes:
            return None
        total += len(value)
    return arena.pack_bytes(values) if total >= PACKED_BYTES_MIN else None


def pipe_small_tensors(batch: Any, arena: BatchArena | None = None) -> Any:
    """In a worker: wrap small CPU tensors of a collated batch as :class:`PipedTensor`
    and batches stacked in ``arena`` (this worker's) as :class:`ArenaHandle`."""

    def pipe(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.device.type == "cpu" and not value.requires_grad:
            handle = arena.handle(value) if arena is not None else None
            if handle is not None:
                return handle
            if value.nbytes <= SMALL_TENSOR_BYTES:
                return PipedTensor(value.contiguous())
        return value

    if arena is None:
        return _map_tensors(batch, pipe)
    return _map_tensors(batch, pipe, lambda values: _pack_bytes_list(values, arena))


def restore_tensors(batch: Any, arena: BatchArena | None = None) -> Any:
    """In the training process: turn :class:`PipedTensor` and :class:`ArenaHandle` back
    into tensors; handles come from ``arena``, the one the batch's workers were given."""

    def restore(value: Any) -> Any:
        if isinstance(value, (ArenaHandle, PackedBytesHandle)):
            return value.restore(arena)
        return value.restore() if isinstance(value, PipedTensor) else value

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
            arena = _COLLATING_INTO.get()
            if arena is not None and all(t.shape == elem.shape and t.dtype == elem.dtype for t in batch):
                stacked = arena.stack(batch)
                if stacked is not None:
                    return stacked
    return collate_tensors_as_torch(batch, collate_fn_map=collate_fn_map)


def _collate_map() -> dict[Any, Callable[..., Any]]:
    mapping = default_collate_map()
    mapping[torch.Tensor] = _collate_tensors
    return mapping


_MAP = _collate_map()


def _add_pil_when_imported() -> None:
    """Collate PIL images once PIL is imported: an image item cannot exist before that, and
    importing Pillow up front would cost every process of a loader its memory for nothing."""
    image = sys.modules.get("PIL.Image")
    if image is not None and image.Image not in _MAP:
        _MAP[image.Image] = _collate_pil


def default_collate(batch: list[Any]) -> Any:
    """Collate a batch of items as torch does, turning PIL images into tensors.

    The default ``collate_fn`` of ``StreamingDataLoader``. In a worker, tensors it stacks
    may be written straight into the loader's shared batch memory, which saves a copy.
    Images of different sizes stay a list of tensors instead of failing to stack.

    Args:
        batch: the samples of one batch, as the dataset yielded them.

    Returns:
        The batch with matching leaves stacked (tensors, numbers, arrays, images) and
        containers (dicts, lists, tuples) kept.
    """
    _add_pil_when_imported()
    return collate_with_map(batch, _MAP)


#: The arena of the :class:`WorkerCollate` call running in this context, for
#: :func:`default_collate` (also when a user's collate function calls it): set by
#: :meth:`BatchFastPath.collating` for the duration of one call, None otherwise.
_COLLATING_INTO: ContextVar[BatchArena | None] = ContextVar("litdata_stream_collating_into", default=None)


class BatchFastPath:
    """The fast way a StreamingDataLoader's batches travel from its workers.

    The loader makes one and hands it to the :class:`WorkerCollate` and the
    ``WorkerSetup`` it gives the DataLoader, which copies both into every worker (``fork``
    copies them, ``spawn``/``forkserver`` pickle them). Before each epoch's workers start,
    :meth:`epoch` puts that epoch's arena on it, so every worker holds the arena of its
    own loader iterator, whichever loader iterated last.
    """

    def __init__(self) -> None:
        self.arena: BatchArena | None = None

    def __getstate__(self) -> dict[str, Any]:
        # An arena (shared mmap, fork locks) only ever reaches workers through fork.
        return {"arena": None}

    @contextlib.contextmanager
    def epoch(self, num_workers: int, start_method: str) -> Iterator[BatchArena | None]:
        """Around starting an epoch's workers: the arena they get (None where they cannot
        use one), kept here only until they have started. The caller keeps it and passes
        it to :func:`restore_tensors` for the batches of those workers."""
        self.arena = new_arena(num_workers, start_method)
        try:
            yield self.arena
        finally:
            self.arena = None

    def attach_worker(self, worker_id: int) -> None:
        """In a worker, first thing: take this worker's slots of the epoch's arena."""
        if self.arena is not None:
            self.arena.attach_worker(worker_id)

    @contextlib.contextmanager
    def collating(self) -> Iterator[BatchArena | None]:
        """Around a collate call in a worker: :func:`default_collate` stacks large batches
        into this worker's arena."""
        token = _COLLATING_INTO.set(self.arena)
        try:
            yield self.arena
        finally:
            _COLLATING_INTO.reset(token)


class WorkerCollate:
    """The collate a StreamingDataLoader runs: the user's, then tensors wrapped for the pipe."""

    def __init__(
        self, collate_fn: Callable[[list[Any]], Any], fast_path: BatchFastPath | None = None
    ) -> None:
        self.collate_fn = collate_fn
        self.fast_path = fast_path if fast_path is not None else BatchFastPath()

    def __call__(self, batch: list[Any]) -> Any:
        """Collate ``batch`` with the user's function, then prepare its tensors for the pipe.

        In a worker the result's tensors may be written into the batch arena or sent through
        the pipe; with ``num_workers=0`` the batch stays in this process as collated.
        """
        if get_worker_info() is None:  # num_workers=0: the batch stays in this process
            return self.collate_fn(batch)
        with self.fast_path.collating() as arena:
            result = self.collate_fn(batch)
        return pipe_small_tensors(result, arena)
