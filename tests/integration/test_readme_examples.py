"""Every Python example of README.md runs as written, against the local S3 server of
scripts/local-s3.sh, started, read and stopped the way the Quickstart tells a user to."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import servers

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
EXPORT = re.compile(r"^export (AWS_ENDPOINT_URL|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)=(\S+)$")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples():
    assert len(python_blocks()) >= 5


def read_exports(process: subprocess.Popen, timeout: float = 60.0) -> dict[str, str]:
    """The three ``export`` lines local-s3.sh prints once its server answers."""
    found: dict[str, str] = {}
    pending = b""
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()
    while len(found) < 3:
        left = deadline - time.monotonic()
        assert left > 0, f"local-s3.sh printed only {found} in {timeout} s"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        data = os.read(fd, 4096)
        assert data, f"local-s3.sh exited early with {process.wait()}"
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            match = EXPORT.match(line.decode().strip())
            assert match, f"unexpected line from local-s3.sh: {line!r}"
            found[match.group(1)] = match.group(2)
    return found


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.fixture
def local_s3(tmp_path):
    """scripts/local-s3.sh on its own temporary folder; Ctrl-C (SIGINT) at the end."""
    log = open(tmp_path / "local-s3.log", "w")
    scratch = tmp_path / "tmp"  # the script's TMPDIR: its data folder and rclone config go here
    scratch.mkdir()
    process = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "local-s3.sh")],
        stdout=subprocess.PIPE,
        stderr=log,
        env=dict(os.environ, RCLONE=servers.rclone_binary(), TMPDIR=str(scratch)),
    )
    try:
        exports = read_exports(process)
        yield exports
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert not port_open(exports["AWS_ENDPOINT_URL"])  # rclone stopped with it
        assert list(scratch.iterdir()) == []  # its data folder and config removed
        assert "local S3 stopped" in (tmp_path / "local-s3.log").read_text()
    finally:
        if process.poll() is None:  # a failed assertion above: still stop rclone through the script
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.mark.slow
def test_readme_examples_run_in_order(local_s3, tmp_path):
    assert local_s3["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, **local_s3, LITDATA_CACHE_DIR=str(tmp_path / "cache"))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        env.pop(name, None)  # only what the Quickstart tells a user to set
    for number, code in enumerate(python_blocks()):
        script = work / f"example_{number}.py"
        script.write_text(code)
        result = subprocess.run(
            [sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"README example {number} failed:\n{code}\n{result.stderr[-3000:]}"
        if "train_test_split" in code:
            assert "800 200" in result.stdout
