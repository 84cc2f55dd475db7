"""Every private attribute of torch and CPython that litdata_stream relies on, checked on the
installed versions against real objects (a multi-worker DataLoader iterator, real
multiprocessing queues and processes), and that only ``torch_private`` touches them."""

import ast
import multiprocessing as mp
import os
import pickle
import re
import threading
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from pathlib import Path

import pytest
import torch
import torch.utils.data.dataloader
from torch.utils.data import DataLoader, Dataset

import litdata_stream
from litdata_stream import torch_private
from litdata_stream.torch_private import (
    PRIVATE_NAMES,
    MissingPrivateAPI,
    collate_tensors_as_torch,
    collate_with_map,
    default_collate_map,
    end_worker_threads,
    forget_persistent_iterator,
    has_worker_processes,
    index_queues,
    multiprocessing_iterator_class,
    python_version,
    queue_feeder_thread,
    queue_reader,
    receive_fd,
    replace_queue_receiver,
    share_fd,
    shutdown_workers,
    torch_version,
    worker_processes,
    worker_result_queue,
)

FORK = mp.get_context("fork")


def require(obj, name):
    """Fail naming the attribute (and the installed versions) when it is missing."""
    assert hasattr(obj, name), (
        f"litdata_stream relies on {type(obj).__name__}.{name}, which the installed "
        f"torch {torch.__version__} / Python {python_version()} does not have: adapt litdata_stream/torch_private.py"
    )


class Numbers(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, index):
        return index


def assert_missing_raises(obj, name, expected, use):
    """``use(obj)`` on this real object with attribute ``name`` taken away raises ``expected``."""
    kept = obj.__dict__.pop(name)
    try:
        with pytest.raises(MissingPrivateAPI, match=re.escape(expected)):
            use(obj)
    finally:
        setattr(obj, name, kept)


def _worker_pids_since(before):
    return {p.pid for p in mp.active_children()} - before


@pytest.fixture
def with_workers():
    """A real DataLoader iterator with two forked workers, ended afterwards."""
    before = {p.pid for p in mp.active_children()}
    iterator = iter(DataLoader(Numbers(), batch_size=2, num_workers=2, multiprocessing_context=FORK))
    yield iterator, before
    end_worker_threads(iterator)


@pytest.fixture
def without_workers():
    return iter(DataLoader(Numbers(), batch_size=2, num_workers=0))


# -- torch's _MultiProcessingDataLoaderIter ----------------------------------------------


def test_the_multiprocessing_iterator_class_is_what_a_loader_with_workers_returns(with_workers,
                                                                                  without_workers):
    require(torch.utils.data.dataloader, "_MultiProcessingDataLoaderIter")
    iterator, _ = with_workers
    assert type(iterator) is multiprocessing_iterator_class()
    assert has_worker_processes(iterator) is True
    assert has_worker_processes(without_workers) is False


def test_the_worker_result_queue_is_the_pipe_the_batches_arrive_through(with_workers):
    iterator, _ = with_workers
    require(iterator, "_worker_result_queue")
    queue = worker_result_queue(iterator)
    assert isinstance(queue, Queue)
    require(queue, "_reader")
    reader = queue_reader(queue)
    assert isinstance(reader, Connection) and reader.fileno() >= 0
    assert reader.poll(30), "the workers' first batches never arrived on the result queue's pipe"
    assert [b.tolist() for b in iterator] == [[i, i + 1] for i in range(0, 16, 2)]


def test_index_queues_have_one_feeder_thread_per_worker_and_all_end_with_the_workers(with_workers):
    iterator, before = with_workers
    require(iterator, "_index_queues")
    require(iterator, "_shutdown_workers")
    queues = index_queues(iterator)
    assert len(queues) == 2 and all(isinstance(q, Queue) for q in queues)
    threads = [queue_feeder_thread(q) for q in queues]  # torch sent each worker its first indices
    assert all(isinstance(t, threading.Thread) and t.is_alive() for t in threads)
    assert len(_worker_pids_since(before)) == 2
    end_worker_threads(iterator)
    assert not any(t.is_alive() for t in threads)
    assert _worker_pids_since(before) == set()


def test_shutdown_workers_stops_the_worker_processes(with_workers):
    iterator, before = with_workers
    require(iterator, "_shutdown_workers")
    assert len(_worker_pids_since(before)) == 2
    shutdown_workers(iterator)
    assert _worker_pids_since(before) == set()


def test_worker_processes_are_the_iterators_live_workers_by_id(with_workers):
    iterator, before = with_workers
    require(iterator, "_workers")
    workers = worker_processes(iterator)
    assert len(workers) == 2 and {w.pid for w in workers} == _worker_pids_since(before)
    assert all(w.is_alive() for w in workers)
    end_worker_threads(iterator)


