"""Functions the tests hand to optimize()/map(): module-level, so any start method can use them."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

KILL_AT_ENV = "WRITER_TEST_KILL_AT"
KILL_MARKER_ENV = "WRITER_TEST_KILL_MARKER"
CALL_LOG_ENV = "WRITER_TEST_CALL_LOG"


def square(i):
    return i, i**2


def none_for_odd(i):
    return None if i % 2 else i


def variable_yield(i):
    """0..3 items per input: inputs that yield nothing must not break the order."""
    for k in range(i % 4):
        yield {"input": i, "k": k, "text": f"{i}-{k}"}


def batch_total(batch):
    return sum(batch), len(batch)


def tokens(i):
    yield np.arange(i * 100, i * 100 + 10 + i % 7, dtype=np.uint32)


def mixed(i):
    return {
        "i": i,
        "f": i / 3,
        "s": f"item {i}",
        "b": bytes([i % 256]) * (i % 5),
        "ok": bool(i % 2),
        "grid": np.full((2, 3), i, dtype=np.int16),
        "vec": np.arange(i % 6, dtype=np.float32),
        "nested": [i, (i + 1, {"deep": str(i)})],
    }


def failing(i):
    if i == 37:
        raise ValueError(f"boom on {i}")
    time.sleep(0.01)
    return i


def slow_everywhere_but(i):
    """Input 3 fails at once; every other input is slow, so a late stop would show."""
    if i == 3:
        raise RuntimeError("input three is bad")
    time.sleep(0.5)
    return i


def _log_call(i):
    path = os.environ.get(CALL_LOG_ENV)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{i}\n".encode())
        os.close(fd)


def killed_once(i):
    """Three items per input; SIGKILLs its own worker at input KILL_AT on the first run only."""
    _log_call(i)
    time.sleep(float(os.environ.get("WRITER_TEST_SLEEP", "0")))
    kill_at = os.environ.get(KILL_AT_ENV)
    marker = os.environ.get(KILL_MARKER_ENV)
    for k in range(3):
        if kill_at is not None and i == int(kill_at) and k == 1 and marker and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        yield i, k, bytes([k]) * 50


def file_info(path):
    return os.path.basename(path), os.path.getsize(path)


def big_generator(_):
    """~300 MB of 1 MB items; records this worker's RSS growth in a file."""
    before = _rss_kb()
    peak = before
    for n in range(300):
        yield np.full(1_000_000, n % 251, dtype=np.uint8)
        if n % 10 == 0:
            peak = max(peak, _rss_kb())
    peak = max(peak, _rss_kb(), _hwm_kb())
    with open(os.environ["WRITER_TEST_RSS_FILE"], "w") as f:
        f.write(f"{before} {peak}")


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _rss_kb():
    return _status_kb("VmRSS")


def _hwm_kb():
    return _status_kb("VmHWM")


def write_text_file(i, output_dir):
    sub = os.path.join(output_dir, f"part-{i % 3}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"{i}.txt"), "w") as f:
        f.write(f"value {i}\n")


def map_failing(i, output_dir):
    if i == 5:
        raise KeyError("no such thing: 5")
    write_text_file(i, output_dir)


class Point:
    """A type no serializer knows: stored with pickle."""

    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Point) and other.x == self.x


def files_and_objects(i, folder=None):
    folder = folder or os.environ["WRITER_TEST_FILES"]
    from PIL import Image

    return {
        "doc": os.path.join(folder, f"{i}.txt"),
        "clip": os.path.join(folder, f"{i}.mp4"),
        "frames": [Image.open(os.path.join(folder, f"{i}-{k}.jpg")) for k in range(2)],
        "point": Point(i),
    }
