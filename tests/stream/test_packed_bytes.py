"""Raw-bytes batches travel packed in the workers' shared-memory slots and come back as
exactly the lists of ``bytes`` the collate made."""

import os
import pickle

import pytest

from litdata_format import write_dataset
from litdata_stream import StreamingDataLoader, StreamingDataset
from litdata_stream.arena import BatchArena, PackedBytesHandle
from litdata_stream.collate import PACKED_BYTES_MIN, pipe_small_tensors, restore_tensors

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd (Linux)")


def payload(i: int) -> bytes:
    """Item i's bytes: sizes from 0 to about 200 KB (a batch of 16 is about 1.6 MB, past
    the packing threshold), contents telling items apart."""
    return bytes([i % 251]) * ((i * 7919) % 200_000) + i.to_bytes(4, "little")


@pytest.fixture
def blobs(tmp_path):
    write_dataset(tmp_path / "blobs", [{"data": payload(i), "i": i} for i in range(200)], chunk_size=30)
    return str(tmp_path / "blobs")


@pytest.mark.parametrize("num_workers", [1, 2])
def test_lists_of_bytes_arrive_exact_as_bytes_every_epoch(blobs, num_workers):
    loader = StreamingDataLoader(StreamingDataset(blobs, shuffle=True), batch_size=16, num_workers=num_workers)
    held = []
    for epoch in range(2):
        seen = []
        for batch in loader:
            assert type(batch["data"]) is list and all(type(b) is bytes for b in batch["data"])
            for i, data in zip(batch["i"].tolist(), batch["data"]):
                assert data == payload(i)
                seen.append(i)
            held.append(batch)  # later batches reuse the slots: held ones must not change
        assert sorted(seen) == list(range(200)), f"epoch {epoch}"
    for batch in held:
        assert [payload(i) for i in batch["i"].tolist()] == batch["data"]


def test_a_packed_list_frees_its_slot_on_restore_and_small_lists_stay_in_the_pipe():
    arena = BatchArena(1, slots=1)
    arena.attach_worker(0)
    values = [b"", b"x" * PACKED_BYTES_MIN, b"abc"]
    sent = pipe_small_tensors({"data": values, "small": [b"a", b"b"], "mixed": [b"a" * PACKED_BYTES_MIN, "s"]}, arena)
    assert isinstance(sent["data"], PackedBytesHandle)
    assert sent["small"] == [b"a", b"b"] and sent["mixed"] == [b"a" * PACKED_BYTES_MIN, "s"]
    assert arena.pack_bytes([b"y"]) is None  # the only slot is in use until the batch is restored
    restored = restore_tensors(pickle.loads(pickle.dumps(sent)), arena)
    assert restored["data"] == values and all(type(v) is bytes for v in restored["data"])
    again = arena.pack_bytes([b"z" * 10])  # freed: the same slot serves the next batch
    assert again is not None and again.slot == 0 and again.fd is None  # its memory was sent once
    assert arena.unpack_bytes(again) == [b"z" * 10]