def test_forgetting_the_persistent_iterator_makes_the_next_epoch_fork_new_workers():
    before = {p.pid for p in mp.active_children()}
    loader = DataLoader(Numbers(), batch_size=2, num_workers=1, persistent_workers=True, multiprocessing_context=FORK)
    first = iter(loader)
    require(loader, "_iterator")
    assert loader._iterator is first
    old = _worker_pids_since(before)
    end_worker_threads(first)
    forget_persistent_iterator(loader)
    second = iter(loader)
    try:
        assert second is not first and [b.tolist() for b in second] == [[i, i + 1] for i in range(0, 16, 2)]
        assert len(_worker_pids_since(before)) == 1 and _worker_pids_since(before) != old
    finally:
        end_worker_threads(second)
    forget_persistent_iterator(DataLoader(Numbers()))  # not persistent: nothing to forget


def test_an_iterator_without_workers_legitimately_has_none_of_it(without_workers):
    assert worker_processes(without_workers) == []
    assert worker_result_queue(without_workers) is None
    assert index_queues(without_workers) == []
    shutdown_workers(without_workers)
    end_worker_threads(without_workers)
    assert [b.tolist() for b in without_workers] == [[i, i + 1] for i in range(0, 16, 2)]


@pytest.mark.parametrize("name, function", [
    ("_worker_result_queue", worker_result_queue),
    ("_index_queues", index_queues),
])
def test_a_missing_iterator_attribute_raises_naming_it_and_the_torch_version(with_workers, name, function):
    iterator, _ = with_workers  # this torch "without" the attribute, on a real iterator
    assert_missing_raises(iterator, name, f"litdata_stream needs torch's _MultiProcessingDataLoaderIter.{name}, "
                          f"which torch {torch_version()} does not have", function)
    assert isinstance(MissingPrivateAPI("x"), RuntimeError)


# -- CPython's multiprocessing.Queue -------------------------------------------------------


def test_a_queue_has_no_feeder_thread_before_its_first_put_and_one_after():
    queue = FORK.Queue()
    require(queue, "_thread")
    assert queue_feeder_thread(queue) is None
    queue.put("x")
    thread = queue_feeder_thread(queue)
    assert isinstance(thread, threading.Thread) and thread.is_alive()
    assert queue.get(timeout=10) == "x"
    queue.close()
    queue.join_thread()
    assert not thread.is_alive()


def _put_all(queue, messages):
    for message in messages:
        queue.put(message)


def test_get_reads_every_message_through_the_replaced_receiver():
    queue = FORK.Queue()
    require(queue, "_recv_bytes")
    reader = queue_reader(queue)
    calls = []

    def receive():
        calls.append(1)
        return reader.recv_bytes()

    replace_queue_receiver(queue, receive)
    messages = [b"a", {"n": list(range(100))}, os.urandom(200_000)]
    sender = FORK.Process(target=_put_all, args=(queue, messages))
    sender.start()
    assert [queue.get(timeout=30) for _ in messages] == messages
    sender.join(30)
    assert len(calls) == len(messages), "Queue.get no longer reads through Queue._recv_bytes"


@pytest.mark.parametrize("name, use", [
    ("_recv_bytes", lambda q: replace_queue_receiver(q, lambda: b"")),
    ("_reader", queue_reader),
    ("_thread", queue_feeder_thread),
])
def test_a_missing_queue_attribute_raises_naming_it_and_the_python_version(name, use):
    assert_missing_raises(FORK.Queue(), name, f"litdata_stream needs CPython's multiprocessing.queues.Queue.{name}, "
                          f"which Python {python_version()} does not have", use)


# -- multiprocessing.reduction.DupFd ----------------------------------------------------------


def _share_a_pipe(tickets, done):
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"from the worker")
    tickets.put(share_fd(read_fd))  # pickled like an ArenaHandle's fd
    os.close(read_fd)  # the ticket holds its own duplicate
    done.wait(30)  # the duplicate is handed over while this process lives


def test_a_shared_fd_reaches_another_process():
    import multiprocessing.reduction

    require(multiprocessing.reduction, "DupFd")
    tickets, done = FORK.Queue(), FORK.Event()
    worker = FORK.Process(target=_share_a_pipe, args=(tickets, done))
    worker.start()
    try:
        fd = receive_fd(tickets.get(timeout=30))
        try:
            assert os.read(fd, 100) == b"from the worker"
        finally:
            os.close(fd)
    finally:
        done.set()
        worker.join(30)
    read_fd, write_fd = os.pipe()  # and a ticket survives pickling within this process too
    duplicate = receive_fd(pickle.loads(pickle.dumps(share_fd(write_fd))))
    os.write(duplicate, b"through the duplicate")
    assert duplicate != write_fd and os.read(read_fd, 100) == b"through the duplicate"
    for fd in (read_fd, write_fd, duplicate):
        os.close(fd)


# -- torch.utils.data._utils.collate --------------------------------------------------------


class Marker:
    pass


