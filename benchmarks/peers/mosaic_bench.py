"""Benchmark adapter for Mosaic Streaming 0.13 (``mosaicml-streaming``, run in
.venvs/bench-mosaic: torch 2.14.1 and torchvision 0.29.1, which it requires).

    python benchmarks/peers/mosaic_bench.py WORKLOAD '{json args}'   (see compare.py)

Written the way Mosaic's docs show it: ``MDSWriter(out=..., columns=...)`` writes shards
(single process; Mosaic's parallel recipe is several writers plus ``merge_index``, not used
here); ``StreamingDataset(local=...)`` reads a local dataset in place and
``StreamingDataset(remote='s3://...', local=cache)`` streams from S3 (the endpoint from
``S3_ENDPOINT_URL``, credentials from the usual AWS variables, set by compare.py); a
subclass overriding ``__getitem__`` applies the transform; ``StreamingDataLoader`` loads.
Tokens: pre-cut blocks of ``block`` tokens, one ``ndarray:uint16:<block>`` column.
"""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from streaming import MDSWriter, StreamingDataLoader, StreamingDataset  # noqa: E402
from streaming.base.util import clean_stale_shared_memory, merge_index  # noqa: E402


class ImageDataset(StreamingDataset):
    def __getitem__(self, index):
        sample = super().__getitem__(index)
        return {"image": common.train_transform(sample["image"]), "label": sample["label"]}


def _dataset(cls, args, cache, **kwargs):
    if args["source"] == "s3":
        return cls(remote=args["s3_url"], local=cache, **kwargs)
    return cls(local=args["local_dir"], **kwargs)


def convert_images(args):
    paths, labels = common.read_inputs(args)
    out = common.fresh_dir(args["output_dir"])
    began = time.perf_counter()
    columns = {"image": "bytes", "label": "int"}
    with MDSWriter(out=out, columns=columns, size_limit=args["chunk_bytes"]) as writer:
        for path, label in zip(paths, labels):
            with open(path, "rb") as f:
                writer.write({"image": f.read(), "label": label})
    elapsed = time.perf_counter() - began
    return {"images": len(paths), "seconds": elapsed, "images_per_s": len(paths) / elapsed,
            "writer_processes": 1, **common.dir_stats(out)}


def convert_classes(args):
    """The inputs in their listed order, one shard per ``chunk_items`` samples: one
    ``MDSWriter`` per shard, in its own folder (``size_limit`` out of reach), then
    ``merge_index`` of their indexes in that order (Mosaic's recipe for several writers)."""
    paths, labels = common.read_inputs(args)
    out = common.fresh_dir(args["output_dir"])
    step = args["chunk_items"]
    began = time.perf_counter()
    parts = []
    for first in range(0, len(paths), step):
        part = os.path.join(out, f"part-{first // step:05d}")
        with MDSWriter(out=part, columns={"image": "bytes", "label": "int"}, size_limit=1 << 31) as writer:
            for path, label in zip(paths[first : first + step], labels[first : first + step]):
                with open(path, "rb") as f:
                    writer.write({"image": f.read(), "label": label})
        parts.append(os.path.join(part, "index.json"))
    merge_index(parts, out)
    elapsed = time.perf_counter() - began
    with open(os.path.join(out, "index.json")) as f:
        shards = json.load(f)["shards"]
    sizes = [shard["samples"] for shard in shards]
    assert sizes == [min(step, len(paths) - k) for k in range(0, len(paths), step)], sizes
    names = [shard["raw_data"]["basename"] for shard in shards]
    assert names == sorted(names), names
    return {"images": len(paths), "seconds": elapsed, **common.dir_stats(out)}


def shuffle_epoch(args):
    """One shuffled epoch of raw bytes (into ``cache_dir`` from S3; in place locally);
    ``dataset_kwargs`` (shuffle_algo, shuffle_block_size) go to StreamingDataset."""
    kwargs = dict(args.get("dataset_kwargs") or {})
    made = {}
    started = time.perf_counter()

    def loader():
        ds = _dataset(StreamingDataset, args, args["cache_dir"], shuffle=True, batch_size=args["batch_size"], **kwargs)
        made["ds"] = ds
        return StreamingDataLoader(ds, batch_size=args["batch_size"], num_workers=args["workers"])

    result = common.shuffle_epoch(loader, lambda b: b["label"].tolist(), args["batch_size"], start=started)
    ds = made["ds"]
    for name in ("shuffle_algo", "shuffle_block_size", "num_canonical_nodes"):
        result[name] = getattr(ds, name, None)
    return result


def convert_tokens(args):
    out = common.fresh_dir(args["output_dir"])
    began = time.perf_counter()
    columns = {"tokens": f"ndarray:uint16:{args['block']}"}
    size = args["block"] * args["blocks_per_chunk"] * 2 + 4096
    with MDSWriter(out=out, columns=columns, size_limit=size) as writer:
        for block in common.token_blocks(args["token_files"], args["block"]):
            writer.write({"tokens": block})
    return {"seconds": time.perf_counter() - began, **common.dir_stats(out)}


def stream_images(args):
    cls = ImageDataset if args["decode"] else StreamingDataset
    with tempfile.TemporaryDirectory(dir=args["scratch"]) as cache:
        started = time.perf_counter()

        def loader():
            ds = _dataset(cls, args, cache, shuffle=True, batch_size=args["batch_size"])
            return StreamingDataLoader(ds, batch_size=args["batch_size"], num_workers=args["workers"])

        return common.time_epochs(loader, args["epochs"], lambda b: len(b["label"]), start=started)


def stream_tokens(args):
    with tempfile.TemporaryDirectory(dir=args["scratch"]) as cache:
        started = time.perf_counter()

        def loader():
            ds = _dataset(StreamingDataset, args, cache, shuffle=True, batch_size=args["batch_size"])
            return StreamingDataLoader(ds, batch_size=args["batch_size"], num_workers=args["workers"])

        return common.time_epochs(loader, args["epochs"], lambda b: b["tokens"].numel(), start=started)


def random_access(args):
    with tempfile.TemporaryDirectory(dir=args["scratch"]) as cache:
        ds = _dataset(StreamingDataset, args, cache)
        return common.latencies(lambda i: ds[i], len(ds), args["samples"])


if __name__ == "__main__":
    clean_stale_shared_memory()
    common.main({
        "convert_images": convert_images,
        "convert_tokens": convert_tokens,
        "convert_classes": convert_classes,
        "shuffle_epoch": shuffle_epoch,
        "stream_images": stream_images,
        "stream_tokens": stream_tokens,
        "random_access": random_access,
    })
