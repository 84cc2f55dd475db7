"""Write the WebDataset test shards with webdataset's own ``ShardWriter`` (run in .venvs/wds-vectors).

    .venvs/wds-vectors/bin/python tests/stream/foreign_vectors/write_wds.py tests/stream/foreign_vectors/wds

``expected.json``: the samples in order, each ``{"__key__": key, ext: hex of the
member's bytes}``, as webdataset's own reader (``wds.WebDataset``) yields them.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys

import webdataset as wds


def sample(i: int) -> dict:
    item = {"__key__": f"sample{i:04d}", "cls": str(i % 10).encode(), "txt": f"caption {i}".encode(),
            "jpg": bytes([i % 256]) * (50 + i)}
    if i % 4 == 0:
        item["json"] = json.dumps({"i": i}).encode()  # not every sample has every member
    return item


def main(out: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with wds.ShardWriter(os.path.join(out, "shard-%03d.tar"), maxcount=7) as sink:
        for i in range(25):
            sink.write(sample(i))
    shards = sorted(glob.glob(os.path.join(out, "shard-*.tar")))
    expected = []
    for s in wds.WebDataset(shards, shardshuffle=False):
        expected.append({k: (v.hex() if isinstance(v, bytes) else v) for k, v in s.items() if k != "__url__"
                         and not k.startswith("__local")})
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
