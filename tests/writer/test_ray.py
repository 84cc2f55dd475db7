"""optimize() and map() with executor="ray" on a real multi-node Ray cluster on this machine.

The cluster (``ray.cluster_utils.Cluster``): a head with no CPUs, where the driver and
the progress actor live, and two worker nodes of one CPU each, so every writer rank runs
on a worker node and two ranks can only run on two different nodes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from litdata_storage import open_store  # noqa: E402
from litdata_writer import WorkerError, map, optimize  # noqa: E402

from .helpers import index_of, keys, read_back  # noqa: E402

pytestmark = pytest.mark.slow

# The tasks run in other processes that cannot import this test module: ship its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind 127.0.0.1
        patch.setenv("LITDATA_PROGRESS_INTERVAL", "3600")  # one final progress line
        head = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        try:
            for _ in range(2):
                head.add_node(num_cpus=1)
            head.wait_for_nodes()
            # tests/conftest.py set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before Ray was imported
            assert head.address.startswith("127.0.0.1:"), f"the test cluster is not on loopback: {head.address}"
            ray.init(address=head.address, log_to_driver=False)
            assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
            yield head
        finally:
            ray.shutdown()
            head.shutdown()


def worker_nodes() -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0}


def node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def tagged(i: int) -> dict[str, Any]:
    return {"i": i, "node": node_id()}


def write_tagged(i: int, output_dir: str) -> None:
    with open(os.path.join(output_dir, f"{i:03d}.txt"), "w") as f:
        f.write(f"{i}:{node_id()}")


def test_optimize_to_a_local_folder_runs_on_both_nodes(cluster, tmp_path, capsys):
    out = str(tmp_path / "ds")
    index = optimize(tagged, list(range(40)), out, num_nodes=2, num_workers=1, chunk_size=5, executor="ray")
    items = read_back(out)
    assert [x["i"] for x in items] == list(range(40))  # the static plan keeps input order
    assert {x["node"] for x in items} == worker_nodes()
    assert index is not None and len(index.chunks) == 8
    assert keys(out) == sorted(["index.json"] + [c.filename for c in index.chunks])
    assert "optimize (ray: 2 x 1): 40/40 inputs (100%)" in capsys.readouterr().err


@pytest.mark.s3
def test_optimize_and_map_to_s3(cluster, s3_server):
    url, options = s3_server.new_location(), s3_server.storage_options()
    optimize(
        tagged, list(range(30)), url + "/ds", num_nodes=2, num_workers=1, chunk_size=4,
        storage_options=options, executor="ray", verbose=False,
    )
    items = read_back(url + "/ds", options)
    assert [x["i"] for x in items] == list(range(30))
    assert {x["node"] for x in items} == worker_nodes()
    assert not [k for k in keys(url + "/ds", options) if k.startswith(".") or k.endswith(".index.json") and "/" in k]

    map(write_tagged, list(range(12)), url + "/files", num_nodes=2, num_workers=1,
        storage_options=options, executor="ray", verbose=False)
    store = open_store(url + "/files", **options)
    got = {k: store.get(k).decode() for k in store.list()}
    assert sorted(got) == [f"{i:03d}.txt" for i in range(12)]
    assert {v.split(":")[1] for v in got.values()} == worker_nodes()


def test_map_to_a_local_folder(cluster, tmp_path):
    out = tmp_path / "files"
    map(write_tagged, list(range(10)), str(out), num_nodes=2, num_workers=1, executor="ray", verbose=False)
    got = {name: (out / name).read_text() for name in os.listdir(out)}
    assert sorted(got) == [f"{i:03d}.txt" for i in range(10)]
    assert [int(v.split(":")[0]) for _, v in sorted(got.items())] == list(range(10))
    assert {v.split(":")[1] for v in got.values()} == worker_nodes()


def fails_on_seven(i: int) -> int:
    if i == 7:
        raise ValueError("seven is not welcome")
    return i


def test_an_error_in_fn_names_the_input_and_publishes_nothing(cluster, tmp_path):
    out = str(tmp_path / "ds")
    with pytest.raises(WorkerError, match=r"optimize failed on inputs\[7\] = 7 in worker rank 0\. We found the following error: ValueError: seven") as info:
        optimize(fails_on_seven, list(range(20)), out, num_nodes=2, num_workers=1, executor="ray", verbose=False)
    assert info.value.input_index == 7
    assert "fails_on_seven" in info.value.worker_traceback
    assert isinstance(info.value.__cause__, ValueError)
    assert not os.path.exists(os.path.join(out, "index.json"))


def test_ray_needs_a_static_plan(cluster, tmp_path):
    with pytest.raises(ValueError, match="keep_data_ordered=False, queue= and data-loader inputs need executor='local'"):
        optimize(tagged, list(range(4)), str(tmp_path / "ds"), keep_data_ordered=False, executor="ray")


def test_unknown_executor_and_missing_ray():
    with pytest.raises(ValueError, match="executor must be one of"):
        optimize(tagged, [1], "unused", executor="dask")
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import litdata\n"
        "from litdata import optimize, map\n"
        "assert 'ray' not in [m for m in sys.modules if sys.modules[m] is not None and m.split('.')[0] == 'ray']\n"
        "try:\n"
        "    optimize(abs, [1], 'unused', executor='ray')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "executor='ray' needs Ray: pip install 'litdata-writer[ray]' (or 'litdata[ray]')"


def dies_once_on_thirteen(item: tuple[int, str]) -> int:
    i, flag = item
    time.sleep(0.05)
    if i == 13 and not os.path.exists(flag):
        open(flag, "w").close()  # noqa: SIM115 - an empty marker
        os._exit(1)  # the worker process dies: Ray retries the task
    return i


def test_a_task_whose_worker_dies_is_retried_and_resumes(cluster, tmp_path, capsys):
    out = str(tmp_path / "ds")
    flag = str(tmp_path / "died")
    index = optimize(
        dies_once_on_thirteen, [(i, flag) for i in range(40)], out, num_nodes=2, num_workers=1, chunk_size=2,
        executor="ray",
    )
    assert os.path.exists(flag)
    assert read_back(out) == list(range(40))
    assert sorted(c.filename for c in index.chunks) == sorted(f"chunk-{r}-{n}.bin" for r in (0, 1) for n in range(10))
    assert "optimize (ray: 2 x 1): 40/40 inputs (100%)" in capsys.readouterr().err


def slow_tagged(item: tuple[int, str]) -> dict[str, Any]:
    i, marks = item
    time.sleep(0.1)
    open(os.path.join(marks, f"{i}-{os.getpid()}"), "w").close()  # noqa: SIM115 - an empty marker
    return {"i": i, "node": node_id()}


def test_a_node_removed_mid_run_is_retried_and_every_item_lands_once(cluster, tmp_path, capsys):
    """Runs last: it replaces one of the module's worker nodes."""
    marks = tmp_path / "marks"
    marks.mkdir()
    out = str(tmp_path / "ds")
    before = worker_nodes()
    victim = sorted(cluster.worker_nodes, key=lambda n: n.unique_id)[-1]
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["index"] = optimize(
                slow_tagged, [(i, str(marks)) for i in range(40)], out, num_nodes=2, num_workers=1, chunk_size=2,
                executor="ray",
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            result["error"] = exc

    runner = threading.Thread(target=run)  # Ray's Cluster must be changed from the main thread
    runner.start()
    deadline = time.monotonic() + 30
    while len(os.listdir(marks)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.remove_node(victim, allow_graceful=False)
    cluster.add_node(num_cpus=1)  # room for the lost node's bundle
    runner.join(60)
    assert not runner.is_alive()
    if "error" in result:
        raise result["error"]
    index = result["index"]
    items = read_back(out)
    assert [x["i"] for x in items] == list(range(40))
    assert len({c.filename for c in index_of(out).chunks}) == len(index.chunks) == 20
    assert worker_nodes() != before  # one node really went away
    # The lost node's rank ran again in a third process (resuming from its checkpoint).
    assert len({name.split("-")[1] for name in os.listdir(marks)}) >= 3
    assert "optimize (ray: 2 x 1): 40/40 inputs (100%)" in capsys.readouterr().err
