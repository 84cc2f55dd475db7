"""The examples of LitData's README (the seed this project answers), run as a user runs them.

Each example is a script written to a temporary folder and run with ``python script.py``,
its code as the README prints it. Where the README reads ``s3://my-bucket/...``, the
bucket lives on a moto S3 server (one for this module), reached the way a MinIO user
reaches theirs: ``AWS_ENDPOINT_URL`` and the key variables (set with monkeypatch, so the
scripts inherit them). The only edits are marked ``# test:``: smaller sizes, fewer
workers, and lines that record what the script saw.

Left out, as they cannot run here: the transforms example (torchvision), ``map`` over a
folder of large images, the TinyLlama mixture and the parquet tokenizer (their data), and
``Machine`` (the Lightning platform).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.s3

BUCKET = "my-bucket"
MY_DATA_ITEMS = 100_000


def run_example(folder: Path, code: str, name: str = "example.py", env: dict[str, str] | None = None) -> str:
    script = folder / name
    script.write_text(textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def my_bucket(tmp_path_factory):
    """The README's ``my-bucket``, holding ``my-data``: the items 0..99,999.

    On a moto server of its own: other tests (tests/integration) use a bucket of that
    name too, with other data, on the session's server.
    """
    import servers
    from litdata_writer import optimize

    server = servers.start_moto(tmp_path_factory.mktemp("seed-moto"))
    try:
        server.create_bucket(BUCKET)
        optimize(
            _identity,
            list(range(MY_DATA_ITEMS)),
            f"s3://{BUCKET}/my-data",
            chunk_bytes="64MB",
            num_workers=2,
            storage_options=server.storage_options(),
            verbose=False,
        )
        yield server
    finally:
        server.process.stop()


def _identity(i):
    return i


@pytest.fixture
def user_env(my_bucket, tmp_path, monkeypatch):
    """What a MinIO user exports before running the examples (README: S3-compatible storage)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", my_bucket.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", my_bucket.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", my_bucket.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("LITDATA_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "NUM_NODES"):
        monkeypatch.delenv(name, raising=False)
    return my_bucket


# --------------------------------------------------------------------- quick start
PREPARE = """
import numpy as np
from litdata import optimize
from PIL import Image


# Store random images into the data chunks
def random_images(index):
    data = {
        "index": index, # int data type
        "image": Image.fromarray(np.random.randint(0, 256, (32, 32, 3), np.uint8)), # PIL image data type
        "class": np.random.randint(10), # numpy array data type
    }
    # The data is serialized into bytes and stored into data chunks by the optimize operator.
    return data # The data is serialized into bytes and stored into data chunks by the optimize operator.

if __name__ == "__main__":
    optimize(
        fn=random_images,  # The function applied over each input.
        inputs=list(range(200)),  # test: 200 inputs, not 1000
        output_dir="my_optimized_dataset",  # The directory where the optimized data are stored.
        num_workers=2,  # test: 2 workers, not 4
        chunk_bytes="64MB"  # The maximum number of bytes to write into a data chunk.
    )
"""

USE = """
from litdata import StreamingDataset, StreamingDataLoader

# Remote path where full dataset is stored
input_dir = 's3://my-bucket/my_optimized_dataset'

# Create the Streaming Dataset
dataset = StreamingDataset(input_dir, shuffle=True)

# Access any elements of the dataset
sample = dataset[50]
img = sample['image']
cls = sample['class']

# Create dataLoader and iterate over it to train your AI models.
dataloader = StreamingDataLoader(dataset)

# test: what the user would look at
from PIL import Image
assert isinstance(img, Image.Image) and img.size == (32, 32), img
assert 0 <= int(cls) < 10
assert sample['index'] == 50
assert len(dataset) == 200 and len(dataloader) == 200
print("ok")
"""


def test_quick_start(user_env, tmp_path):
    # 1. Prepare the data
    run_example(tmp_path, PREPARE, "prepare.py")
    local = tmp_path / "my_optimized_dataset"
    assert (local / "index.json").is_file()

    # 2. `aws s3 cp --recursive my_optimized_dataset s3://my-bucket/my_optimized_dataset`
    client = user_env.client()
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.upload_file(
                str(path), BUCKET, f"my_optimized_dataset/{path.relative_to(local).as_posix()}"
            )

    # 3. Use StreamingDataset
    assert run_example(tmp_path, USE, "use.py").strip() == "ok"


# -------------------------------------------------------------- append / overwrite
APPEND = """
from litdata import optimize, StreamingDataset

def compress(index):
    return index, index**2

if __name__ == "__main__":
    # Add some data
    optimize(
        fn=compress,
        inputs=list(range(100)),
        output_dir="./my_optimized_dataset",
        chunk_bytes="64MB",
    )

    # Later on, you add more data
    optimize(
        fn=compress,
        inputs=list(range(100, 200)),
        output_dir="./my_optimized_dataset",
        chunk_bytes="64MB",
        mode="append",
    )

    ds = StreamingDataset("./my_optimized_dataset")
    assert len(ds) == 200
    assert ds[:] == [(i, i**2) for i in range(200)]

    # test: "The `overwrite` mode will delete the existing data and start from fresh."
    optimize(
        fn=compress,
        inputs=list(range(7)),
        output_dir="./my_optimized_dataset",
        chunk_bytes="64MB",
        mode="overwrite",
    )
    ds = StreamingDataset("./my_optimized_dataset")
    assert ds[:] == [(i, i**2) for i in range(7)]
    print("ok")
"""


