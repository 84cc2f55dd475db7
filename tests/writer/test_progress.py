"""Progress: tqdm on a terminal, plain lines in a log, nothing with verbose=False."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time
import types

import pytest

from litdata_writer import progress as progress_module
from litdata_writer.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(10, desc="optimize", stream=stream, interval=0.0)
    progress.update(4, 8)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("optimize: 4/10 inputs (40%)")
    assert "inputs/s" in lines[0] and "8 items" in lines[0] and "items/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("optimize: 4/10 inputs")
    assert "\r" not in stream.getvalue()


def test_interval_limits_plain_lines():
    stream = io.StringIO()
    progress = Progress(1000, stream=stream, interval=3600)
    for _ in range(100):
        progress.update(1, 1)
    progress.close()
    assert len(stream.getvalue().splitlines()) == 1  # only the final line


def test_tqdm_bar_on_a_terminal():
    stream = FakeTerminal()
    progress = Progress(10, desc="optimize", stream=stream)
    progress.update(10, 30)
    progress.close()
    text = stream.getvalue()
    assert "optimize" in text and "10/10" in text and "items=30" in text and "items/s" in text


def test_verbose_false_is_silent():
    stream = FakeTerminal()
    progress = Progress(10, stream=stream, verbose=False)
    progress.update(5, 5)
    progress.message("hello")
    progress.close()
    assert stream.getvalue() == ""


SCRIPT = textwrap.dedent(
    """
    import sys
    from litdata_writer import optimize
    def f(i):
        return i
    if __name__ == "__main__":
        optimize(f, list(range(50)), sys.argv[1], num_workers=2, verbose=sys.argv[2] == "1")
    """
)


def test_optimize_prints_a_plain_summary_into_a_log(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    loud = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "a"), "1"], capture_output=True, text=True, timeout=60
    )
    assert loud.returncode == 0, loud.stderr
    assert "optimize: 50/50 inputs (100%)" in loud.stderr and "50 items" in loud.stderr
    quiet = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "b"), "0"], capture_output=True, text=True, timeout=60
    )
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_a_resumed_run_says_so_first_and_rates_count_only_new_work():
    stream = io.StringIO()
    start = time.monotonic()
    progress = Progress(2000, stream=stream, interval=3600, initial=1400, initial_items=2800)
    time.sleep(0.2)
    progress.update(600, 1200)
    progress.close()
    elapsed = time.monotonic() - start
    lines = stream.getvalue().splitlines()
    assert lines[0] == "resuming: 1,400 of 2,000 inputs already stored"
    assert len(lines) == 2
    assert lines[1].startswith("optimize: 2000/2000 inputs (100%), ")
    assert ", 4000 items (" in lines[1]
    inputs_rate = float(re.search(r"([\d.]+) inputs/s", lines[1]).group(1))
    items_rate = float(re.search(r"([\d.]+) items/s", lines[1]).group(1))
    # 600 new inputs (1200 items) in 0.2 s or more: the 1,400 stored ones are not in the rate
    assert 600 / elapsed - 1 <= inputs_rate <= 600 / 0.2
    assert 1200 / elapsed - 1 <= items_rate <= 1200 / 0.2


def test_a_fresh_run_does_not_say_resuming():
    stream = io.StringIO()
    progress = Progress(5, stream=stream, interval=3600)
    progress.update(5, 5)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optimize: 5/5 inputs (100%), ")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_log_gets_a_line_every_10_seconds_by_default(monkeypatch):
    monkeypatch.delenv("LITDATA_PROGRESS_INTERVAL", raising=False)
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(monotonic=clock))  # its clock only
    stream = io.StringIO()
    progress = Progress(100, stream=stream)
    clock.now += 9.9
    progress.update(1, 1)
    assert stream.getvalue() == ""
    clock.now += 0.2
    progress.update(1, 1)
    assert (
        stream.getvalue()
        == "optimize: 2/100 inputs (2%), 0.2 inputs/s, 2 items (0.2 items/s), elapsed 0:00:10, ETA 0:08:14\n"
    )
    clock.now += 9.0
    progress.update(1, 1)
    assert len(stream.getvalue().splitlines()) == 1  # 9 s after the last line: not yet
    clock.now += 1.0
    progress.update(1, 1)
    assert stream.getvalue().splitlines()[-1].startswith("optimize: 4/100 inputs (4%)")


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LITDATA_PROGRESS_INTERVAL", "0")
    stream = io.StringIO()
    progress = Progress(3, stream=stream)
    progress.update(1, 1)
    progress.update(1, 1)
    assert [line.split(" inputs")[0] for line in stream.getvalue().splitlines()] == [
        "optimize: 1/3",
        "optimize: 2/3",
    ]
    monkeypatch.setenv("LITDATA_PROGRESS_INTERVAL", "soon")
    with pytest.raises(ValueError, match=r"LITDATA_PROGRESS_INTERVAL='soon' is not a number of seconds"):
        Progress(3, stream=io.StringIO())


def _run_on_a_pty(columns: int) -> str:
    """Drive a Progress on a real pseudo-terminal of ``columns`` columns; what it displayed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    with open(slave, "w", closefd=True) as terminal:
        assert terminal.isatty()
        progress = Progress(10, desc="optimize", stream=terminal, interval=0.0)
        for _ in range(10):
            progress.update(1, 3)
        progress.close()
    output = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side is closed and everything was read
            break
        if not data:
            break
        output += data
    os.close(master)
    return output.decode().replace("\r\n", "\n")  # the terminal turns "\n" into "\r\n"


def test_a_zero_width_terminal_gets_plain_lines():
    text = _run_on_a_pty(columns=0)
    lines = text.splitlines()
    assert [line.split(" inputs")[0] for line in lines] == [f"optimize: {n}/10" for n in range(1, 11)] + [
        "optimize: 10/10"
    ]
    assert "30 items" in lines[-1] and "\r" not in text


def test_a_sized_terminal_gets_the_bar():
    text = _run_on_a_pty(columns=100)
    assert "\r" in text and "10/10" in text and "items=30" in text
    assert "optimize: 10/10 inputs" not in text  # the bar, not the log lines
    assert max(len(part) for part in text.replace("\n", "\r").split("\r")) <= 100


RESUME_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from litdata_writer import WorkerError, optimize
    def f(i):
        for k in range(3):
            if i == 10 and k == 1 and not os.path.exists(sys.argv[2]):
                open(sys.argv[2], "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            yield i, k
    if __name__ == "__main__":
        try:
            optimize(f, list(range(30)), sys.argv[1], num_workers=1, chunk_size=4)
        except WorkerError as exc:
            sys.exit(f"failed: {exc}")
    """
)


def test_a_rerun_says_how_much_was_already_stored(tmp_path):
    """One worker, a checkpoint after every 4-item chunk, killed at input 10: inputs 0-8 are stored."""
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    argv = [sys.executable, str(script), str(tmp_path / "ds"), str(tmp_path / "killed")]
    env = {**os.environ, "LITDATA_CHECKPOINT_INTERVAL": "0", "LITDATA_PROGRESS_INTERVAL": "3600"}
    first = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 1 and "killed by signal 9" in first.stderr
    assert "resuming" not in first.stderr
    second = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert second.returncode == 0, second.stderr
    lines = second.stderr.splitlines()
    assert lines[0] == "resuming: 9 of 30 inputs already stored"
    assert lines[1].startswith("optimize: 30/30 inputs (100%), ") and ", 90 items (" in lines[1]
    assert len(lines) == 2
