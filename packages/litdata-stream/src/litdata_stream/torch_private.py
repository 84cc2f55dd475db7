"""Every access litdata_stream makes to private attributes of torch, multiprocessing and CPython.

The loader's fast batch path needs a few things no public API offers: the result pipe
of a multi-process DataLoader iterator (to widen it and read it into a reused buffer),
its workers and their index queues (to end the feeder threads before the next epoch
forks), ``multiprocessing.reduction.DupFd`` (to send a worker's shared-memory file
descriptor) and torch's collate internals (to change how tensors are stacked).

Each access is one small function here, so that a torch or Python release that renames
or drops one of them breaks in one known place, with an error that says what is
missing, instead of silently turning the fast path off. Rules:

- a function does nothing (or returns None) only where the attribute legitimately does
  not exist, checked by the real condition: the single-process iterator of
  ``num_workers=0`` has no workers, no queues and no result pipe;
- anywhere else a missing attribute raises :class:`MissingPrivateAPI`, naming it and
  the installed version.

``tests/stream/test_torch_private.py`` checks every name of :data:`PRIVATE_NAMES`
against the installed torch and CPython, on real objects, and that no other module of
the package touches them.
"""

from __future__ import annotations

import importlib
import multiprocessing.reduction
import platform
import threading
from collections.abc import Callable
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from types import ModuleType
from typing import Any, Protocol, cast

import torch
import torch.utils.data.dataloader

#: The private names this module uses: the package's other modules must not mention them.
PRIVATE_NAMES = (
    "_MultiProcessingDataLoaderIter",
    "_worker_result_queue",
    "_index_queues",
    "_shutdown_workers",
    "_workers",
    "_iterator",
    "_reader",
    "_recv_bytes",
    "_thread",
    "DupFd",
    "torch.utils.data._utils.collate",
)

#: Who owns the attributes, as error messages name them.
TORCH_ITERATOR = "torch's _MultiProcessingDataLoaderIter"
PYTHON_QUEUE = "CPython's multiprocessing.queues.Queue"


class MissingPrivateAPI(RuntimeError):
    """An attribute of torch or CPython that litdata_stream relies on is not there."""


def torch_version() -> str:
    """The installed torch as ``X.Y`` (what the error messages name)."""
    return ".".join(torch.__version__.split("+")[0].split(".")[:2])


def python_version() -> str:
    """The running Python as ``X.Y``."""
    return ".".join(platform.python_version_tuple()[:2])


def _missing(owner: str, name: str) -> MissingPrivateAPI:
    runtime = f"torch {torch_version()}" if owner.startswith("torch") else f"Python {python_version()}"
    return MissingPrivateAPI(f"litdata_stream needs {owner}.{name}, which {runtime} does not have")


def _required(obj: object, name: str, owner: str) -> Any:
    """``getattr(obj, name)``, or a :class:`MissingPrivateAPI` naming the attribute."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise _missing(owner, name) from None


# -- torch's multi-process DataLoader iterator -------------------------------------------


def multiprocessing_iterator_class() -> type:
    """``torch.utils.data.dataloader._MultiProcessingDataLoaderIter``: the iterator a
    DataLoader returns when ``num_workers > 0`` (torch 1.2 and later, 2.13 checked).

    Needed to tell an iterator with worker processes from the single-process one, which
    legitimately has none of the attributes below."""
    module = torch.utils.data.dataloader
    return cast(type, _required(module, "_MultiProcessingDataLoaderIter", "torch.utils.data.dataloader"))


def has_worker_processes(iterator: object) -> bool:
    """Whether ``iterator`` is torch's multi-process DataLoader iterator."""
    return isinstance(iterator, multiprocessing_iterator_class())


def worker_result_queue(iterator: object) -> Queue[Any] | None:
    """The queue the workers of ``iterator`` send their batches through; None without workers.

    ``_MultiProcessingDataLoaderIter._worker_result_queue`` (torch 1.2 and later, 2.13
    checked): the fast path widens its pipe and reads it into a reused buffer."""
    if not has_worker_processes(iterator):
        return None
    return cast("Queue[Any]", _required(iterator, "_worker_result_queue", TORCH_ITERATOR))


def index_queues(iterator: object) -> list[Queue[Any]]:
    """The queues ``iterator`` sends sample indices to its workers through; [] without workers.

    ``_MultiProcessingDataLoaderIter._index_queues`` (torch 1.2 and later, 2.13 checked):
    each has a feeder thread in this process, which :func:`end_worker_threads` joins."""
    if not has_worker_processes(iterator):
        return []
    return list(_required(iterator, "_index_queues", TORCH_ITERATOR))


def worker_processes(iterator: object) -> list[Any]:
    """The worker processes of ``iterator`` (``multiprocessing`` Process objects, by worker
    id); [] without workers.

    ``_MultiProcessingDataLoaderIter._workers`` (torch 1.2 and later, 2.13 checked): the
    loader kills workers that never started (see :mod:`litdata_stream.worker_start`)."""
    if not has_worker_processes(iterator):
        return []
    return list(_required(iterator, "_workers", TORCH_ITERATOR))


def forget_persistent_iterator(loader: object) -> None:
    """Make a ``persistent_workers`` DataLoader start new workers on its next ``iter()``.

    ``DataLoader._iterator`` (torch 1.7 and later, 2.13 checked) holds the iterator whose
    workers persist; the loader drops it after shutting down workers that never started."""
    if getattr(loader, "persistent_workers", False):
        _required(loader, "_iterator", "torch's DataLoader")
        loader._iterator = None  # type: ignore[attr-defined]


