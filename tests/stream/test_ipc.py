"""The result pipe reader: multiprocessing's framing, read into one reused buffer."""

import multiprocessing as mp
import os
import pickle
import struct
import threading

import pytest
import torch

from litdata_stream.ipc import ReusedBufferReader, read_results_into_reused_buffer, widen_result_pipe
from litdata_stream.torch_private import (
    end_worker_threads,
    queue_reader,
    replace_queue_receiver,
    worker_result_queue,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "readv"), reason="needs os.readv (POSIX)")


def _send_all(queue, messages):
    for message in messages:
        queue.put(message)


def test_a_queue_read_through_the_reused_buffer_returns_every_message_intact():
    queue = mp.get_context("fork").Queue()
    reader = ReusedBufferReader(queue_reader(queue).fileno())
    replace_queue_receiver(queue, reader)
    messages = [b"", b"x", os.urandom(70_000), {"images": [os.urandom(100_000) for _ in range(30)]}, list(range(1000)),
                os.urandom(5 << 20), "tail"]
    sender = mp.get_context("fork").Process(target=_send_all, args=(queue, messages))
    sender.start()
    received = [queue.get(timeout=30) for _ in messages]
    sender.join(30)
    assert received == messages
    assert len(reader._local.buffer) >= 5 << 20  # grown once to the largest message, then kept


def test_each_thread_reads_into_its_own_buffer():
    read_fd, write_fd = os.pipe()
    reader = ReusedBufferReader(read_fd)
    payload = pickle.dumps(b"abc")
    os.write(write_fd, struct.pack("!i", len(payload)) + payload)
    first = bytes(reader())
    buffers = []
    thread = threading.Thread(target=lambda: (os.write(write_fd, struct.pack("!i", 3) + b"xyz"), buffers.append(bytes(reader()))))
    thread.start()
    thread.join(10)
    assert pickle.loads(first) == b"abc" and buffers == [b"xyz"]
    os.close(read_fd)
    os.close(write_fd)


def test_the_long_length_header_and_end_of_file_are_handled_like_multiprocessing():
    read_fd, write_fd = os.pipe()
    reader = ReusedBufferReader(read_fd)
    os.write(write_fd, struct.pack("!i", -1) + struct.pack("!Q", 5) + b"hello")
    assert bytes(reader()) == b"hello"
    os.write(write_fd, struct.pack("!i", 10) + b"short")
    os.close(write_fd)
    with pytest.raises(OSError, match="end of file during message"):
        reader()
    with pytest.raises(EOFError):
        reader()
    os.close(read_fd)


class _Numbers(torch.utils.data.Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, index):
        return index


def test_iterators_without_a_result_pipe_are_left_alone():
    class NoQueue:
        pass

    assert read_results_into_reused_buffer(NoQueue()) is False
    iterator = iter(torch.utils.data.DataLoader(_Numbers(), batch_size=4, num_workers=0))
    assert read_results_into_reused_buffer(iterator) is False
    assert widen_result_pipe(iterator) is False
    assert [b.tolist() for b in iterator] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_a_loader_iterator_reads_its_batches_through_the_reused_buffer():
    iterator = iter(torch.utils.data.DataLoader(_Numbers(), batch_size=4, num_workers=2, multiprocessing_context="fork"))
    try:
        assert read_results_into_reused_buffer(iterator) is True
        receiver = worker_result_queue(iterator)._recv_bytes
        assert isinstance(receiver, ReusedBufferReader)
        assert sorted(x for b in iterator for x in b.tolist()) == list(range(12))
        assert len(receiver._local.buffer) >= 1 << 20  # the batches were read into the kept buffer
    finally:
        end_worker_threads(iterator)
