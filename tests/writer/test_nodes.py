"""Several nodes: each converts its share, node 0 merges once every node is done."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from litdata_format import Index, read_dataset

from litdata_writer.nodes import node_info

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
        time.sleep(delay)
        optimize(square, list(range(100)), out, num_workers=2, chunk_size=7, storage_options=options, verbose=False)
    """
)


def _run_nodes(tmp_path, out, options, env_names=("NUM_NODES", "NODE_RANK"), delays=(0.0, 1.5)):
    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT)
    procs = []
    for rank, delay in enumerate(delays):
        env = {k: v for k, v in os.environ.items() if k not in ("NUM_NODES", "NODE_RANK", "DATA_OPTIMIZER_NUM_NODES", "DATA_OPTIMIZER_NODE_RANK")}
        env[env_names[0]] = "2"
        env[env_names[1]] = str(rank)
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), out, __import__("json").dumps(options), str(delay)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


@pytest.mark.parametrize("env_names", [("NUM_NODES", "NODE_RANK"), ("DATA_OPTIMIZER_NUM_NODES", "DATA_OPTIMIZER_NODE_RANK")])
def test_two_nodes_on_a_shared_folder(tmp_path, env_names):
    out = str(tmp_path / "ds")
    _run_nodes(tmp_path, out, {}, env_names)
    assert read_dataset(out) == [(i, i**2) for i in range(100)]
    names = [c.filename for c in Index.load(out).chunks]
    # 4 writer ranks (2 nodes x 2 workers), 25 inputs each, chunks of 7
    assert [n.split("-")[1] for n in names] == ["0"] * 4 + ["1"] * 4 + ["2"] * 4 + ["3"] * 4
    assert [k for k in keys(out) if not k.startswith("chunk-")] == ["index.json"]


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
