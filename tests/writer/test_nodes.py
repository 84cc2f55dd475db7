"""Several nodes: each converts its share, node 0 merges once every node is done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from litdata_format import Index, read_dataset
from litdata_writer.node_env import node_info

from .helpers import keys, read_back

REPO = Path(__file__).resolve().parents[2]

NODE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from litdata_writer import optimize

    def square(i):
        return i, i ** 2

    if __name__ == "__main__":
        out, options, delay = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
        mode = sys.argv[4] if len(sys.argv) > 4 else None
        time.sleep(delay)
        optimize(square, list(range(100)), out, num_workers=2, chunk_size=7, storage_options=options, mode=mode, verbose=False)
    """
)


def _run_nodes(tmp_path, out, options, env_names=("NUM_NODES", "NODE_RANK"), delays=(0.0, 1.5), mode=None):
    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT)
    procs = []
    for rank, delay in enumerate(delays):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NUM_NODES", "NODE_RANK", "DATA_OPTIMIZER_NUM_NODES", "DATA_OPTIMIZER_NODE_RANK")
        }
        env[env_names[0]] = "2"
        env[env_names[1]] = str(rank)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(script),
                    out,
                    json.dumps(options),
                    str(delay),
                    *([mode] if mode else []),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


@pytest.mark.parametrize(
    "env_names", [("NUM_NODES", "NODE_RANK"), ("DATA_OPTIMIZER_NUM_NODES", "DATA_OPTIMIZER_NODE_RANK")]
)
def test_two_nodes_on_a_shared_folder(tmp_path, env_names):
    out = str(tmp_path / "ds")
    _run_nodes(tmp_path, out, {}, env_names)
    assert read_dataset(out) == [(i, i**2) for i in range(100)]
    names = [c.filename for c in Index.load(out).chunks]
    # 4 writer ranks (2 nodes x 2 workers), 25 inputs each, chunks of 7
    assert [n.split("-")[1] for n in names] == ["0"] * 4 + ["1"] * 4 + ["2"] * 4 + ["3"] * 4
    assert [k for k in keys(out) if not k.startswith("chunk-")] == ["index.json"]


def test_two_nodes_overwrite_a_dataset(tmp_path):
    from litdata_writer import optimize

    out = str(tmp_path / "ds")
    optimize(str, range(300), out, num_workers=5, chunk_size=7, verbose=False)  # 5 ranks, other types
    _run_nodes(tmp_path, out, {}, delays=(0.5, 0.0), mode="overwrite")
    assert read_dataset(out) == [(i, i**2) for i in range(100)]
    assert sorted({k.split("-")[1] for k in keys(out) if k.startswith("chunk-")}) == ["0", "1", "2", "3"]


@pytest.mark.s3
def test_two_nodes_on_s3(tmp_path, moto_server):
    url = moto_server.new_location() + "/ds"
    options = moto_server.storage_options()
    _run_nodes(tmp_path, url, options, delays=(1.0, 0.0))
    assert read_back(url, options) == [(i, i**2) for i in range(100)]
    assert [k for k in keys(url, options) if not k.startswith("chunk-")] == ["index.json"]


