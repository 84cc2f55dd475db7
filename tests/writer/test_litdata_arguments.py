"""LitData 0.2.76's optimize()/map() arguments: accepted, and doing what LitData does.

Expected values (chunk layouts, error messages, the empty index) were observed by running
LitData 0.2.76 itself on the same calls.
"""

from __future__ import annotations

import inspect
import json
import multiprocessing
import os
import time
import warnings

import pytest

from litdata_format import read_dataset
from litdata_writer import WorkerError, map, optimize, platform_args

from .helpers import read_back


def ident(x):
    return x


def nothing(_x):
    return None


def slow_first(x):
    if x == 0:
        time.sleep(1.0)
    return x


def rank_of_item(x):
    return {"x": x, "pid": os.getpid()}


def read_text(path):
    with open(path) as f:
        return {"text": f.read(), "local": os.path.isfile(path)}


def _chunks(folder):
    with open(os.path.join(folder, "index.json")) as f:
        return [(c["filename"], c["chunk_size"]) for c in json.load(f)["chunks"]]


# -- signature -----------------------------------------------------------------------------


def test_first_parameters_are_litdatas_positions():
    assert list(inspect.signature(optimize).parameters)[:4] == ["fn", "inputs", "output_dir", "queue"]
    params = inspect.signature(optimize).parameters
    assert params["inputs"].default is None and params["output_dir"].default == "optimized_data"
    litdata_optimize = (
        "input_dir weights chunk_size chunk_bytes align_chunking compression compression_level "
        "compression_batch_size encryption num_workers fast_dev_run num_nodes machine num_downloaders "
        "num_uploaders reorder_files reader batch_size mode use_checkpoint item_loader start_method "
        "optimize_dns storage_options keep_data_ordered verbose broadcast_paths key_fn"
    ).split()
    assert set(litdata_optimize) <= set(params)
    litdata_map = (
        "input_dir weights num_workers fast_dev_run num_nodes machine num_downloaders num_uploaders "
        "reorder_files error_when_not_empty reader batch_size start_method optimize_dns storage_options "
        "keep_data_ordered broadcast_paths"
    ).split()
    assert set(litdata_map) <= set(inspect.signature(map).parameters)


def test_positional_call_like_litdata(tmp_path):
    out = str(tmp_path / "ds")
    index = optimize(ident, list(range(5)), out, chunk_size=2, num_workers=1, verbose=False)
    assert read_dataset(out) == [0, 1, 2, 3, 4]
    assert index is not None and index.num_items == 5  # ours returns the index (LitData: None)


# -- queue ---------------------------------------------------------------------------------


def test_queue_inputs_until_none(tmp_path):
    out = str(tmp_path / "ds")
    q = multiprocessing.Queue()
    for i in range(7):
        q.put(i)
    q.put(None)
    optimize(ident, queue=q, output_dir=out, chunk_size=3, num_workers=2, verbose=False)
    assert sorted(read_dataset(out)) == list(range(7))


def test_queue_filled_while_running(tmp_path):
    out = str(tmp_path / "ds")
    q = multiprocessing.Queue()

    def producer():
        for i in range(30):
            q.put(i)
            time.sleep(0.005)
        q.put(None)

    import threading

    thread = threading.Thread(target=producer)
    thread.start()
    optimize(ident, output_dir=out, queue=q, chunk_size=4, num_workers=2, verbose=False)
    thread.join()
    assert sorted(read_dataset(out)) == list(range(30))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": [1], "queue": "Q"}, "You can either provide `inputs` or `queue`, not both."),
        ({}, "At least one of `inputs` or `queue` must be provided."),
        ({"queue": [1, None]}, "The provided `queue` should be a multiprocessing queue. Found <class 'list'>."),
        ({"inputs": []}, "The provided inputs should be non empty. Found []"),
        ({"inputs": [1, 2], "align_chunking": True}, "When `align_chunking` is set to True, `chunk_size` needs"),
        (
            {"inputs": [1, 2], "chunk_size": 1, "align_chunking": True, "keep_data_ordered": False},
            "align_chunking requires keep_data_ordered=True.",
        ),
        (
            {"inputs": [1, 2], "use_checkpoint": True, "keep_data_ordered": False},
            "Checkpoint feature is not supported for Queue based data processing, yet.",
        ),
        ({"inputs": [1, 2], "weights": [1]}, "The provided weights length should match the inputs' length."),
        ({"inputs": [1, 2], "use_checkpoint": True, "resume": False}, "use_checkpoint=True asks to resume"),
    ],
)
def test_litdatas_value_errors(tmp_path, kwargs, message):
    if kwargs.get("queue") == "Q":
        kwargs["queue"] = multiprocessing.Queue()
    out = tmp_path / "ds"
    with pytest.raises(ValueError) as info:
        optimize(ident, output_dir=str(out), num_workers=1, verbose=False, **kwargs)
    assert message in str(info.value)
    assert not out.exists() or os.listdir(out) == []


