"""Resuming from checkpoints written by LitData 0.2.76's own ``StreamingDataLoader``.

The states and datasets in ``litdata_states/`` were written by LitData itself (see its
README): each scenario records the state, the samples LitData had yielded in that epoch
before saving it, and those the same uninterrupted run yielded after it. After loading
the state, our loader must yield exactly the latter (each once; the order may differ),
in the right epoch, and then a whole next epoch.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset

STATES = Path(__file__).parent / "litdata_states"
DATA = STATES / "data"
SCENARIOS = sorted(p.stem for p in STATES.glob("*.json"))
ITEMS = {"a": list(range(50)), "b": list(range(1000, 1030))}


def _relocated(value: Any, moves: dict[str, str]) -> Any:
    """``value`` with the dataset folders recorded at generation replaced by this checkout's."""
    if isinstance(value, str):
        return moves.get(value, value)
    if isinstance(value, dict):
        return {k: _relocated(v, moves) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocated(v, moves) for v in value]
    return value


def load_scenario(name: str) -> dict[str, Any]:
    scenario = json.loads((STATES / f"{name}.json").read_text())
    moves = {recorded: str(DATA / d) for d, recorded in scenario["dataset_dirs"].items()}
    scenario["ranks"] = _relocated(scenario["ranks"], moves)
    return scenario


def make_loader(spec: dict[str, Any], num_workers: int, batch_size: int | None = None,
                names: list[str] | None = None, **dataset_kwargs: Any) -> StreamingDataLoader:
    names = names or spec["datasets"]
    datasets = [StreamingDataset(str(DATA / d), shuffle=s, **dataset_kwargs) for d, s in zip(names, spec["shuffle"])]
    dataset = datasets[0] if len(datasets) == 1 else CombinedStreamingDataset(datasets)
    return StreamingDataLoader(dataset, batch_size=batch_size or spec["batch_size"], num_workers=num_workers)


def samples(batches: Any) -> list[int]:
    return [int(x) for batch in batches for x in batch]


def saved_epoch_and_rest(scenario: dict[str, Any]) -> tuple[int, Counter[int], set[int]]:
    """(our number of the checkpoint's epoch, what LitData yielded after it, before it), over all ranks."""
    ranks = scenario["ranks"]
    rest = Counter(x for rank in ranks for x in rank["rest"])
    consumed = {x for rank in ranks for x in rank["consumed"]}
    return ranks[0]["state"]["current_epoch"] - 1, rest, consumed


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("name", SCENARIOS)
def test_resume_yields_exactly_what_litdata_had_left(name, num_workers):
    scenario = load_scenario(name)
    spec = scenario["scenario"]
    epoch, rest, consumed = saved_epoch_and_rest(scenario)
    everything = Counter(x for d in spec["datasets"] for x in ITEMS[d])
    loader = make_loader(spec, num_workers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loader.load_state_dict(scenario["ranks"][0]["state"])
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning) and "LitData" in str(w.message)]
    if rest:
        assert len(notes) == 1 and "not in the order LitData" in notes[0]
        got = Counter(samples(loader))
        assert loader.current_epoch == epoch
        assert got == rest
        assert not set(got) & consumed
        if spec["world_size"] == 1:  # the recorded run covers the epoch (on two ranks drop_last drops two)
            assert rest + Counter(consumed) == everything
    else:  # saved after the epoch's last batch: nothing is left of it, and nothing to warn about
        assert notes == []
        epoch += 1
        assert Counter(samples(loader)) == everything
        assert loader.current_epoch == epoch
    assert Counter(samples(loader)) == everything  # then the next epoch, whole
    assert loader.current_epoch == epoch + 1


@pytest.mark.parametrize(("name", "batch_size", "per_rank"), [("plain_2ranks_w2_shuffled", 7, 14),
                                                                ("combined_w0", 5, 28)])
def test_a_state_resumes_on_two_ranks(monkeypatch, name, batch_size, per_rank):
    """Our two ranks, with another batch size, share what LitData's rank(s) had not served
    (two ranks of 5 batches of 2; one rank of a mixture)."""
    scenario = load_scenario(name)
    _, rest, _ = saved_epoch_and_rest(scenario)
    got: Counter[int] = Counter()
    for rank in (0, 1):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        loader = make_loader(scenario["scenario"], num_workers=0, batch_size=batch_size)
        with pytest.warns(UserWarning, match="LitData"):
            loader.load_state_dict(scenario["ranks"][0]["state"])
        mine = samples(loader)
        assert len(mine) == per_rank
        got.update(mine)
    assert got == rest


@pytest.mark.parametrize("name", ["plain_w2_shuffled", "combined_w2_shuffled"])
def test_our_state_saved_after_a_litdata_resume_resumes_the_rest(name):
    """Two batches after loading LitData's state, our own state carries on with the rest."""
    scenario = load_scenario(name)
    epoch, rest, _ = saved_epoch_and_rest(scenario)
    first = make_loader(scenario["scenario"], num_workers=0)
    with pytest.warns(UserWarning, match="LitData"):
        first.load_state_dict(scenario["ranks"][0]["state"])
    iterator = iter(first)
    head = samples([next(iterator), next(iterator)])
    ours = first.state_dict()
    assert ours["version"] == 2 and ours["epoch"] == epoch and ours["batches_consumed"] == 2
    second = make_loader(scenario["scenario"], num_workers=0)
    second.load_state_dict(json.loads(json.dumps(ours)))
    assert Counter(head + samples(second)) == rest


