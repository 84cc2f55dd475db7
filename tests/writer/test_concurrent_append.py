"""Several optimize() calls on one output at once: the output lock serializes them.

Each writer is a real process. A writer's ``fn`` can be held at a gate (it waits for a
file to appear), so a test knows the first writer holds the lock while the second
starts: no timing assumptions, only short limits set through the environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from litdata_format import read_dataset
from litdata_writer import optimize

from .helpers import index_of, keys, read_back

WRITER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from litdata_writer import optimize

    def gated(i):
        gate = os.environ.get("TEST_GATE")
        if gate:
            open(gate + ".reached", "a").close()
            while not os.path.exists(gate):
                time.sleep(0.02)
        return i

    def publishes_a_rival_index(i):
        # A writer that ignores the lock publishes its own dataset while this run works.
        if i == 1000:
            from litdata_storage import open_store
            store = open_store(sys.argv[1], **json.loads(sys.argv[3]))
            store.put("index.json", store.get("index.json").replace(b'"chunks"', b'"rival": 1, "chunks"'))
        return i

    if __name__ == "__main__":
        out, start, options = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
        fn = publishes_a_rival_index if os.environ.get("TEST_RIVAL") else gated
        optimize(fn, list(range(start, start + 60)), out, num_workers=2, chunk_size=7, mode="append",
                 storage_options=options, verbose=True)
    """
)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("NUM_NODES", "NODE_RANK"))}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _start(tmp_path, out, start, options=None, log=None, **env):
    """A writer process; with ``log`` its stdout goes to that file, to be watched while it runs."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), out, str(start), json.dumps(options or {})],
        env=_env(**env),
        stdout=subprocess.PIPE if log is None else open(log, "w"),
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path, proc, limit=60.0):
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _wait_for_text(path, text, proc, limit=60.0):
    deadline = time.monotonic() + limit
    while text not in open(path).read():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def _finish(proc):
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _seed(out, options=None):
    optimize(int, list(range(10)), out, num_workers=1, chunk_size=7, storage_options=options, verbose=False)


def _assert_exact(out, items, options=None):
    got = read_back(out, options) if options else read_dataset(out)
    assert Counter(got) == Counter(items) and len(got) == len(items)
    names = [c.filename for c in index_of(out, options).chunks]
    assert len(names) == len(set(names))
    stored = keys(out, options)
    assert sorted(k for k in stored if k.startswith("chunk-")) == sorted(names)
    assert [k for k in stored if not k.startswith("chunk-")] == ["index.json"]


def test_two_concurrent_appends_both_land(tmp_path):
    out = str(tmp_path / "ds")
    _seed(out)
    gate = str(tmp_path / "gate")
    first = _start(tmp_path, out, 1000, TEST_GATE=gate)
    _wait_for(gate + ".reached", first)  # the first writer holds the lock and is mid-run
    log = str(tmp_path / "second.log")
    second = _start(tmp_path, out, 2000, log=log)
    _wait_for_text(log, f"is being written by pid {first.pid}", second)  # it waits for the lock
    open(gate, "w").close()
    rc1, _, err1 = _finish(first)
    rc2, _, err2 = _finish(second)
    assert rc1 == 0, err1
    assert rc2 == 0, err2
    _assert_exact(out, [*range(10), *range(1000, 1060), *range(2000, 2060)])


def test_second_append_gives_up_with_a_clear_error_and_can_rerun(tmp_path):
    out = str(tmp_path / "ds")
    _seed(out)
    gate = str(tmp_path / "gate")
    first = _start(tmp_path, out, 1000, TEST_GATE=gate)
    _wait_for(gate + ".reached", first)
    second = _start(tmp_path, out, 2000, LITDATA_OUTPUT_LOCK_TIMEOUT=1)
    rc2, _, err2 = _finish(second)
    assert rc2 != 0
    assert "OutputLockedError: gave up after 1s waiting for" in err2
    assert f"pid {first.pid} on host" in err2 and "LITDATA_OUTPUT_LOCK_TIMEOUT" in err2
    open(gate, "w").close()
    assert _finish(first)[0] == 0
    _assert_exact(out, [*range(10), *range(1000, 1060)])
    rerun = _start(tmp_path, out, 2000)
    assert _finish(rerun)[0] == 0
    _assert_exact(out, [*range(10), *range(1000, 1060), *range(2000, 2060)])


def test_a_killed_writer_leaves_no_lock_behind(tmp_path):
    out = str(tmp_path / "ds")
    _seed(out)
    gate = str(tmp_path / "gate")
    first = _start(tmp_path, out, 1000, TEST_GATE=gate)
    _wait_for(gate + ".reached", first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    time.sleep(0.5)  # its workers notice the parent is gone and stop
    second = _start(tmp_path, out, 2000, LITDATA_OUTPUT_LOCK_TIMEOUT=20)
    rc2, _, err2 = _finish(second)
    assert rc2 == 0, err2
    _assert_exact(out, [*range(10), *range(2000, 2060)])


def test_an_index_published_meanwhile_is_never_overwritten(tmp_path):
    out = str(tmp_path / "ds")
    _seed(out)
    proc = _start(tmp_path, out, 1000, TEST_RIVAL=1)
    rc, _, err = _finish(proc)
    assert rc != 0
    assert "ConcurrentWriteError" in err and "changed while this run was writing" in err
    rival = json.loads(open(os.path.join(out, "index.json")).read())
    assert rival["rival"] == 1  # the other writer's index.json stays as it was written
    assert read_dataset(out) == list(range(10))


@pytest.mark.s3
@pytest.mark.slow
def test_two_concurrent_appends_on_s3(tmp_path, moto_server):
    url = moto_server.new_location() + "/ds"
    options = moto_server.storage_options()
    _seed(url, options)
    gate = str(tmp_path / "gate")
    first = _start(tmp_path, url, 1000, options, TEST_GATE=gate)
    _wait_for(gate + ".reached", first)
    log = str(tmp_path / "second.log")
    second = _start(tmp_path, url, 2000, options, log=log)
    _wait_for_text(log, f"is being written by pid {first.pid}", second)
    open(gate, "w").close()
    rc1, _, err1 = _finish(first)
    rc2, _, err2 = _finish(second)
    assert rc1 == 0, err1
    assert rc2 == 0, err2
    _assert_exact(url, [*range(10), *range(1000, 1060), *range(2000, 2060)], options)


@pytest.mark.s3
@pytest.mark.slow
def test_a_stale_lock_on_s3_is_taken_over(tmp_path, moto_server):
    url = moto_server.new_location() + "/ds"
    options = moto_server.storage_options()
    _seed(url, options)
    from litdata_storage import open_store

    # A lock left by a writer on another machine that stopped beating.
    lock = {"run": "x", "owner": "gone", "host": "elsewhere", "pid": 1, "since": time.time(), "beat": 3}
    open_store(url, **options).put(".litdata-writer.lock", json.dumps(lock).encode())
    second = _start(tmp_path, url, 2000, options, LITDATA_OUTPUT_LOCK_STALE=1, LITDATA_OUTPUT_LOCK_TIMEOUT=30)
    rc2, out2, err2 = _finish(second)
    assert rc2 == 0, err2
    assert "pid 1 on host 'elsewhere'" in out2
    _assert_exact(url, [*range(10), *range(2000, 2060)], options)