def test_queue_with_checkpoint_is_refused(tmp_path):
    q = multiprocessing.Queue()
    q.put(None)
    with pytest.raises(ValueError, match="Checkpoint feature is not supported for Queue"):
        optimize(ident, queue=q, output_dir=str(tmp_path / "ds"), use_checkpoint=True, verbose=False)


# -- keep_data_ordered ---------------------------------------------------------------------


def test_ordered_by_default_and_with_true(tmp_path):
    for flag in (None, True):
        out = str(tmp_path / f"ds-{flag}")
        optimize(ident, list(range(20)), out, chunk_size=3, num_workers=2, keep_data_ordered=flag, verbose=False)
        assert read_dataset(out) == list(range(20))
        assert [name for name, _ in _chunks(out)][:4] == [
            "chunk-0-0.bin",
            "chunk-0-1.bin",
            "chunk-0-2.bin",
            "chunk-0-3.bin",
        ]


def test_work_queue_balances_slow_inputs(tmp_path):
    """keep_data_ordered=False: the worker stuck on the slow input does not keep a half share."""
    out = str(tmp_path / "ds")
    optimize(slow_first, list(range(40)), out, chunk_size=1, num_workers=2, keep_data_ordered=False, verbose=False)
    assert sorted(read_dataset(out)) == list(range(40))
    per_rank = {}
    for name, _size in _chunks(out):
        rank = int(name.split("-")[1])
        per_rank[rank] = per_rank.get(rank, 0) + 1
    assert sum(per_rank.values()) == 40
    assert min(per_rank.values()) <= 5  # a static split gives each worker 20


def test_work_queue_with_batches(tmp_path):
    out = str(tmp_path / "ds")
    optimize(sum, list(range(10)), out, batch_size=3, num_workers=2, keep_data_ordered=False, verbose=False)
    assert sorted(read_dataset(out)) == sorted([0 + 1 + 2, 3 + 4 + 5, 6 + 7 + 8, 9])


# -- align_chunking and weights ------------------------------------------------------------


def test_align_chunking_matches_litdatas_layout(tmp_path):
    out = str(tmp_path / "ds")
    optimize(ident, list(range(20)), out, chunk_size=3, num_workers=3, align_chunking=True, verbose=False)
    assert read_dataset(out) == list(range(20))
    assert _chunks(out) == [
        ("chunk-0-0.bin", 3),
        ("chunk-0-1.bin", 3),
        ("chunk-1-0.bin", 3),
        ("chunk-1-1.bin", 3),
        ("chunk-2-0.bin", 3),
        ("chunk-2-1.bin", 3),
        ("chunk-2-2.bin", 2),
    ]


def test_align_chunking_warns_when_all_inputs_go_to_the_last_worker(tmp_path):
    out = str(tmp_path / "ds")
    with pytest.warns(UserWarning, match="too large"):
        optimize(ident, list(range(5)), out, chunk_size=4, num_workers=2, align_chunking=True, verbose=False)
    assert _chunks(out) == [("chunk-1-0.bin", 4), ("chunk-1-1.bin", 1)]


def test_weights_balance_optimize_workers(tmp_path):
    out = str(tmp_path / "ds")
    optimize(ident, list(range(6)), out, weights=[1, 1, 1, 1, 1, 10], chunk_size=10, num_workers=2, verbose=False)
    # heaviest first onto the least-loaded worker (as LitData's map): rank 0 gets input 5 alone
    assert _chunks(out) == [("chunk-0-0.bin", 1), ("chunk-1-0.bin", 5)]
    assert read_dataset(out) == [5, 0, 1, 2, 3, 4]


# -- use_checkpoint ------------------------------------------------------------------------


