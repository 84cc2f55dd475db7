"""Reusable shared memory for the large batches workers hand to the training process.

torch's default collate stacks a worker's batch into a new shared-memory segment every
time. The kernel then zeroes and maps every 4 KB page of it on first touch: a batch of
64 decoded 224x224 float images is 38.5 MB, about 9,400 page faults, and on a 2-core
machine that was 16% of a worker's time next to JPEG decoding. A :class:`BatchArena`
gives each worker a few slots of shared memory (``memfd`` files) that are reused once
the training process has dropped the batch that used them, so steady-state batches cost
one copy and no page faults.

Life of a slot: the worker claims a free slot (flag 0 -> 1 under its lock), stacks the
batch into it and sends a small :class:`ArenaHandle` through the result pipe (with the
file descriptor the first time that slot's memory is sent). The training process maps
the slot once, hands out a tensor over it, and when the last tensor or view of it is
garbage-collected, sets the flag back to 0. A worker that finds no free slot (the
training process still holds every batch) falls back to torch's own segments: nothing
ever waits for a slot.

The loader makes an arena for each epoch and hands it to that epoch's workers inside its
``BatchFastPath`` (see :mod:`litdata_stream.collate`); the flags and locks are created in
the training process before the workers start and inherited through ``fork``, so with
``spawn`` or ``forkserver`` workers no arena is used. Batches come back to the loader,
which passes its arena to :meth:`ArenaHandle.restore`.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import secrets
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .torch_private import SharedFd, receive_fd, share_fd

#: What an :class:`ArenaHandle` pickles to: (arena, worker, slot, generation, size, dtype, shape, fd).
_ArenaHandleState = tuple[str, int, int, int, int, torch.dtype, tuple[int, ...], SharedFd | None]
#: What a :class:`PackedBytesHandle` pickles to: (arena, worker, slot, generation, size, lengths, fd).
_PackedBytesState = tuple[str, int, int, int, int, list[int], SharedFd | None]

#: Slots per worker: the batches a worker may have in flight plus the one being used.
DEFAULT_SLOTS = 4
#: Seconds to wait for a slot lock before assuming its holder died (it is held for
#: microseconds otherwise).
LOCK_TIMEOUT = 5.0


@dataclass
class _Slot:
    fd: int
    memory: mmap.mmap
    size: int
    generation: int
    sent: bool = False


class ArenaHandle:
    """A batch tensor that lives in slot ``slot`` of worker ``worker``'s arena."""

    __slots__ = ("arena", "worker", "slot", "generation", "size", "dtype", "shape", "fd")

    def __init__(self, arena: str, worker: int, slot: int, generation: int, size: int, dtype: torch.dtype,
                 shape: tuple[int, ...], fd: SharedFd | None) -> None:
        self.arena, self.worker, self.slot, self.generation, self.size = arena, worker, slot, generation, size
        self.dtype, self.shape, self.fd = dtype, shape, fd

    def __getstate__(self) -> _ArenaHandleState:
        return (self.arena, self.worker, self.slot, self.generation, self.size, self.dtype, self.shape, self.fd)

    def __setstate__(self, state: _ArenaHandleState) -> None:
        (self.arena, self.worker, self.slot, self.generation, self.size, self.dtype, self.shape,
         self.fd) = state

    def restore(self, arena: BatchArena | None = None) -> torch.Tensor:
        """The batch tensor, from ``arena``: the arena of the loader iterator whose workers
        sent this handle. Without one (torch's pin-memory thread cannot pass it), the live
        arena of this process with the handle's id."""
        return _arena_of(self.arena, arena).tensor(self)

    def pin_memory(self, device: Any = None) -> torch.Tensor:
        """Called by the DataLoader's pin-memory thread: a pinned copy (the slot is freed)."""
        tensor = self.restore()
        return tensor.pin_memory(device) if device is not None else tensor.pin_memory()


class PackedBytesHandle:
    """A list of ``bytes`` (raw items of a batch) packed one after another into slot
    ``slot`` of worker ``worker``'s arena; ``lengths`` cuts them apart again.

    Restoring copies each value out into a new ``bytes`` (users get the same list of
    ``bytes`` as through the pipe) and frees the slot right away. Through the pipe the same
    list cost a pickle copy, two kernel copies and a wake-up of the reader per pipe-full
    (64 KB to 1 MB) of it; through the slot it costs one copy in each process.
    """

    __slots__ = ("arena", "worker", "slot", "generation", "size", "lengths", "fd")

    def __init__(self, arena: str, worker: int, slot: int, generation: int, size: int, lengths: list[int],
                 fd: SharedFd | None) -> None:
        self.arena, self.worker, self.slot, self.generation, self.size = arena, worker, slot, generation, size
        self.lengths, self.fd = lengths, fd

    def __getstate__(self) -> _PackedBytesState:
        return (self.arena, self.worker, self.slot, self.generation, self.size, self.lengths, self.fd)

    def __setstate__(self, state: _PackedBytesState) -> None:
        self.arena, self.worker, self.slot, self.generation, self.size, self.lengths, self.fd = state

    def restore(self, arena: BatchArena | None = None) -> list[bytes]:
        """The list of ``bytes``, from ``arena`` (as :meth:`ArenaHandle.restore`)."""
        return _arena_of(self.arena, arena).unpack_bytes(self)

    def pin_memory(self, device: Any = None) -> list[bytes]:
        """Called by the DataLoader's pin-memory thread: bytes are not pinned, only restored."""
        return self.restore()


