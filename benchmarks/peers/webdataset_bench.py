"""Benchmark adapter for WebDataset 1.0.2 (run in .venvs/bench-webdataset).

    python benchmarks/peers/webdataset_bench.py WORKLOAD '{json args}'   (see compare.py)

Written the way WebDataset's docs show it: ``ShardWriter`` (single process) writes tar
shards; ``WebDataset(urls, shardshuffle=...).shuffle(n).decode(...).to_tuple(...)
.batched(b)`` reads them in a ``WebLoader`` with ``batch_size=None``. From S3 the shards
are opened through ``pipe:aws s3 cp ... -`` URLs (WebDataset's documented way for S3),
with the endpoint given to the aws CLI; WebDataset keeps no cache by default, so every
epoch streams the shards again. No random access (a tar stream has no index): skipped.
Tokens: pre-cut blocks of ``block`` tokens, one ``.npy`` per sample.
"""

import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import numpy as np  # noqa: E402
import webdataset as wds  # noqa: E402

SHUFFLE_BUFFER = 1000


def _shard_urls(args):
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(args["local_dir"], "shard-*.tar")))
    last = len(names) - 1
    pattern = f"shard-{{{0:06d}..{last:06d}}}.tar"
    if args["source"] == "s3":
        endpoint = args["storage_options"]["endpoint_url"]
        return f"pipe:aws s3 cp --quiet --endpoint-url {endpoint} {args['s3_url']}/{pattern} -"
    return os.path.join(args["local_dir"], pattern)


def convert_images(args):
    paths, labels = common.read_inputs(args)
    out = common.fresh_dir(args["output_dir"])
    began = time.perf_counter()
    with wds.ShardWriter(os.path.join(out, "shard-%06d.tar"), maxsize=args["chunk_bytes"], maxcount=10**9, verbose=0) as sink:
        for i, (path, label) in enumerate(zip(paths, labels)):
            with open(path, "rb") as f:
                sink.write({"__key__": f"{i:08d}", "jpg": f.read(), "cls": label})
    elapsed = time.perf_counter() - began
    return {"images": len(paths), "seconds": elapsed, "images_per_s": len(paths) / elapsed,
            "writer_processes": 1, **common.dir_stats(out)}


def convert_tokens(args):
    out = common.fresh_dir(args["output_dir"])
    began = time.perf_counter()
    size = args["block"] * args["blocks_per_chunk"] * 2
    with wds.ShardWriter(os.path.join(out, "shard-%06d.tar"), maxsize=size, maxcount=10**9, verbose=0) as sink:
        for i, block in enumerate(common.token_blocks(args["token_files"], args["block"])):
            sink.write({"__key__": f"{i:08d}", "npy": block})
    return {"seconds": time.perf_counter() - began, **common.dir_stats(out)}


def stream_images(args):
    started = time.perf_counter()

    def loader():
        ds = wds.WebDataset(_shard_urls(args), shardshuffle=1000).shuffle(SHUFFLE_BUFFER)
        if args["decode"]:
            ds = ds.decode("pil").to_tuple("jpg", "cls").map_tuple(common.train_transform, lambda x: x)
        else:
            ds = ds.decode().to_tuple("jpg", "cls")  # the image stays JPEG bytes
        ds = ds.batched(args["batch_size"])
        return wds.WebLoader(ds, batch_size=None, num_workers=args["workers"])

    return common.time_epochs(loader, args["epochs"], lambda b: len(b[1]), start=started)


def stream_tokens(args):
    started = time.perf_counter()

    def loader():
        ds = (
            wds.WebDataset(_shard_urls(args), shardshuffle=1000)
            .shuffle(SHUFFLE_BUFFER)
            .decode()
            .to_tuple("npy")
            .batched(args["batch_size"])
        )
        return wds.WebLoader(ds, batch_size=None, num_workers=args["workers"])

    return common.time_epochs(loader, args["epochs"], lambda b: int(np.asarray(b[0]).size), start=started)


if __name__ == "__main__":
    common.main({
        "convert_images": convert_images,
        "convert_tokens": convert_tokens,
        "stream_images": stream_images,
        "stream_tokens": stream_tokens,
    })
