"""A reader-only install in an empty virtual environment streams from S3.

``pip install litdata-format litdata-storage[s3] litdata-stream`` (from the local
folders) into a new venv with no system packages, then a dataset on the moto S3 server is
streamed by that venv's python. The writer (and the ``litdata`` meta-package, and Pillow)
must not be there: the stream package must not need them. Installing with dependencies,
in one pip call, checks that each package declares what it imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib.util, os, sys
import litdata_stream
from litdata_stream import StreamingDataLoader, StreamingDataset

assert litdata_stream.__file__.startswith(sys.prefix), litdata_stream.__file__
for name in ("litdata_writer", "litdata", "PIL", "google.cloud.storage"):
    try:
        found = importlib.util.find_spec(name) is not None
    except ImportError:
        found = False
    assert not found, f"{name} is importable in the fresh venv"

url = os.environ["DATASET_URL"]
ds = StreamingDataset(url, shuffle=True, seed=7)
assert len(ds) == 100, len(ds)
assert ds[42] == {"i": 42, "name": "item-42"}
seen = []
for batch in StreamingDataLoader(ds, batch_size=8, num_workers=1):
    seen.extend(batch["i"].tolist())
assert sorted(seen) == list(range(100)), seen
assert seen != sorted(seen)
print("streamed", len(seen))
"""


def _pip(python: Path, *args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, f"pip install failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.s3
def test_reader_only_install_streams_from_s3(moto_server, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.version.cuda is not None:  # pip would then be free to fetch a CUDA torch (GBs)
        pytest.skip("needs a CPU build of torch to pin: this interpreter's torch is a CUDA build")

    # The dataset, written by this (full) environment.
    from litdata_format import write_dataset
    from litdata_storage import open_store

    local = tmp_path / "ds"
    write_dataset(local, [{"i": i, "name": f"item-{i}"} for i in range(100)], chunk_size=10)
    url = moto_server.new_location() + "/reader-only"
    store = open_store(url, **moto_server.storage_options())
    for path in local.iterdir():
        store.put_file(path.name, path)

    # An empty venv: no system site-packages.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    constraints = tmp_path / "constraints.txt"
    # The exact CPU build running here (e.g. 2.13.0+cpu): pip can never pick a CUDA wheel.
    constraints.write_text(f"torch=={torch.__version__}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_CONSTRAINT"] = str(constraints)
    packages = REPO / "packages"
    _pip(
        python,
        str(packages / "litdata-format"),
        f"{packages / 'litdata-storage'}[s3]",
        str(packages / "litdata-stream"),
        env=env,
    )

    env.update(
        DATASET_URL=url,
        AWS_ENDPOINT_URL=moto_server.endpoint_url,
        AWS_ACCESS_KEY_ID=moto_server.access_key,
        AWS_SECRET_ACCESS_KEY=moto_server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        LITDATA_CACHE_DIR=str(tmp_path / "cache"),
    )
    env.pop("AWS_PROFILE", None)
    script = tmp_path / "stream.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [str(python), str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("streamed 100")