def test_use_checkpoint_runs_and_leaves_no_checkpoints(tmp_path):
    out = tmp_path / "ds"
    optimize(ident, list(range(8)), str(out), chunk_size=2, num_workers=2, use_checkpoint=True, verbose=False)
    assert read_dataset(str(out)) == list(range(8))
    assert not (out / ".checkpoints").exists() or os.listdir(out / ".checkpoints") == []


# -- platform-only arguments ---------------------------------------------------------------


def test_platform_arguments_are_accepted_and_warn_once(tmp_path, monkeypatch):
    monkeypatch.setattr(platform_args, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for run in range(2):
            optimize(
                ident,
                [1, 2],
                str(tmp_path / f"ds{run}"),
                num_workers=1,
                machine="A10G",
                optimize_dns=True,
                broadcast_paths=True,
                num_uploaders=3,
                num_downloaders=2,
                verbose=False,
            )
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    for name in ("machine=", "optimize_dns=", "broadcast_paths=", "num_uploaders=", "num_downloaders="):
        assert sum(m.startswith(name) for m in messages) == 1, (name, messages)
    assert read_dataset(str(tmp_path / "ds1")) == [1, 2]


# -- reader --------------------------------------------------------------------------------


class RangeReader:
    """LitData's reader protocol, without importing LitData: inputs are (start, stop) ranges."""

    def remap_items(self, items, num_workers):
        return [(start, min(start + 2, stop)) for start, stop in items for start in range(start, stop, 2)]

    def read(self, item):
        return list(range(*item))


def test_reader_remaps_then_reads(tmp_path):
    out = str(tmp_path / "ds")
    optimize(sum, [(0, 5), (10, 13)], out, reader=RangeReader(), num_workers=2, verbose=False)
    assert read_dataset(out) == [0 + 1, 2 + 3, 4, 10 + 11, 12]


def test_reader_errors(tmp_path):
    with pytest.raises(ValueError, match="Either the reader or the weights needs to be defined."):
        optimize(sum, [(0, 2)], str(tmp_path / "a"), reader=RangeReader(), weights=[1], verbose=False)
    with pytest.raises(TypeError, match="BaseReader protocol"):
        optimize(sum, [(0, 2)], str(tmp_path / "b"), reader=object(), verbose=False)


# -- data loaders --------------------------------------------------------------------------


def batch_text(batch):
    return str(batch.tolist())


class Squares:
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return i * i


def test_torch_loader_batches_are_inputs(tmp_path):
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(Squares(), batch_size=4)
    out = str(tmp_path / "ds")
    optimize(batch_text, loader, out, num_workers=2, verbose=False)
    assert sorted(read_dataset(out)) == ["[0, 1, 4, 9]", "[16, 25, 36, 49]", "[64, 81]"]


def test_streaming_loader_reoptimized(tmp_path):
    pytest.importorskip("torch")
    from litdata_stream import StreamingDataLoader, StreamingDataset

    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    optimize(ident, list(range(10)), src, chunk_size=3, num_workers=1, verbose=False)
    loader = StreamingDataLoader(StreamingDataset(src), batch_size=4)
    optimize(batch_text, loader, out, num_workers=2, verbose=False)
    assert sorted(read_dataset(out)) == ["[0, 1, 2, 3]", "[4, 5, 6, 7]", "[8, 9]"]
    with pytest.raises(ValueError, match="pass the batch_size to the dataloader directly"):
        optimize(ident, loader, str(tmp_path / "x"), batch_size=2, verbose=False)
    with pytest.raises(ValueError, match="weights isn't supported"):
        optimize(ident, loader, str(tmp_path / "y"), weights=[1], verbose=False)


# -- nothing stored ------------------------------------------------------------------------


def test_fn_returning_none_everywhere_writes_litdatas_empty_index(tmp_path):
    out = tmp_path / "ds"
    index = optimize(nothing, list(range(5)), str(out), chunk_size=2, num_workers=2, verbose=False)
    assert os.listdir(out) == ["index.json"]
    data = json.loads((out / "index.json").read_text())
    assert data["chunks"] == [] and data["config"] is None
    assert set(data) == {"chunks", "config", "updated_at"}
    assert float(data["updated_at"]) > 0
    assert index is not None and index.chunks == []


# -- defaults that differ on purpose -------------------------------------------------------


def test_no_chunk_size_nor_bytes_defaults_to_64mb(tmp_path):
    out = tmp_path / "ds"
    optimize(ident, [1, 2], str(out), num_workers=1, verbose=False)  # LitData: ValueError
    assert json.loads((out / "index.json").read_text())["config"]["chunk_bytes"] == 64_000_000


# -- map -----------------------------------------------------------------------------------


def record_is_last(x, output_dir, is_last):
    with open(os.path.join(output_dir, f"{x}.txt"), "w") as f:
        f.write(str(is_last))


def record_device(x, output_dir, device):
    with open(os.path.join(output_dir, f"{x}.txt"), "w") as f:
        f.write(repr(device))


def record_pid(x, output_dir):
    with open(os.path.join(output_dir, f"{x}.txt"), "w") as f:
        f.write(str(os.getpid()))


class CallableWithIsLast:
    def __call__(self, x, output_dir, is_last=False):
        record_is_last(x, output_dir, is_last)


def _contents(folder):
    return {name: (folder / name).read_text() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("fn", [record_is_last, CallableWithIsLast()])
def test_map_is_last_per_worker_slice(tmp_path, fn):
    out = tmp_path / "out"
    map(fn, list(range(6)), str(out), num_workers=2, keep_data_ordered=True, verbose=False)
    assert _contents(out) == {f"{i}.txt": str(i in (2, 5)) for i in range(6)}


def test_map_is_last_false_with_work_queue(tmp_path):
    out = tmp_path / "out"
    map(record_is_last, list(range(6)), str(out), num_workers=2, keep_data_ordered=False, verbose=False)
    assert _contents(out) == {f"{i}.txt": "False" for i in range(6)}


def test_map_device_parameter(tmp_path):
    out = tmp_path / "out"
    map(record_device, [0, 1], str(out), num_workers=1, verbose=False)
    torch = pytest.importorskip("torch")
    expected = repr("cuda:0") if torch.cuda.is_available() else "None"
    assert _contents(out) == {"0.txt": expected, "1.txt": expected}


def test_map_weights(tmp_path):
    out = tmp_path / "out"
    map(record_pid, list(range(6)), str(out), num_workers=2, weights=[1, 1, 1, 1, 1, 10], verbose=False)
    pids = _contents(out)
    assert len({pids[f"{i}.txt"] for i in range(5)}) == 1 and pids["5.txt"] != pids["0.txt"]


def test_map_reader_and_loader(tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "out"
    map(_write_sum, [(0, 5)], str(out), reader=RangeReader(), num_workers=2, verbose=False)
    assert _contents(out) == {"0.txt": "1", "2.txt": "5", "4.txt": "4"}
    out2 = tmp_path / "out2"
    map(_write_batch, torch.utils.data.DataLoader(Squares(), batch_size=5), str(out2), num_workers=2, verbose=False)
    assert _contents(out2) == {"0.txt": "0,1,4,9,16", "25.txt": "25,36,49,64,81"}


def _write_sum(values, output_dir):
    with open(os.path.join(output_dir, f"{values[0]}.txt"), "w") as f:
        f.write(str(sum(values)))


def _write_batch(batch, output_dir):
    values = batch.tolist()
    with open(os.path.join(output_dir, f"{values[0]}.txt"), "w") as f:
        f.write(",".join(str(v) for v in values))


def test_map_machine_no_longer_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(platform_args, "_warned", set())
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="machine="):
        map(record_pid, [0], str(out), machine="A10G", num_workers=1, verbose=False)
    assert os.listdir(out) == ["0.txt"]


# -- input_dir -----------------------------------------------------------------------------


def test_local_input_dir_passes_paths_through(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    paths = []
    for i in range(3):
        (files / f"{i}.txt").write_text(str(i))
        paths.append(str(files / f"{i}.txt"))
    out = str(tmp_path / "ds")
    optimize(read_text, paths, out, input_dir=str(files), num_workers=2, verbose=False)
    items = sorted(read_dataset(out), key=lambda item: item["text"])  # balanced by file size: any order
    assert items == [{"text": str(i), "local": True} for i in range(3)]


def path_and_text(path):
    with open(path) as f:
        return {"text": f.read(), "is_local_file": os.path.isfile(path), "remote": "://" in path}


@pytest.mark.s3
def test_remote_input_dir_files_are_downloaded_for_fn(s3_server, tmp_path):
    from litdata_storage import open_store

    location = s3_server.new_location()
    options = s3_server.storage_options()
    store = open_store(location + "/inputs", **options)
    for i in range(6):
        store.put(f"sub/{i}.txt", f"file {i}".encode())
    urls = [f"{location}/inputs/sub/{i}.txt" for i in range(6)]
    out = location + "/ds"  # storage_options serve the inputs and the output, as in LitData
    optimize(
        path_and_text,
        urls,
        out,
        input_dir=location + "/inputs",
        num_downloaders=2,
        storage_options=options,
        num_workers=2,
        verbose=False,
    )
    items = read_back(out, options)
    assert items == [{"text": f"file {i}", "is_local_file": True, "remote": False} for i in range(6)]
    with pytest.raises(WorkerError, match=r"could not download the files of inputs\[1\] from input_dir"):
        optimize(
            path_and_text,
            [urls[0], f"{location}/inputs/sub/missing.txt"],
            location + "/ds2",
            input_dir=location + "/inputs",
            storage_options=options,
            num_workers=1,
            verbose=False,
        )


# -- several nodes with the work queue -----------------------------------------------------

NODE_SCRIPT = """
import sys
from litdata_writer import optimize

def ident(x):
    return x

if __name__ == "__main__":
    optimize(ident, list(range(50)), sys.argv[1], num_workers=2, chunk_size=4, keep_data_ordered=False, verbose=False)
"""


def test_two_nodes_with_work_queue(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT)
    out = str(tmp_path / "ds")
    procs = []
    for rank in range(2):
        env = {k: v for k, v in os.environ.items() if "NODE" not in k}
        env.update(NUM_NODES="2", NODE_RANK=str(rank))
        procs.append(subprocess.Popen([sys.executable, str(script), out], env=env))
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert sorted(read_dataset(out)) == list(range(50))
    ranks = {int(name.split("-")[1]) for name, _ in _chunks(out)}
    assert ranks <= {0, 1, 2, 3} and {0, 1} & ranks and {2, 3} & ranks  # both nodes wrote


def show(x):
    return repr(x)


def test_batch_size_one_means_no_batching(tmp_path):
    out = str(tmp_path / "ds")
    optimize(show, [1, 2, 3], out, batch_size=1, num_workers=1, verbose=False)
    assert read_dataset(out) == ["1", "2", "3"]  # as LitData; batch_size=2 gives lists
    out2 = str(tmp_path / "ds2")
    optimize(show, [1, 2, 3], out2, batch_size=2, num_workers=1, verbose=False)
    assert read_dataset(out2) == ["[1, 2]", "[3]"]


class BrokenLoader:
    """Loader-shaped (a dataset, iterable): fails after two batches."""

    dataset = None

    def __len__(self):
        return 5

    def __iter__(self):
        yield 0
        yield 1
        raise OSError("disk gone")


def fail_on_3(x):
    if x == 3:
        raise ValueError("bad 3")
    return x


def test_failures_in_the_work_queue_stop_the_run(tmp_path):
    from litdata_writer.work_queue import InputFeedError

    with pytest.raises(InputFeedError, match="reading the inputs failed: OSError: disk gone"):
        optimize(ident, BrokenLoader(), str(tmp_path / "a"), num_workers=2, verbose=False)
    with pytest.raises(WorkerError, match=r"inputs\[3\] = 3 .*ValueError: bad 3"):
        optimize(fail_on_3, list(range(8)), str(tmp_path / "b"), num_workers=2, keep_data_ordered=False, verbose=False)
    assert not (tmp_path / "a" / "index.json").exists() and not (tmp_path / "b" / "index.json").exists()


def test_work_queue_and_caller_queue_with_spawn(tmp_path):
    out = str(tmp_path / "ds")
    optimize(ident, list(range(12)), out, num_workers=2, keep_data_ordered=False, start_method="spawn", verbose=False)
    assert sorted(read_dataset(out)) == list(range(12))
    q = multiprocessing.Queue()
    for i in range(5):
        q.put(i)
    q.put(None)
    out2 = str(tmp_path / "ds2")
    optimize(ident, queue=q, output_dir=out2, num_workers=2, start_method="spawn", verbose=False)
    assert sorted(read_dataset(out2)) == list(range(5))
