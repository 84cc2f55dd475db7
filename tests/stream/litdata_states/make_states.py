"""Write real LitData 0.2.76 ``StreamingDataLoader`` checkpoints for our resume tests.

Runs in the LitData venv (see README.md). It optimizes two small datasets of ints with
LitData's own ``optimize`` into ``data/``, then, for each scenario below, iterates a
LitData loader part way through an epoch, saves ``loader.state_dict()`` and goes on to
the end of that epoch, recording which samples it yielded before and after the
checkpoint. A scenario over several ranks runs one process per rank (LitData reads
``WORLD_SIZE`` and ``GLOBAL_RANK``). Each scenario is written to ``<name>.json``:

``{"scenario": {...}, "dataset_dirs": {"a": "<absolute path when written>"},
"ranks": [{"rank": 0, "state": <state_dict>, "consumed": [...], "rest": [...]}]}``

``consumed``: the samples of the checkpoint's epoch yielded before ``state_dict()``;
``rest``: those the same, uninterrupted run yielded after it, up to the epoch's end.

Usage: ``make_states.py [--rewrite-data] [NAME ...]`` (``data/`` is written only when
missing or asked for; then every scenario, or those named).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

#: name -> (number of items, first item, chunk_size): items are the ints first .. first+n-1.
DATASETS = {"a": (50, 0, 7), "b": (30, 1000, 4)}

#: name -> how the loader runs. ``datasets``: one name (a StreamingDataset) or several (a
#: CombinedStreamingDataset); ``shuffle`` per dataset; ``epochs_before``: whole epochs run
#: before the checkpoint's epoch; ``batches``: batches of that epoch yielded before it;
#: ``litdata_kwargs``: more arguments of LitData's ``StreamingDataset``.
SCENARIOS: dict[str, dict[str, Any]] = {
    "plain_w0_stored": {"datasets": ["a"], "shuffle": [False], "num_workers": 0, "batch_size": 4,
                        "epochs_before": 0, "batches": 5, "world_size": 1},
    "plain_w2_stored": {"datasets": ["a"], "shuffle": [False], "num_workers": 2, "batch_size": 4,
                        "epochs_before": 0, "batches": 3, "world_size": 1},
    "plain_w0_shuffled_epoch2": {"datasets": ["a"], "shuffle": [True], "num_workers": 0, "batch_size": 4,
                                 "epochs_before": 1, "batches": 3, "world_size": 1},
    "plain_w2_shuffled": {"datasets": ["a"], "shuffle": [True], "num_workers": 2, "batch_size": 3,
                          "epochs_before": 0, "batches": 7, "world_size": 1},
    "plain_2ranks_w2_shuffled": {"datasets": ["a"], "shuffle": [True], "num_workers": 2, "batch_size": 2,
                                 "epochs_before": 0, "batches": 5, "world_size": 2},
    "plain_w0_epoch_end": {"datasets": ["a"], "shuffle": [True], "num_workers": 0, "batch_size": 4,
                           "epochs_before": 0, "batches": 13, "world_size": 1},
    "plain_w3_shuffled_window3": {"datasets": ["a"], "shuffle": [True], "num_workers": 3, "batch_size": 2,
                                  "epochs_before": 0, "batches": 5, "world_size": 1,
                                  "litdata_kwargs": {"item_shuffle_window": 3}},
    "combined_w0": {"datasets": ["a", "b"], "shuffle": [False, True], "num_workers": 0, "batch_size": 4,
                    "epochs_before": 0, "batches": 6, "world_size": 1},
    "combined_w2_shuffled": {"datasets": ["a", "b"], "shuffle": [True, True], "num_workers": 2, "batch_size": 3,
                             "epochs_before": 0, "batches": 9, "world_size": 1},
}


def _item(first: int, index: int) -> int:
    return first + index


def write_datasets() -> None:
    """The datasets, written anew (their index records the time: rewritten only when asked)."""
    import functools

    import litdata

    shutil.rmtree(DATA, ignore_errors=True)
    for name, (count, first, chunk_size) in DATASETS.items():
        litdata.optimize(fn=functools.partial(_item, first), inputs=list(range(count)),
                         output_dir=os.path.join(DATA, name), chunk_size=chunk_size, num_workers=1, verbose=False)


def _flat(batch: Any) -> list[int]:
    return [int(x) for x in batch]


def run_rank(name: str) -> dict[str, Any]:
    """One rank of scenario ``name`` (the rank and world size come from the environment)."""
    from litdata import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset

    spec = SCENARIOS[name]
    # A fixed cache folder: the state records it, and a rerun then writes the same file.
    cache = os.path.join(tempfile.gettempdir(), "litdata-states-cache", name, os.environ.get("GLOBAL_RANK", "0"))
    shutil.rmtree(cache, ignore_errors=True)
    try:
        datasets = [StreamingDataset(os.path.join(DATA, d), cache_dir=os.path.join(cache, d), shuffle=s,
                                     **spec.get("litdata_kwargs", {}))
                    for d, s in zip(spec["datasets"], spec["shuffle"])]
        dataset = datasets[0] if len(datasets) == 1 else CombinedStreamingDataset(datasets)
        loader = StreamingDataLoader(dataset, batch_size=spec["batch_size"], num_workers=spec["num_workers"])
        for _ in range(spec["epochs_before"]):
            for _ in loader:
                pass
        consumed: list[int] = []
        rest: list[int] = []
        state = None
        for number, batch in enumerate(loader):
            (consumed if state is None else rest).extend(_flat(batch))
            if number + 1 == spec["batches"]:  # LitData counts a batch as yielded once it is handed out
                state = loader.state_dict()
        if state is None:  # the checkpoint falls after the epoch's last batch
            state = loader.state_dict()
        return {"rank": int(os.environ.get("GLOBAL_RANK", "0")), "state": state, "consumed": consumed, "rest": rest}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def write_scenario(name: str) -> None:
    spec = SCENARIOS[name]
    ranks = []
    for rank in range(spec["world_size"]):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LITDATA_")}
        env.update(WORLD_SIZE=str(spec["world_size"]), GLOBAL_RANK=str(rank), PYTHONHASHSEED="0")
        out = subprocess.run([sys.executable, __file__, "--rank", name], env=env, check=True,
                             capture_output=True, text=True).stdout
        ranks.append(json.loads(out.strip().splitlines()[-1]))
    result = {"scenario": spec, "dataset_dirs": {d: os.path.join(DATA, d) for d in spec["datasets"]},
              "ranks": ranks}
    with open(os.path.join(HERE, f"{name}.json"), "w") as file:
        json.dump(result, file, indent=1, sort_keys=True)
        file.write("\n")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--rank"]:
        print(json.dumps(run_rank(argv[1])))
        return
    if "--rewrite-data" in argv or not os.path.isdir(DATA):
        write_datasets()
    for name in [a for a in argv if not a.startswith("--")] or list(SCENARIOS):
        write_scenario(name)
        print("wrote", name)


if __name__ == "__main__":
    main(sys.argv[1:])
