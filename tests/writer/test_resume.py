"""Resume: a run whose worker is SIGKILLed mid-way, rerun with the same arguments, writes
exactly what an uninterrupted run writes, without redoing the finished work."""

from __future__ import annotations

import pytest

from litdata_format import Index, read_dataset
from litdata_writer import WorkerError, optimize

from . import fns
from .helpers import keys


def _calls(path):
    return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("kill_at, interval", [(33, "0"), (71, "0"), (33, "1")])
def test_rerun_after_sigkill_resumes_exactly(tmp_path, monkeypatch, kill_at, interval):
    """interval "0": a checkpoint after every chunk; "1": the default, fewer checkpoints."""
    monkeypatch.setenv("LITDATA_CHECKPOINT_INTERVAL", interval)
    inputs = list(range(80))
    # reference: an uninterrupted run
    reference = str(tmp_path / "reference")
    optimize(fns.killed_once, inputs, reference, num_workers=2, chunk_size=4, verbose=False)

    out = str(tmp_path / "ds")
    log = tmp_path / "calls.log"
    monkeypatch.setenv(fns.KILL_AT_ENV, str(kill_at))
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    monkeypatch.setenv(fns.CALL_LOG_ENV, str(log))
    with pytest.raises(WorkerError, match="killed by signal 9"):
        optimize(fns.killed_once, inputs, out, num_workers=2, chunk_size=4, verbose=False)
    assert (tmp_path / "killed").exists()
    assert not (tmp_path / "ds" / "index.json").exists()
    first_run = _calls(log)
    log.unlink()

    optimize(fns.killed_once, inputs, out, num_workers=2, chunk_size=4, verbose=False)
    second_run = _calls(log)

    assert read_dataset(out, verify=True) == read_dataset(reference)
    # the same chunks, byte for byte in size, and nothing else left behind
    assert [(c.filename, c.chunk_size, c.chunk_bytes) for c in Index.load(out).chunks] == [
        (c.filename, c.chunk_size, c.chunk_bytes) for c in Index.load(reference).chunks
    ]
    assert keys(out) == keys(reference)
    # it resumed: the killed rank did not start again from its first input
    rank = 0 if kill_at < 40 else 1
    first_of_rank = 0 if rank == 0 else 40
    assert first_of_rank not in second_run
    assert kill_at in second_run
    assert len(second_run) < len(inputs)
    assert set(first_run) | set(second_run) == set(inputs)
    if interval == "0":  # only the inputs after the last stored chunk were redone
        assert min(i for i in second_run if (i < 40) == (rank == 0)) >= kill_at - 2


def test_changed_arguments_start_over(tmp_path, monkeypatch):
    out = str(tmp_path / "ds")
    monkeypatch.setenv(fns.KILL_AT_ENV, "20")
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    with pytest.raises(WorkerError):
        optimize(fns.killed_once, list(range(30)), out, num_workers=1, chunk_size=4, verbose=False)
    # different inputs: the checkpoint does not match, the run starts over
    optimize(fns.killed_once, list(range(100, 110)), out, num_workers=1, chunk_size=4, verbose=False)
    expected = [(i, k, bytes([k]) * 50) for i in range(100, 110) for k in range(3)]
    assert read_dataset(out) == expected
    assert all(k.startswith("chunk-0-") or k == "index.json" for k in keys(out))
    assert len(keys(out)) == 1 + 8  # stale chunks of the first run were cleaned up


def test_resume_false_starts_over(tmp_path, monkeypatch):
    out = str(tmp_path / "ds")
    log = tmp_path / "calls.log"
    monkeypatch.setenv(fns.KILL_AT_ENV, "20")
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    with pytest.raises(WorkerError):
        optimize(fns.killed_once, list(range(30)), out, num_workers=1, chunk_size=4, verbose=False)
    monkeypatch.setenv(fns.CALL_LOG_ENV, str(log))
    optimize(fns.killed_once, list(range(30)), out, num_workers=1, chunk_size=4, resume=False, verbose=False)
    assert _calls(log) == list(range(30))
    assert len(read_dataset(out)) == 90


def test_an_interrupted_append_resumes(tmp_path, monkeypatch):
    out = str(tmp_path / "ds")
    optimize(fns.killed_once, list(range(10)), out, num_workers=2, chunk_size=4, verbose=False)
    old_index = (tmp_path / "ds" / "index.json").read_bytes()
    monkeypatch.setenv(fns.KILL_AT_ENV, "27")
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    with pytest.raises(WorkerError):
        optimize(
            fns.killed_once,
            list(range(10, 40)),
            out,
            num_workers=2,
            chunk_size=4,
            mode="append",
            verbose=False,
        )
    assert (tmp_path / "ds" / "index.json").read_bytes() == old_index  # readers still see the old dataset
    monkeypatch.setenv(fns.CALL_LOG_ENV, str(tmp_path / "calls.log"))
    optimize(
        fns.killed_once, list(range(10, 40)), out, num_workers=2, chunk_size=4, mode="append", verbose=False
    )
    assert read_dataset(out) == [(i, k, bytes([k]) * 50) for i in range(40) for k in range(3)]
    assert 25 not in _calls(tmp_path / "calls.log")  # rank 1 (inputs 25..39) resumed


@pytest.mark.parametrize("content", ["[]", "7", '"text"', "{not json"])
def test_a_checkpoint_that_is_not_a_json_object_makes_the_rank_start_over(tmp_path, monkeypatch, content):
    out = tmp_path / "ds"
    monkeypatch.setenv(fns.KILL_AT_ENV, "20")
    monkeypatch.setenv(fns.KILL_MARKER_ENV, str(tmp_path / "killed"))
    with pytest.raises(WorkerError):
        optimize(fns.killed_once, list(range(30)), str(out), num_workers=1, chunk_size=4, verbose=False)
    checkpoints = sorted((out / ".checkpoints").glob("*.json"))
    assert checkpoints, "the killed run left no checkpoint"
    for path in checkpoints:
        path.write_text(content)
    log = tmp_path / "calls.log"
    monkeypatch.setenv(fns.CALL_LOG_ENV, str(log))
    optimize(fns.killed_once, list(range(30)), str(out), num_workers=1, chunk_size=4, verbose=False)
    assert _calls(log) == list(range(30))  # nothing trusted from the unreadable checkpoint
    assert read_dataset(str(out)) == [(i, k, bytes([k]) * 50) for i in range(30) for k in range(3)]
