"""Progress: tqdm on a terminal, plain lines in a log, nothing with verbose=False."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

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