def test_worker_counts_of_a_mixture_may_have_int_keys():
    """``torch.save`` keeps LitData's per-worker counts under int keys (JSON makes them strings)."""
    scenario = load_scenario("combined_w2_shuffled")
    _, rest, _ = saved_epoch_and_rest(scenario)
    state = copy.deepcopy(scenario["ranks"][0]["state"])
    state["num_samples_yielded"] = {int(k): v for k, v in state["num_samples_yielded"].items()}
    state["dataset"] = {int(k): v for k, v in state["dataset"].items()}
    loader = make_loader(scenario["scenario"], num_workers=0)
    with pytest.warns(UserWarning, match="LitData"):
        loader.load_state_dict(state)
    assert Counter(samples(loader)) == rest


def test_a_state_saved_before_the_first_epoch_starts_at_the_beginning():
    scenario = load_scenario("plain_w0_stored")
    state = copy.deepcopy(scenario["ranks"][0]["state"])
    state.update(current_epoch=0, num_samples_yielded=0)
    loader = make_loader(scenario["scenario"], num_workers=0)
    loader.load_state_dict(state)
    assert samples(loader) == ITEMS["a"]
    assert loader.current_epoch == 0


def test_a_state_saved_before_the_first_epoch_is_still_checked():
    state = _state("plain_w0_stored")
    state.update(current_epoch=0, num_samples_yielded=0)
    loader = make_loader(load_scenario("plain_w0_stored")["scenario"], num_workers=0, names=["b"])
    with pytest.raises(ValueError, match=r"input_dir='.*/data/a', the dataset has input_dir='.*/data/b'"):
        loader.load_state_dict(state)


def _state(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_scenario(name)["ranks"][0]["state"])


def test_another_dataset_is_refused():
    spec = load_scenario("plain_w0_stored")["scenario"]
    loader = make_loader(spec, num_workers=0, names=["b"])
    with pytest.raises(ValueError, match=r"cannot resume .*/data/b: the LitData state was saved with "
                                         r"input_dir='.*/data/a', the dataset has input_dir='.*/data/b'"):
        loader.load_state_dict(_state("plain_w0_stored"))


@pytest.mark.parametrize(("key", "saved", "now"), [("shuffle", "True", "False"), ("seed", "42", "7")])
def test_another_order_is_refused(key, saved, now):
    spec = dict(load_scenario("plain_w2_shuffled")["scenario"])
    kwargs: dict[str, Any] = {}
    if key == "shuffle":
        spec["shuffle"] = [False]
    else:
        kwargs["seed"] = 7
    loader = make_loader(spec, num_workers=0, **kwargs)
    with pytest.raises(ValueError, match=rf"the LitData state was saved with {key}={saved}, the dataset has "
                                         rf"{key}={now}"):
        loader.load_state_dict(_state("plain_w2_shuffled"))


def test_a_subsampled_dataset_is_refused():
    loader = make_loader(load_scenario("plain_w0_stored")["scenario"], num_workers=0, subsample=0.5)
    with pytest.raises(ValueError, match=r"the dataset is subsampled or split \(25 of 50 items\)"):
        loader.load_state_dict(_state("plain_w0_stored"))


def test_other_chunks_are_refused():
    state = _state("plain_w0_stored")
    state["dataset"]["region_of_interest"][0] = [0, 3]
    loader = make_loader(load_scenario("plain_w0_stored")["scenario"], num_workers=0)
    with pytest.raises(ValueError, match=r"saved over other chunks or a subsample of them"):
        loader.load_state_dict(state)


def test_an_elastic_litdata_state_is_refused():
    state = _state("plain_w0_stored")
    state["dataset"]["resume_mode"] = "elastic"
    loader = make_loader(load_scenario("plain_w0_stored")["scenario"], num_workers=0)
    with pytest.raises(ValueError, match=r"resume_mode='elastic'"):
        loader.load_state_dict(state)


def test_a_mixture_state_into_one_dataset_and_back_is_refused():
    combined = load_scenario("combined_w0")["scenario"]
    plain = load_scenario("plain_w0_stored")["scenario"]
    with pytest.raises(ValueError, match=r"saved from a CombinedStreamingDataset"):
        make_loader(plain, num_workers=0).load_state_dict(_state("combined_w0"))
    with pytest.raises(ValueError, match=r"CombinedStreamingDataset from this LitData state: it was saved from a "
                                         r"StreamingDataset"):
        make_loader(combined, num_workers=0).load_state_dict(_state("plain_w0_stored"))


def test_a_mixture_of_other_datasets_is_refused():
    spec = dict(load_scenario("combined_w0")["scenario"])
    loader = make_loader(spec, num_workers=0, names=["b", "a"])
    with pytest.raises(ValueError, match=r"input_dir='.*/data/a', the dataset has input_dir='.*/data/b'"):
        loader.load_state_dict(_state("combined_w0"))


def test_a_count_beyond_the_epoch_is_refused():
    state = _state("plain_w0_stored")
    state["dataset"]["num_samples_yielded"] = 60
    loader = make_loader(load_scenario("plain_w0_stored")["scenario"], num_workers=0)
    with pytest.raises(ValueError, match=r"counts 60 samples served, more than the 50 of a rank's epoch"):
        loader.load_state_dict(state)