def test_torch_collate_internals_collate_with_our_map():
    import importlib

    module = importlib.import_module("torch.utils.data._utils.collate")
    for name in ("collate", "collate_tensor_fn", "default_collate_fn_map"):
        require(module, name)
    mapping = default_collate_map()
    assert torch.Tensor in mapping
    mapping[Marker] = lambda batch, *, collate_fn_map=None: f"{len(batch)} markers"
    assert Marker not in module.default_collate_fn_map  # a copy: torch's own map is untouched
    batch = [{"m": Marker(), "t": torch.tensor([i, i]), "s": "x"} for i in range(3)]
    collated = collate_with_map(batch, mapping)
    assert collated["m"] == "3 markers" and collated["s"] == ["x"] * 3
    assert torch.equal(collated["t"], torch.tensor([[0, 0], [1, 1], [2, 2]]))
    tensors = [torch.full((2,), float(i)) for i in range(3)]
    assert torch.equal(collate_tensors_as_torch(tensors), torch.stack(tensors))


# -- nobody else touches private attributes --------------------------------------------------

PACKAGE = Path(litdata_stream.__file__).parent
#: Names that are private in torch or CPython whatever object holds them.
UNAMBIGUOUS = [n for n in PRIVATE_NAMES if n not in ("_reader", "_thread")] + [
    "resource_sharer", "multiprocessing.reduction", "_ForkingPickler", "_SingleProcessDataLoaderIter",
    "_BaseDataLoaderIter", "_send_bytes", "_pin_memory_thread", "_data_queue",
]
#: Private names that the package's own classes may also use, on ``self``.
ON_OTHER_OBJECTS = {"_reader", "_writer", "_thread", "_workers", "_num_workers", "_recv_bytes"}
_MODULE_ROOTS = ("torch", "multiprocessing")


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_imports(tree):
    """Imports of private torch/multiprocessing modules or names, and the names the modules
    of torch and multiprocessing are bound to."""
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in _MODULE_ROOTS:
                    aliases.add(alias.asname or parts[0])
                    found += [f"import {alias.name}"] if any(map(_is_private, parts)) else []
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _MODULE_ROOTS:
            parts = node.module.split(".") + [alias.name for alias in node.names]
            found += [f"from {node.module} import ..."] if any(map(_is_private, parts)) else []
    return found, aliases


def _private_attributes(tree, aliases):
    """``torch._x``-style chains, and known private names read on anything but ``self``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in aliases and _is_private(node.attr):
            found.append(ast.unparse(node))
        on_self = isinstance(node.value, ast.Name) and node.value.id == "self"
        if node.attr in ON_OTHER_OBJECTS and not on_self:
            found.append(ast.unparse(node))
    return found


def _private_getattr(tree):
    """``getattr(x, "_name")`` and its siblings."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2:
            name = node.args[1]
            if node.func.id in ("getattr", "hasattr", "setattr", "delattr") and isinstance(name, ast.Constant):
                found += [ast.unparse(node)] if isinstance(name.value, str) and _is_private(name.value) else []
    return found


def private_uses(source):
    """What in ``source`` reaches private attributes of torch, multiprocessing or CPython."""
    found = [name for name in UNAMBIGUOUS if re.search(rf"(?<!\w){re.escape(name)}\b", source)]
    tree = ast.parse(source)
    imports, aliases = _private_imports(tree)
    return found + imports + _private_attributes(tree, aliases) + _private_getattr(tree)


# Private state of LitData's own objects that LitData offers no accessor for (not torch's
# or CPython's): allowed by name, in the one module that recognises those objects.
FOREIGN_PRIVATE = {"item_loaders.py": ("getattr(item_loader, '_columns', None)",)}


def test_no_module_but_torch_private_touches_private_attributes():
    modules = sorted(PACKAGE.rglob("*.py"))  # subpackages too
    assert len(modules) > 10 and PACKAGE / "torch_private.py" in modules
    offenders = {
        str(path.relative_to(PACKAGE)): uses for path in modules if path != PACKAGE / "torch_private.py"
        for uses in [[u for u in private_uses(path.read_text()) if u not in FOREIGN_PRIVATE.get(path.name, ())]]
        if uses
    }
    assert offenders == {}, f"move these into litdata_stream/torch_private.py: {offenders}"


def test_the_scan_finds_what_it_looks_for():
    """The scan above is not vacuous: it sees every name torch_private relies on there, and
    the usual ways of reaching private attributes."""
    in_torch_private = private_uses((PACKAGE / "torch_private.py").read_text())
    assert {n for n in UNAMBIGUOUS if n in PRIVATE_NAMES} <= set(in_torch_private)
    for snippet in [
        "shutdown = getattr(iterator, '_shutdown_workers', None)",
        "for queue in iterator._index_queues: pass",
        "queue._recv_bytes = reader",
        "reader = loader_iter._worker_result_queue._reader",
        "thread = queue._thread",
        "from multiprocessing.reduction import DupFd",
        "from torch.utils.data._utils.collate import collate",
        "import torch\ntorch.utils.data._utils.collate.collate([1])",
        "import multiprocessing as mp\nmp._something",
        "x = hasattr(obj, '_private')",
    ]:
        assert private_uses(snippet), snippet
    assert private_uses("class A:\n    def f(self):\n        return self._thread, self._reader") == []
    assert torch_private.__name__ == "litdata_stream.torch_private"
