"""map(): files fn writes reach the output, local or cloud."""

from __future__ import annotations

import os

import pytest

from litdata_storage import open_store
from litdata_writer import map

from . import fns


def _expected(n):
    return {f"part-{i % 3}/{i}.txt": f"value {i}\n".encode() for i in range(n)}


def test_map_to_a_local_folder(tmp_path):
    out = tmp_path / "out"
    map(fns.write_text_file, list(range(20)), str(out), num_workers=2, verbose=False)
    store = open_store(str(out))
    assert {k: store.get(k) for k in store.list()} == _expected(20)


def test_map_to_the_cloud(cloud_target):
    url = cloud_target.url + "/resized"
    map(
        fns.write_text_file,
        list(range(20)),
        url,
        num_workers=2,
        storage_options=cloud_target.storage_options,
        verbose=False,
    )
    store = cloud_target.open("resized")
    assert {k: store.get(k) for k in store.list()} == _expected(20)


def test_map_with_batches_and_fast_dev_run(tmp_path):
    out = tmp_path / "out"
    map(_write_batch, list(range(20)), str(out), num_workers=2, batch_size=4, fast_dev_run=10, verbose=False)
    assert sorted(os.listdir(out)) == ["0-3.txt", "4-7.txt", "8-9.txt"]


def _write_batch(batch, output_dir):
    with open(os.path.join(output_dir, f"{batch[0]}-{batch[-1]}.txt"), "w") as f:
        f.write(",".join(map_str(batch)))


def map_str(values):
    return [str(v) for v in values]


def test_error_when_not_empty(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "existing.txt").write_text("x")
    with pytest.raises(FileExistsError, match="is not empty"):
        map(fns.write_text_file, [1], str(out), error_when_not_empty=True, verbose=False)
    map(fns.write_text_file, [1], str(out), num_workers=1, verbose=False)  # the default allows it
    assert (out / "part-1" / "1.txt").read_text() == "value 1\n"


@pytest.mark.s3
def test_error_when_not_empty_on_s3(s3_target):
    store = s3_target.open()
    store.put("old/file.txt", b"x")
    with pytest.raises(FileExistsError, match="is not empty"):
        map(
            fns.write_text_file,
            [1],
            s3_target.url,
            storage_options=s3_target.storage_options,
            error_when_not_empty=True,
            verbose=False,
        )


def _record_is_last(item, output_dir, is_last):
    with open(f"{output_dir}/{item}_{is_last}.txt", "w") as f:
        f.write("x")


@pytest.mark.parametrize(
    ("workers", "expected"),
    [(1, ["0_False", "1_False", "2_False", "3_False", "4_True"]),
     (2, ["0_False", "1_True", "2_False", "3_False", "4_True"])],  # LitData's split: [0, 1], [2, 3, 4]
)
def test_is_last_marks_the_last_input_of_each_worker(tmp_path, workers, expected):
    map(_record_is_last, list(range(5)), str(tmp_path), num_workers=workers, verbose=False)
    assert sorted(p.stem for p in tmp_path.iterdir()) == expected
