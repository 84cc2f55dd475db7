"""Errors catchable by code written for LitData 0.2.76.

LitData raises ``RuntimeError`` for an existing dataset written again without ``mode``
and ``ValueError`` for an item index outside the dataset; we raise the more telling
``FileExistsError`` / ``IndexError``. Each of ours subclasses both, so ``except`` clauses
written for either library still catch it, and the message stays ours.
"""

from __future__ import annotations

import pytest

from litdata import StreamingDataset, map, optimize
from litdata_format import DatasetExistsError, ItemIndexError, write_dataset
from litdata_format.reader import DatasetReader


def _identity(x):
    return x


def _touch(item, output_dir):
    with open(f"{output_dir}/{item}.txt", "w") as f:
        f.write(str(item))


@pytest.fixture
def ten(tmp_path):
    out = tmp_path / "ten"
    optimize(_identity, list(range(10)), str(out), chunk_size=4, num_workers=1, verbose=False)
    return out


@pytest.mark.parametrize("kind", [RuntimeError, FileExistsError, DatasetExistsError])
def test_optimize_into_an_existing_dataset(ten, kind):
    with pytest.raises(kind, match=r"already holds an optimized dataset.*mode='append'"):
        optimize(_identity, list(range(3)), str(ten), chunk_size=4, num_workers=1, verbose=False)
    assert [StreamingDataset(str(ten))[i] for i in range(10)] == list(range(10))


@pytest.mark.parametrize("kind", [RuntimeError, FileExistsError])
def test_map_into_a_folder_that_is_not_empty(tmp_path, kind):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(kind, match="is not empty"):
        map(_touch, [1], str(tmp_path), error_when_not_empty=True, num_workers=1, verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


@pytest.mark.parametrize("kind", [ValueError, IndexError, ItemIndexError])
@pytest.mark.parametrize("index", [10, 11, -11])
def test_stream_index_out_of_range(ten, kind, index):
    ds = StreamingDataset(str(ten))
    with pytest.raises(kind, match="is out of range for a dataset of 10 items"):
        ds[index]
    assert ds[-1] == 9


@pytest.mark.parametrize("kind", [ValueError, IndexError])
def test_format_reader_index_out_of_range(tmp_path, kind):
    write_dataset(str(tmp_path / "five"), range(5), chunk_size=2)
    reader = DatasetReader(str(tmp_path / "five"))
    with pytest.raises(kind, match="out of range for a dataset of 5 items"):
        reader.locate(5)


def test_format_writer_refuses_an_existing_dataset(tmp_path):
    write_dataset(str(tmp_path / "d"), range(3), chunk_size=2)
    with pytest.raises(RuntimeError, match="already holds a dataset"):
        write_dataset(str(tmp_path / "d"), range(3), chunk_size=2)
