"""The benchmark workloads written against the LitData API (``optimize``,
``StreamingDataset``, ``StreamingDataLoader``, ``TokensLoader``), as LitData's README
shows them. Our ``litdata`` and LitData 0.2.76 expose the same API, so ours_bench.py and
litdata_bench.py share this code and differ only in the ``litdata`` they import (their
venv decides which).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from typing import Any

import common
import numpy as np


def _image_item(entry: tuple[str, int]) -> dict[str, Any]:
    path, label = entry
    with open(path, "rb") as f:
        data = f.read()
    return {"image": data, "label": label}


def _raw_collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Keep the JPEG bytes as a list: LitData hands bytes out as memoryviews, which torch's
    default collate takes for sequences to stack."""
    import torch

    return {"image": [bytes(x["image"]) for x in items], "label": torch.tensor([x["label"] for x in items])}


def _decoded(item: dict[str, Any]) -> dict[str, Any]:
    return {"image": common.train_transform(item["image"]), "label": item["label"]}


def _token_item(path: str):
    yield np.load(path)  # one document of uint16 tokens; TokensLoader concatenates them


def _dataset(ld: Any, args: dict[str, Any], cache_dir: str, **kwargs: Any) -> Any:
    url = args["s3_url"] if args["source"] == "s3" else args["local_dir"]
    options = args.get("storage_options") if args["source"] == "s3" else None
    return ld.StreamingDataset(url, cache_dir=cache_dir, storage_options=options, **kwargs)


def make_handlers(ld: Any) -> dict[str, Any]:
    # Our ``litdata`` imports its parts (and torch) on first use: import them now, so that
    # the time to first batch does not count imports, as for the other libraries.
    for name in ("optimize", "StreamingDataset", "StreamingDataLoader", "TokensLoader"):
        getattr(ld, name)
    def convert_images(args: dict[str, Any]) -> dict[str, Any]:
        paths, labels = common.read_inputs(args)
        out = args["output_dir"]
        common.fresh_dir(out)
        began = time.perf_counter()
        ld.optimize(
            fn=_image_item,
            inputs=list(zip(paths, labels)),
            output_dir=out,
            num_workers=args["workers"],
            chunk_bytes=args["chunk_bytes"],
        )
        elapsed = time.perf_counter() - began
        return {"images": len(paths), "seconds": elapsed, "images_per_s": len(paths) / elapsed,
                "writer_processes": args["workers"], **common.dir_stats(out)}

    def convert_tokens(args: dict[str, Any]) -> dict[str, Any]:
        out = args["output_dir"]
        common.fresh_dir(out)
        began = time.perf_counter()
        ld.optimize(
            fn=_token_item,
            inputs=args["token_files"],
            output_dir=out,
            num_workers=args["workers"],
            chunk_size=args["block"] * args["blocks_per_chunk"],
            item_loader=ld.TokensLoader(),
        )
        elapsed = time.perf_counter() - began
        return {"seconds": elapsed, **common.dir_stats(out)}

    def convert_classes(args: dict[str, Any]) -> dict[str, Any]:
        """The inputs in their listed order (one process, no reordering), ``chunk_items``
        items per chunk: a class-sorted listing gives chunks of one class each."""
        paths, labels = common.read_inputs(args)
        out = args["output_dir"]
        common.fresh_dir(out)
        began = time.perf_counter()
        ld.optimize(fn=_image_item, inputs=list(zip(paths, labels)), output_dir=out, num_workers=1,
                    chunk_size=args["chunk_items"], reorder_files=False)
        elapsed = time.perf_counter() - began
        ds = ld.StreamingDataset(out)
        step = args["chunk_items"]
        for first in range(0, len(ds), step):  # the first and last item of every chunk
            for i in (first, min(first + step, len(ds)) - 1):
                assert ds[i]["label"] == labels[i], (i, ds[i]["label"], labels[i])
        return {"images": len(paths), "seconds": elapsed, **common.dir_stats(out)}

    def shuffle_epoch(args: dict[str, Any]) -> dict[str, Any]:
        """One shuffled epoch of raw bytes into ``cache_dir`` (made empty by the caller,
        which samples its size); ``dataset_kwargs`` go to StreamingDataset."""
        kwargs = dict(args.get("dataset_kwargs") or {})
        info: dict[str, Any] = {}
        started = time.perf_counter()

        def loader() -> Any:
            ds = _dataset(ld, args, args["cache_dir"], shuffle=True, **kwargs)
            dl = ld.StreamingDataLoader(ds, batch_size=args["batch_size"], num_workers=args["workers"],
                                        collate_fn=_raw_collate)
            if getattr(ds, "shuffle_algo", None) == "block":
                info["block_size"] = ds.block_size()  # after any shrinking to the cache budget
            return dl

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = common.shuffle_epoch(loader, lambda b: b["label"].tolist(), args["batch_size"], start=started)
        return {**result, **info, "warnings": sorted({str(w.message) for w in caught})}

    def stream_images(args: dict[str, Any]) -> dict[str, Any]:
        transform = _decoded if args["decode"] else None
        kwargs = dict(args.get("dataset_kwargs") or {})  # e.g. shuffle_algo (ours only)
        with tempfile.TemporaryDirectory(dir=args["scratch"]) as cache:  # empty cache
            started = time.perf_counter()

            def loader() -> Any:
                ds = _dataset(ld, args, cache, shuffle=True, transform=transform, **kwargs)
                collate = None if args["decode"] else _raw_collate
                return ld.StreamingDataLoader(
                    ds, batch_size=args["batch_size"], num_workers=args["workers"], collate_fn=collate
                )

            return common.time_epochs(loader, args["epochs"], lambda b: len(b["label"]), start=started)

    def stream_tokens(args: dict[str, Any]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(dir=args["scratch"]) as cache:
            started = time.perf_counter()

            def loader() -> Any:
                ds = _dataset(ld, args, cache, shuffle=True, item_loader=ld.TokensLoader(block_size=args["block"]))
                return ld.StreamingDataLoader(ds, batch_size=args["batch_size"], num_workers=args["workers"])

            result = common.time_epochs(loader, args["epochs"], lambda b: b.numel(), start=started)
        return result

    def random_access(args: dict[str, Any]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(dir=args["scratch"]) as cache:
            ds = _dataset(ld, args, cache)
            return common.latencies(lambda i: ds[i], len(ds), args["samples"])

    return {
        "convert_images": convert_images,
        "convert_tokens": convert_tokens,
        "convert_classes": convert_classes,
        "shuffle_epoch": shuffle_epoch,
        "stream_images": stream_images,
        "stream_tokens": stream_tokens,
        "random_access": random_access,
    }