def _arena_of(arena_id: str, arena: BatchArena | None) -> BatchArena:
    if arena is None:
        arena = _LIVE_ARENAS.get(arena_id)
        if arena is None:
            raise RuntimeError("a batch in shared memory arrived after its loader's iterator was gone")
    elif arena.id != arena_id:
        raise RuntimeError(f"a batch of arena {arena_id} was restored with arena {arena.id}")
    return arena


#: Packed bytes get slots this much larger than the batch, rounded up to whole MiB, so
#: that batches of items of varying sizes reuse a slot instead of each needing a new one.
_BYTES_HEADROOM = 1.25
_MIB = 1 << 20


class BatchArena:
    """Per-worker slots of reusable shared memory (see the module docstring)."""

    def __init__(self, num_workers: int, slots: int = DEFAULT_SLOTS) -> None:
        self.id = secrets.token_hex(8)  # several loaders may iterate at once (train and val)
        self.num_workers = num_workers
        self.slots = slots
        self._flags = mmap.mmap(-1, max(1, num_workers * slots))  # shared, inherited by fork
        context = multiprocessing.get_context("fork")
        self._locks = [context.Lock() for _ in range(num_workers)]
        self._pid = os.getpid()  # the training process: only it frees slots of dropped batches
        # worker side
        self.worker: int | None = None
        self._own: dict[int, _Slot] = {}
        self._by_address: dict[int, tuple[int, int]] = {}
        self._generation = 0
        # training-process side
        self._mapped: dict[tuple[int, int], tuple[int, mmap.mmap]] = {}
        self._mapped_lock = threading.Lock()

    # -- in a worker ---------------------------------------------------------------------
    def attach_worker(self, worker_id: int) -> None:
        """Make this process worker ``worker_id``, owning its share of the slots (none mapped yet)."""
        self.worker = worker_id
        self._own, self._by_address = {}, {}

    def _claim(self) -> int | None:
        assert self.worker is not None
        base = self.worker * self.slots
        lock = self._locks[self.worker]
        if not lock.acquire(timeout=LOCK_TIMEOUT):  # the training process died holding it
            return None
        try:
            for slot in range(self.slots):
                if self._flags[base + slot] == 0:
                    self._flags[base + slot] = 1
                    return slot
        finally:
            lock.release()
        return None

    def _release(self, worker: int, slot: int) -> None:
        lock = self._locks[worker]
        # A worker killed while holding its lock never releases it: the slot is then freed
        # without the lock (nobody else will claim it) rather than hanging the trainer.
        locked = lock.acquire(timeout=LOCK_TIMEOUT)
        try:
            self._flags[worker * self.slots + slot] = 0
        finally:
            if locked:
                lock.release()

    def _release_dropped(self, worker: int, slot: int) -> None:
        """Finalizer of a batch's array. A process forked from the training process (the
        next epoch's workers) inherits the finalizers of the batches held at fork time and
        may collect its copies of them: that must not free slots the trainer still uses."""
        if os.getpid() == self._pid:
            self._release(worker, slot)

    def stack(self, batch: list[torch.Tensor]) -> torch.Tensor | None:
        """Stack ``batch`` into a free slot of this worker; None when every slot is in use."""
        if self.worker is None:
            return None
        elem = batch[0]
        size = elem.numel() * elem.element_size() * len(batch)
        slot = self._claim()
        if slot is None:
            return None
        try:
            own = self._own.get(slot)
            if own is None or own.size < size:
                if own is not None:
                    self._forget(slot, own)
                own = self._new_slot(slot, size)
            out = torch.frombuffer(own.memory, dtype=elem.dtype, count=len(batch) * elem.numel())
            out = out.view(len(batch), *elem.shape)
            torch.stack(batch, 0, out=out)
        except BaseException:
            self._release(self.worker, slot)
            raise
        self._by_address[out.data_ptr()] = (slot, size)
        return out

    def pack_bytes(self, values: list[bytes]) -> PackedBytesHandle | None:
        """Copy ``values`` one after another into a free slot of this worker; None when
        every slot is in use (the caller sends the list through the pipe then)."""
        if self.worker is None:
            return None
        lengths = [len(v) for v in values]
        total = sum(lengths)
        slot = self._claim()
        if slot is None:
            return None
        try:
            own = self._own.get(slot)
            if own is None or own.size < total:
                if own is not None:
                    self._forget(slot, own)
                own = self._new_slot(slot, max(-(-int(total * _BYTES_HEADROOM) // _MIB) * _MIB, _MIB))
            memory = own.memory
            memory.seek(0)
            write = memory.write
            for value in values:
                write(value)
        except BaseException:
            self._release(self.worker, slot)
            raise
        fd = None
        if not own.sent:
            fd = share_fd(own.fd)
            own.sent = True
        return PackedBytesHandle(self.id, self.worker, slot, own.generation, own.size, lengths, fd)

    def _new_slot(self, slot: int, size: int) -> _Slot:
        fd = os.memfd_create(f"litdata-batch-{self.worker}-{slot}", os.MFD_CLOEXEC)
        os.ftruncate(fd, size)
        self._generation += 1
        own = _Slot(fd=fd, memory=mmap.mmap(fd, size), size=size, generation=self._generation)
        self._own[slot] = own
        return own

    def _forget(self, slot: int, own: _Slot) -> None:
        self._by_address = {a: v for a, v in self._by_address.items() if v[0] != slot}
        os.close(own.fd)  # the mapping stays valid while tensors of earlier batches use it

    def handle(self, tensor: torch.Tensor) -> ArenaHandle | None:
        """The handle to send for ``tensor`` if :meth:`stack` made it, else None."""
        found = self._by_address.pop(tensor.data_ptr(), None) if self.worker is not None else None
        if found is None:
            return None
        slot, size = found
        own = self._own[slot]
        fd = None
        if not own.sent:  # the training process maps each slot's memory once
            fd = share_fd(own.fd)
            own.sent = True
        return ArenaHandle(self.id, self.worker, slot, own.generation, size, tensor.dtype,  # type: ignore[arg-type]
                           tuple(tensor.shape), fd)

    # -- in the training process ------------------------------------------------------------
    def unpack_bytes(self, handle: PackedBytesHandle) -> list[bytes]:
        """The values of ``handle`` as new ``bytes``; its slot is free again on return."""
        try:
            memory = self._mapping(handle)
            values = []
            position = 0
            for length in handle.lengths:
                end = position + length
                values.append(memory[position:end])  # slicing an mmap copies into new bytes
                position = end
        finally:
            self._release(handle.worker, handle.slot)
        return values

    def tensor(self, handle: ArenaHandle) -> torch.Tensor:
        """The batch tensor of ``handle``; its slot is freed when the tensor is collected."""
        mapped = self._mapping(handle)
        array = np.frombuffer(mapped, dtype=np.uint8, count=handle.size)
        weakref.finalize(array, self._release_dropped, handle.worker, handle.slot)
        return torch.from_numpy(array).view(handle.dtype).view(handle.shape)

    def _mapping(self, handle: ArenaHandle | PackedBytesHandle) -> mmap.mmap:
        """This process's mapping of the slot memory ``handle`` was written into (mapped
        on first use, and again when the worker replaced the slot with a larger one)."""
        key = (handle.worker, handle.slot)
        with self._mapped_lock:
            mapped = self._mapped.get(key)
            if mapped is None or mapped[0] != handle.generation:
                if handle.fd is None:
                    raise RuntimeError(f"no shared memory received for batch slot {key}")
                fd = receive_fd(handle.fd)
                try:
                    mapped = (handle.generation, mmap.mmap(fd, handle.size))
                finally:
                    os.close(fd)
                self._mapped[key] = mapped
        return mapped[1]


#: The live arenas of the training process by id, for :meth:`ArenaHandle.restore` called
#: without an arena: torch's pin-memory thread pins handles and cannot be given one.
#: Workers never look here: they get their arena from the loader (``BatchFastPath``).
_LIVE_ARENAS: weakref.WeakValueDictionary[str, BatchArena] = weakref.WeakValueDictionary()


def new_arena(num_workers: int, start_method: str) -> BatchArena | None:
    """An arena for the next epoch's workers, if they are forked on a system with memfd.

    The caller keeps it referenced for as long as its iterator lives and hands it to the
    workers (``BatchFastPath.epoch``)."""
    if num_workers <= 0 or start_method != "fork" or not hasattr(os, "memfd_create"):
        return None
    arena = BatchArena(num_workers)
    _LIVE_ARENAS[arena.id] = arena
    return arena
