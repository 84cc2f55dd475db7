"""Where the inputs of ``optimize()`` / ``map()`` come from: a list, a queue or a data loader.

LitData accepts three sources, and so do we, with LitData's errors for mixing them:

* a sequence (or, friendlier than LitData, any finite iterable: it is read once);
* ``queue=``: a ``multiprocessing.Queue`` the caller fills while the run goes on; the
  workers take inputs from it until one of them gets ``None`` (the sentinel);
* a data loader (``StreamingDataLoader``, a torch ``DataLoader`` or anything that looks
  like one): every batch it yields is one input, so a streamed dataset can be optimized
  again. The loader is recognised by its shape (it has a ``dataset`` and is iterable but
  not a sequence), so the writer does not depend on the streaming package.

A ``reader`` (LitData's ``BaseReader`` protocol: ``remap_items(items, num_workers)`` in
the parent, ``read(item)`` in the worker before ``fn``) is applied here too, duck-typed.
"""

from __future__ import annotations

import multiprocessing.queues
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

LIST, QUEUE, LOADER = "list", "queue", "loader"


@dataclass
class InputSource:
    """The resolved inputs: ``values`` for a list, else the queue or loader to stream from."""

    kind: str
    values: list[Any]
    stream: Any = None

    @property
    def streamed(self) -> bool:
        """True for a queue or a data loader: the inputs arrive one by one and cannot be split in advance."""
        return self.kind != LIST

    def known_length(self) -> int | None:
        """The number of inputs when it is known: a list's length, a sized loader's ``len``, else None."""
        if self.kind == LIST:
            return len(self.values)
        if self.kind == LOADER:
            try:
                return len(self.stream)
            except TypeError:
                return None
        return None


def is_loader(inputs: Any) -> bool:
    """A data loader: iterable, not a sequence, and wrapping a ``dataset``."""
    return (
        inputs is not None
        and not isinstance(inputs, (Sequence, str, bytes))
        and hasattr(inputs, "dataset")
        and hasattr(inputs, "__iter__")
    )


def resolve_inputs(
    inputs: Any,
    queue: Any,
    *,
    batch_size: int | None,
    weights: Any,
    reader: Any,
    num_workers: int,
    allow_queue: bool = True,
) -> InputSource:
    """Check the combination of sources as LitData does; return what to read the inputs from."""
    if allow_queue:
        if queue is not None and inputs is not None:
            raise ValueError("You can either provide `inputs` or `queue`, not both.")
        if queue is None and inputs is None:
            raise ValueError("At least one of `inputs` or `queue` must be provided.")
    elif inputs is None:
        raise ValueError("The provided inputs should be a non-empty sequence or a streaming dataloader. Found None.")
    if reader is not None and weights is not None:
        raise ValueError("Either the reader or the weights needs to be defined.")
    if reader is not None:
        check_reader(reader)
    if queue is not None:
        if not isinstance(queue, multiprocessing.queues.Queue):
            raise ValueError(f"The provided `queue` should be a multiprocessing queue. Found {type(queue)}.")
        if batch_size is not None or weights is not None:
            warnings.warn(
                "batch_size and weights do nothing with queue= (each value taken from the queue is one input)",
                UserWarning,
                stacklevel=3,
            )
        return InputSource(QUEUE, [], queue)
    if is_loader(inputs):
        if batch_size is not None:
            raise ValueError("When providing a streaming dataloader, pass the batch_size to the dataloader directly.")
        if weights is not None:
            raise ValueError("When providing a streaming dataloader, weights isn't supported.")
        if reader is not None:
            raise ValueError("reader= cannot be combined with a data loader as inputs: the loader already reads")
        return InputSource(LOADER, [], inputs)
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise ValueError(
            f"The provided inputs should be a non-empty sequence or a streaming dataloader. Found {inputs!r}."
        )
    values = inputs if isinstance(inputs, list) else list(inputs)
    if reader is not None:
        values = list(reader.remap_items(values, num_workers))
    if not values:
        raise ValueError(f"The provided inputs should be non empty. Found {values}: inputs is empty, nothing to process.")
    return InputSource(LIST, values)


def check_reader(reader: Any) -> None:
    """Raise TypeError unless ``reader`` has LitData's ``remap_items`` and ``read`` methods."""
    for method in ("remap_items", "read"):
        if not callable(getattr(reader, method, None)):
            raise TypeError(
                f"reader must implement LitData's BaseReader protocol (remap_items(items, num_workers) and "
                f"read(item)); {type(reader).__name__} has no {method}()"
            )


class ReadThenCall:
    """``fn(reader.read(input), *rest)``: what LitData calls when a reader is given.

    A picklable wrapper, so it travels to spawned workers with the reader inside it.
    """

    def __init__(self, reader: Any, fn: Callable[..., Any], *, skip_none: bool = False) -> None:
        self.reader = reader
        self.fn = fn
        self.skip_none = skip_none  # optimize: a read that gives None stores nothing (as LitData)

    def __call__(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        """Read ``value`` with the reader and call ``fn`` on the result (plus any other arguments).

        With ``skip_none``, a read that gives None returns None without calling ``fn``.
        """
        data = self.reader.read(value)
        if data is None and self.skip_none:
            return None
        return self.fn(data, *args, **kwargs)
