"""Failures: an exception in fn, a dead worker, Ctrl-C. Everything stops, nothing is published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litdata_writer import WorkerError, map, optimize

from . import fns

REPO = Path(__file__).resolve().parents[2]


def test_exception_in_fn_names_the_input_and_shows_the_traceback(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(WorkerError) as info:
        optimize(fns.failing, list(range(100)), str(out), num_workers=2, chunk_size=5, verbose=False)
    message = str(info.value)
    assert "optimize failed on inputs[37] = 37 in worker rank 0" in message
    assert "ValueError: boom on 37" in message
    assert "Traceback in the worker" in message and "in failing" in message
    assert info.value.input_index == 37
    assert isinstance(info.value.__cause__, ValueError)
    assert not (out / "index.json").exists()


def test_a_failure_stops_the_other_workers_promptly(tmp_path):
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"failed on inputs\[3\] = 3 .*RuntimeError: input three is bad"):
        optimize(fns.slow_everywhere_but, list(range(40)), str(tmp_path / "ds"), num_workers=2, verbose=False)
    # rank 1 alone would need 20 x 0.5 s; it must have been stopped long before
    assert time.monotonic() - start < 5
    assert not (tmp_path / "ds" / "index.json").exists()


def test_an_unserializable_item_names_its_input(tmp_path):
    with pytest.raises(WorkerError, match=r"failed on inputs\[2\] = 'x' .*SerializationError"):
        optimize(_int_then_str, [0, 1, "x"], str(tmp_path / "ds"), num_workers=1, verbose=False)


def _int_then_str(value):
    return value if isinstance(value, int) else "text"


def test_batch_failure_names_the_batch(tmp_path):
    with pytest.raises(WorkerError, match=r"failed on the batch inputs\[35:40\] = \[35, 36, 37, 38, 39\]"):
        optimize(
            _fail_on_batch_with_37,
            list(range(50)),
            str(tmp_path / "ds"),
            num_workers=2,
            batch_size=5,
            verbose=False,
        )


def _fail_on_batch_with_37(batch):
    if 37 in batch:
        raise ValueError("bad batch")
    return len(batch)


def test_a_worker_that_dies_is_reported(tmp_path):
    with pytest.raises(WorkerError, match=r"worker rank 1 was killed by signal 9 \(SIGKILL\)"):
        optimize(_die_on_7, list(range(10)), str(tmp_path / "ds"), num_workers=2, verbose=False)
    assert not (tmp_path / "ds" / "index.json").exists()


def _die_on_7(i):
    if i == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return i


def test_map_failure_names_the_input(tmp_path):
    with pytest.raises(WorkerError, match=r"map failed on inputs\[5\] = 5 .*KeyError"):
        map(fns.map_failing, list(range(10)), str(tmp_path / "out"), num_workers=2, verbose=False)


CTRL_C_SCRIPT = """
import os, sys, time
sys.path.insert(0, {tests!r})
from litdata_writer import optimize

def slow(i):
    open(os.path.join({pids!r}, str(os.getpid())), "w").close()
    time.sleep(0.2)
    return i

if __name__ == "__main__":
    optimize(slow, list(range(200)), {out!r}, num_workers=2, chunk_size=2, verbose=True)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_ctrl_c_stops_everything_and_leaves_no_orphans(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "run.py"
    script.write_text(
        CTRL_C_SCRIPT.format(tests=str(REPO / "tests"), pids=str(pids), out=str(tmp_path / "ds"))
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while len(os.listdir(pids)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(p) for p in os.listdir(pids)]
    assert len(workers) == 2, "the workers did not start"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)]
    assert not (tmp_path / "ds" / "index.json").exists()