def shutdown_workers(iterator: object) -> None:
    """Stop the workers of ``iterator`` now; nothing to do without workers.

    ``_MultiProcessingDataLoaderIter._shutdown_workers`` (torch 1.2 and later, 2.13
    checked) is what torch itself calls when the iterator is exhausted or collected; the
    loader calls it at once so that the feeder threads can be joined right after."""
    if has_worker_processes(iterator):
        _required(iterator, "_shutdown_workers", TORCH_ITERATOR)()


# -- CPython's multiprocessing.Queue ------------------------------------------------------


def queue_reader(queue: Queue[Any]) -> Connection:
    """The receiving end of ``queue``'s pipe: ``multiprocessing.queues.Queue._reader``
    (CPython 3.4 to 3.13 at least).

    Needed for its file descriptor: to widen the pipe and to read it directly."""
    return cast(Connection, _required(queue, "_reader", PYTHON_QUEUE))


def queue_feeder_thread(queue: Queue[Any]) -> threading.Thread | None:
    """The thread that writes what is put into ``queue`` to its pipe; None until the first put.

    ``multiprocessing.queues.Queue._thread`` (CPython 3.4 to 3.13 at least, always set,
    to None before the first ``put``): a thread still ending while the process forks can
    leave the child stuck (CPython 3.11), so the loader joins them."""
    return cast("threading.Thread | None", _required(queue, "_thread", PYTHON_QUEUE))


def replace_queue_receiver(queue: Queue[Any], receive: Callable[[], Any]) -> None:
    """Make ``queue.get`` read each message's bytes with ``receive`` instead of
    ``queue._reader.recv_bytes``.

    ``Queue.get`` calls ``self._recv_bytes()`` and unpickles what it returns (CPython 3.4
    to 3.13 at least); replacing it lets the training process read batches into one reused
    buffer (see :mod:`litdata_stream.ipc`)."""
    _required(queue, "_recv_bytes", PYTHON_QUEUE)
    queue._recv_bytes = receive  # type: ignore[attr-defined]


def end_worker_threads(iterator: object, timeout: float = 5.0) -> None:
    """Shut down the workers of ``iterator`` and join the feeder threads of its index queues.

    The single-process iterator (``num_workers=0``) has neither, and is left alone."""
    if not has_worker_processes(iterator):
        return
    shutdown_workers(iterator)
    for queue in index_queues(iterator):
        thread = queue_feeder_thread(queue)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


# -- passing file descriptors between processes --------------------------------------------


class SharedFd(Protocol):
    """A picklable stand-in for a file descriptor, made by :func:`share_fd`."""

    def detach(self) -> int:
        """Take the duplicated file descriptor, owned by the caller from then on."""
        ...


def share_fd(fd: int) -> SharedFd:
    """A picklable ticket that gives the process unpickling it a duplicate of ``fd``.

    ``multiprocessing.reduction.DupFd`` (POSIX, CPython 3.4 to 3.13 at least, not
    documented): what torch itself uses to send shared memory to another process. A
    worker uses it for its arena slots; the training process calls :func:`receive_fd`."""
    dup_fd = _required(multiprocessing.reduction, "DupFd", "CPython's multiprocessing.reduction")
    return cast(SharedFd, dup_fd(fd))


def receive_fd(ticket: SharedFd) -> int:
    """The file descriptor of a ticket from :func:`share_fd`, owned by the caller (once per ticket)."""
    return ticket.detach()


# -- torch's collate internals --------------------------------------------------------------


@cache
def _collate_module() -> ModuleType:
    """``torch.utils.data._utils.collate`` (torch 1.13 and later, 2.13 checked)."""
    try:
        return importlib.import_module("torch.utils.data._utils.collate")
    except ImportError:
        raise MissingPrivateAPI(
            f"litdata_stream needs the module torch.utils.data._utils.collate, which torch {torch_version()} "
            "does not have"
        ) from None


def default_collate_map() -> dict[Any, Callable[..., Any]]:
    """A copy of torch's ``default_collate_fn_map``: how ``default_collate`` handles each type.

    torch offers no public way to change how one type is collated and keep the rest; the
    loader's default collate starts from this map and replaces tensors and PIL images."""
    return dict(_required(_collate_module(), "default_collate_fn_map", "torch.utils.data._utils.collate"))


def collate_with_map(batch: Any, collate_fn_map: dict[Any, Callable[..., Any]]) -> Any:
    """torch's ``default_collate`` logic (nesting, namedtuples, ...) with its own type map:
    ``torch.utils.data._utils.collate.collate``."""
    collate = _required(_collate_module(), "collate", "torch.utils.data._utils.collate")
    return collate(batch, collate_fn_map=collate_fn_map)


def collate_tensors_as_torch(batch: list[torch.Tensor], collate_fn_map: Any = None) -> torch.Tensor:
    """Stack tensors exactly as torch's default collate does (into new shared memory in a
    worker): ``torch.utils.data._utils.collate.collate_tensor_fn``."""
    collate_tensor_fn = _required(_collate_module(), "collate_tensor_fn", "torch.utils.data._utils.collate")
    return cast(torch.Tensor, collate_tensor_fn(batch, collate_fn_map=collate_fn_map))