def test_node_info_from_the_environment(monkeypatch):
    for name in ("NUM_NODES", "NODE_RANK", "DATA_OPTIMIZER_NUM_NODES", "DATA_OPTIMIZER_NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert node_info() == node_info(1)
    assert node_info().node_rank == 0
    monkeypatch.setenv("NUM_NODES", "4")
    monkeypatch.setenv("NODE_RANK", "3")
    assert (node_info().num_nodes, node_info().node_rank) == (4, 3)
    monkeypatch.setenv("DATA_OPTIMIZER_NODE_RANK", "1")
    assert node_info().node_rank == 1  # LitData's name wins
    with pytest.raises(ValueError, match="out of range"):
        node_info(1)
    monkeypatch.delenv("NODE_RANK")
    monkeypatch.delenv("DATA_OPTIMIZER_NODE_RANK")
    with pytest.raises(ValueError, match="set NODE_RANK"):
        node_info()
    monkeypatch.setenv("NODE_RANK", "x")
    with pytest.raises(ValueError, match="not an integer"):
        node_info()


FAILING_NODE_SCRIPT = textwrap.dedent(
    """
    import sys
    from litdata_writer import optimize

    def fail_on_90(i):
        if i == 90:
            raise ValueError("bad input on node 1")
        return i

    if __name__ == "__main__":
        optimize(fail_on_90, list(range(100)), sys.argv[1], num_workers=2, verbose=False)
    """
)


def test_node_0_stops_waiting_when_another_node_fails(tmp_path):
    script = tmp_path / "node.py"
    script.write_text(FAILING_NODE_SCRIPT)
    out = str(tmp_path / "ds")
    base = {k: v for k, v in os.environ.items() if not k.endswith(("NUM_NODES", "NODE_RANK"))}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), out],
            env={**base, "NUM_NODES": "2", "NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    assert procs[1].returncode != 0 and "inputs[90] = 90" in results[1][1]
    assert procs[0].returncode != 0
    assert "NodeFailedError: node 1 failed" in results[0][1] and "bad input on node 1" in results[0][1]
    assert not os.path.exists(os.path.join(out, "index.json"))


WAITING_NODE_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from litdata_writer import optimize

    def slow_on_node_1(i):
        if i >= 50:
            time.sleep(float(os.environ.get("TEST_SLOW", "0")))
        return i

    if __name__ == "__main__":
        optimize(slow_on_node_1, list(range(100)), sys.argv[1], num_workers=2, chunk_size=7, verbose=True)
    """
)


def _node(tmp_path, out, rank, **env):
    script = tmp_path / "waiting_node.py"
    script.write_text(WAITING_NODE_SCRIPT)
    base = {k: v for k, v in os.environ.items() if not k.endswith(("NUM_NODES", "NODE_RANK"))}
    return subprocess.Popen(
        [sys.executable, str(script), out],
        env={**base, "NUM_NODES": "2", "NODE_RANK": str(rank), **{k: str(v) for k, v in env.items()}},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_node_0_alone_gives_up_naming_the_missing_node_and_a_rerun_resumes(tmp_path):
    out = str(tmp_path / "ds")
    alone = _node(tmp_path, out, 0, LITDATA_NODE_WAIT_TIMEOUT=2)
    stdout, stderr = alone.communicate(timeout=60)
    assert alone.returncode != 0
    assert "waiting for node(s) [1] of 2 to finish (ranks [2, 3]" in stdout
    assert (
        "NodeWaitTimeoutError: node 0 gave up waiting for node(s) [1] (writer ranks [2, 3]) after 2s"
        in stderr
    )
    assert "NUM_NODES=2 and NODE_RANK=0..1" in stderr
    assert not os.path.exists(os.path.join(out, "index.json"))
    assert not os.path.exists(os.path.join(out, ".litdata-writer.lock"))
    assert sorted(k for k in keys(out) if not k.startswith("chunk-")) == [
        ".checkpoints/0.json",
        ".checkpoints/1.json",
        "0.index.json",
        "1.index.json",
    ]
    procs = [_node(tmp_path, out, rank) for rank in (0, 1)]  # the rerun on both nodes
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert read_dataset(out) == list(range(100))
    assert [k for k in keys(out) if not k.startswith("chunk-")] == ["index.json"]


@pytest.mark.slow
def test_node_0_keeps_waiting_for_a_slow_node_that_is_alive(tmp_path):
    out = str(tmp_path / "ds")
    # node 1 needs about 25 x 0.2 s = 5 s per rank, more than twice the 2 s limit
    procs = [_node(tmp_path, out, rank, LITDATA_NODE_WAIT_TIMEOUT=2, TEST_SLOW=0.2) for rank in (0, 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert read_dataset(out) == list(range(100))


def test_node_1_alone_gives_up_waiting_for_node_0(tmp_path):
    out = str(tmp_path / "ds")
    alone = _node(tmp_path, out, 1, LITDATA_NODE_WAIT_TIMEOUT=1, LITDATA_OUTPUT_LOCK_TIMEOUT=1)
    _, stderr = alone.communicate(timeout=60)
    assert alone.returncode != 0
    assert "OutputLockedError: node 1 gave up after 2s waiting for node 0 to start this run" in stderr
    assert not os.path.exists(out) or keys(out) == []
