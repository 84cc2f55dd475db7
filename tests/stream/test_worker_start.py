"""A forked worker stuck before it runs any Python code is replaced, and the epoch stays exact.

The stuck fork is made real: the script registers an ``after_in_child`` fork handler,
which CPython runs inside ``PyOS_AfterFork_Child`` (where gh-112275 leaves children
stuck), and that handler blocks for ever in the first ``STUCK`` children forked. Each
script runs in its own process, so that the handler never reaches the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from litdata_format import write_dataset

SCRIPT = textwrap.dedent(
    r"""
    import json, os, sys, time, warnings
    from litdata_stream import StreamingDataLoader, StreamingDataset

    data, marks, stuck, workers, persistent = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"

    def stuck_fork():
        n = len(os.listdir(marks))
        open(os.path.join(marks, f"fork-{n}-{os.getpid()}"), "w").close()
        if n < stuck:
            while True:
                time.sleep(3600)

    loader = StreamingDataLoader(StreamingDataset(data, shuffle=True, seed=5), batch_size=4, num_workers=workers,
                                 persistent_workers=persistent)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.register_at_fork(after_in_child=stuck_fork)
        epochs = []
        try:
            for _ in range(2):
                epochs.append([int(x) for batch in loader for x in batch[0]])
            error = None
        except RuntimeError as exc:
            error = str(exc)
    print("RESULT " + json.dumps({"epochs": epochs, "error": error,
                                  "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning]}))
    """
)


def run(tmp_path, stuck, workers=2, persistent=False, timeout="1.5"):
    data = tmp_path / "data"
    if not data.exists():
        write_dataset(data, [(i, i) for i in range(50)], chunk_size=7)
    marks = tmp_path / f"marks-{stuck}-{workers}-{int(persistent)}"
    marks.mkdir()
    script = tmp_path / "stuck_fork.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "LITDATA_WORKER_START_TIMEOUT": timeout, "LITDATA_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(script), str(data), str(marks), str(stuck), str(workers),
                           "1" if persistent else "0"], env=env, capture_output=True, text=True, timeout=180,
                          start_new_session=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[0][len("RESULT "):])


def test_a_worker_stuck_in_its_fork_is_forked_again_and_every_item_comes_once(tmp_path):
    result = run(tmp_path, stuck=1)
    assert result["error"] is None
    assert [sorted(epoch) for epoch in result["epochs"]] == [list(range(50))] * 2
    assert len(result["warnings"]) == 1
    assert "DataLoader worker(s) [0] did not start within 1.5s (LITDATA_WORKER_START_TIMEOUT)" in result["warnings"][0]


def test_the_replaced_workers_serve_the_same_order_as_workers_that_started_at_once(tmp_path):
    assert run(tmp_path, stuck=1)["epochs"] == run(tmp_path, stuck=0)["epochs"]


def test_persistent_workers_stuck_at_their_start_are_replaced_once(tmp_path):
    result = run(tmp_path, stuck=1, persistent=True)
    assert result["error"] is None and len(result["warnings"]) == 1
    assert [sorted(epoch) for epoch in result["epochs"]] == [list(range(50))] * 2


@pytest.mark.slow
def test_a_fork_stuck_every_time_fails_with_a_clear_error(tmp_path):
    result = run(tmp_path, stuck=100, workers=1, timeout="0.5")
    assert result["epochs"] == [] and len(result["warnings"]) == 2
    assert result["error"].startswith("DataLoader worker(s) [0] did not start within 0.5s "
                                      "(LITDATA_WORKER_START_TIMEOUT), 3 times in a row")