def test_append_and_overwrite(user_env, tmp_path):
    assert run_example(tmp_path, APPEND).strip().endswith("ok")


# ----------------------------------------------------------------- access any item
ACCESS = """
from litdata import StreamingDataset

dataset = StreamingDataset("s3://my-bucket/my-data") # data are stored in the cloud

print(len(dataset)) # display the length of your data

print(dataset[42]) # show the 42th element of the dataset
"""


def test_access_any_item(user_env, tmp_path):
    assert run_example(tmp_path, ACCESS).split() == [str(MY_DATA_ITEMS), "42"]


# ------------------------------------------------------------ subsample and split
SPLIT = """
from litdata import StreamingDataset, train_test_split

dataset = StreamingDataset("s3://my-bucket/my-data") # data are stored in the cloud

print(len(dataset)) # display the length of your data
# out: 100,000

train_dataset, val_dataset, test_dataset = train_test_split(dataset, splits=[0.3, 0.2, 0.5])

print(train_dataset)
# out: 30,000

print(val_dataset)
# out: 20,000

print(test_dataset)
# out: 50,000

# test: the lengths, and the splits are disjoint and cover the dataset
assert (len(train_dataset), len(val_dataset), len(test_dataset)) == (30_000, 20_000, 50_000)
seen = set()
for part in (train_dataset, val_dataset, test_dataset):
    items = set(part[:])
    assert len(items) == len(part) and not (items & seen)
    seen |= items
assert seen == set(range(100_000))
print("ok")
"""

SUBSAMPLE = """
from litdata import StreamingDataset, train_test_split

dataset = StreamingDataset("s3://my-bucket/my-data", subsample=0.01) # data are stored in the cloud

print(len(dataset)) # display the length of your data
# out: 1000
"""


def test_train_test_split(user_env, tmp_path):
    out = run_example(tmp_path, SPLIT).splitlines()
    assert out[0] == str(MY_DATA_ITEMS)
    assert out[-1] == "ok"


def test_subsample(user_env, tmp_path):
    assert run_example(tmp_path, SUBSAMPLE).strip() == "1000"


# ----------------------------------------------------------------- pause & resume
PAUSE_RESUME = """
import os
import torch
from litdata import StreamingDataset, StreamingDataLoader

dataset = StreamingDataset("s3://my-bucket/my-data", shuffle=True)
dataloader = StreamingDataLoader(dataset, num_workers=os.cpu_count(), batch_size=64)

# Restore the dataLoader state if it exists
if os.path.isfile("dataloader_state.pt"):
    state_dict = torch.load("dataloader_state.pt")
    dataloader.load_state_dict(state_dict)

# Iterate over the data
for batch_idx, batch in enumerate(dataloader):

    # Store the state every 1000 batches
    if batch_idx % 1000 == 0:
        torch.save(dataloader.state_dict(), "dataloader_state.pt")
"""

RECORD = """\
    SEEN.extend(batch.tolist())  # test: record the samples
    if batch_idx == STOP_AFTER:  # test: the job dies right after saving its state
        break
import json  # test
with open(os.environ["SEEN_FILE"], "w") as f:  # test
    json.dump(SEEN, f)  # test
"""


def instrumented_pause_resume() -> str:
    code = textwrap.dedent(PAUSE_RESUME)
    # test: at most 2 workers, whatever the machine
    code = code.replace("num_workers=os.cpu_count()", "num_workers=min(2, os.cpu_count())")
    prelude = 'SEEN = []  # test\nSTOP_AFTER = int(__import__("os").environ.get("STOP_AFTER", -1))  # test\n'
    return prelude + code.rstrip("\n") + "\n" + RECORD


def test_pause_and_resume(user_env, tmp_path):
    code = instrumented_pause_resume()
    # First run: stopped after batch 1000, whose state it saved (1001 batches consumed).
    run_example(tmp_path, code, env={"STOP_AFTER": "1000", "SEEN_FILE": str(tmp_path / "first.json")})
    assert (tmp_path / "dataloader_state.pt").is_file()
    first = json.loads((tmp_path / "first.json").read_text())
    assert len(first) == 1001 * 64
    assert first != sorted(first)  # shuffle=True

    # Second run, same script: restores the state and streams exactly the rest.
    run_example(tmp_path, code, env={"SEEN_FILE": str(tmp_path / "second.json")})
    second = json.loads((tmp_path / "second.json").read_text())
    assert len(second) == MY_DATA_ITEMS - len(first)
    assert sorted(first + second) == list(range(MY_DATA_ITEMS))
