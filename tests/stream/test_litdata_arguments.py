"""LitData 0.2.76's StreamingDataset / StreamingDataLoader / CombinedStreamingDataset
arguments, each with the behaviour LitData documents (or the documented difference)."""

from __future__ import annotations

import json
import os
import pickle
import pstats
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from litdata_format import INDEX_FILENAME, PickleNotAllowedError, write_dataset
from litdata_format.serializers import StringSerializer
from litdata_storage import CredentialsError
from litdata_stream import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset, inert_options
from litdata_stream.cache_budget import RESERVE_BYTES, _free_bytes
from litdata_stream.session_options import merge_session_options

VECTORS = Path(__file__).resolve().parents[1] / "format" / "vectors" / "data"


def firsts(batches) -> list[int]:
    return [x for b in batches for x in b[0].tolist()]


@pytest.fixture
def numbers(tmp_path):
    """(i, f"s{i}") for i < 200, four chunks of 50."""
    path = tmp_path / "numbers"
    write_dataset(path, [(i, f"s{i}") for i in range(200)], chunk_size=50)
    return str(path)


@pytest.fixture
def fresh_warnings(monkeypatch):
    """The warn-once arguments warn again in this test."""
    monkeypatch.setattr(inert_options, "_WARNED", set())


# -- serializers ---------------------------------------------------------------------
class TimesTen:
    """A LitData-style serializer (serialize / deserialize / can_serialize) for int leaves."""

    def serialize(self, item):
        return np.int64(item).tobytes(), None

    def deserialize(self, data):
        assert isinstance(data, bytes)
        return int(np.frombuffer(data, np.int64)[0]) * 10

    def can_serialize(self, item):
        return isinstance(item, int)


class NamedStr:
    """Remembers the data_format it was set up with, as LitData's setup(data_format) allows."""

    def __init__(self):
        self.data_format = None

    def setup(self, data_format):
        self.data_format = data_format

    def serialize(self, item):
        return item.encode(), None

    def deserialize(self, data):
        return f"{self.data_format}|{data.decode()}"

    def can_serialize(self, item):
        return isinstance(item, str)


class RawBytes:
    def serialize(self, item):
        return item, None

    def deserialize(self, data):
        return ("raw", data)

    def can_serialize(self, item):
        return False


def test_serializers_replace_the_builtin_of_their_name(numbers):
    ds = StreamingDataset(numbers, serializers={"int": TimesTen(), "str": NamedStr()})
    assert ds[:] == [(10 * i, f"str|s{i}") for i in range(200)]
    # real forked workers decode with the same serializers
    batches = list(StreamingDataLoader(ds, batch_size=30, num_workers=2))
    assert firsts(batches) == [10 * i for i in range(200)]
    assert [s for b in batches for s in b[1]] == [f"str|s{i}" for i in range(200)]
    # the leaves of other names keep the built-in serializers
    assert StreamingDataset(numbers, serializers={"str": NamedStr()})[7] == (7, "str|s7")


def test_serializers_look_up_a_format_argument_first_then_its_name():
    """LitData's media dataset: ('video:mp4', 'image:png', 'tifffile') leaves."""
    expected = json.loads((VECTORS / "media_paths" / "expected.json").read_text())["items"]
    mp4 = [__import__("base64").b64decode(item["$tuple"][0]["$media"]["data"]) for item in expected]
    ds = StreamingDataset(VECTORS / "media_paths", serializers={"mp4": RawBytes()})
    items = ds[:]
    assert [item[0] for item in items] == [("raw", data) for data in mp4]
    assert all(not isinstance(item[1], tuple) for item in items)  # image:png: the built-in serializer
    by_name = StreamingDataset(VECTORS / "media_paths", serializers={"video": RawBytes(), "image": RawBytes()})
    assert [item[0] for item in by_name[:]] == [("raw", data) for data in mp4]
    assert all(item[1][0] == "raw" for item in by_name[:])


def test_serializers_accept_our_serializer_objects_and_refuse_others(numbers):
    class Upper(StringSerializer):
        def decoder(self, data_format, *, allow_pickle=False):
            return lambda data: bytes(data).decode().upper()

    assert StreamingDataset(numbers, serializers={"str": Upper()})[3] == (3, "S3")
    with pytest.raises(TypeError, match=r"serializers\['int'\] must be a serializer"):
        StreamingDataset(numbers, serializers={"int": object()})
    with pytest.raises(TypeError, match="serializers must be a dict"):
        StreamingDataset(numbers, serializers=[TimesTen()])
    with pytest.raises(ValueError, match="without ':'"):
        StreamingDataset(numbers, serializers={"no_header_numpy:9": TimesTen()})


# -- index_path ----------------------------------------------------------------------
def test_index_path_reads_an_index_kept_apart_from_the_chunks(numbers, tmp_path):
    elsewhere = tmp_path / "indexes" / "numbers"
    elsewhere.mkdir(parents=True)
    shutil.move(os.path.join(numbers, INDEX_FILENAME), elsewhere / INDEX_FILENAME)
    with pytest.raises(FileNotFoundError, match="index.json"):
        StreamingDataset(numbers)
    expected = [(i, f"s{i}") for i in range(200)]
    for index_path in (elsewhere, elsewhere / INDEX_FILENAME, str(elsewhere), f"file://{elsewhere}/index.json"):
        ds = StreamingDataset(numbers, index_path=index_path)
        assert ds[:] == expected
    assert sorted(firsts(StreamingDataLoader(StreamingDataset(numbers, index_path=str(elsewhere), shuffle=True),
                                             batch_size=16, num_workers=2))) == list(range(200))
    assert sorted(os.listdir(numbers)) == [f"chunk-0-{k}.bin" for k in range(4)]  # nothing written there
    with pytest.raises(FileNotFoundError, match="Index file not found"):
        StreamingDataset(numbers, index_path=tmp_path / "indexes")


def test_index_path_wins_over_the_index_of_input_dir(numbers, tmp_path):
    other = tmp_path / "half"
    write_dataset(other, [(i, f"s{i}") for i in range(100)], chunk_size=50)  # same chunks, first two
    assert len(StreamingDataset(numbers, index_path=other / INDEX_FILENAME)) == 100


# -- session_options -----------------------------------------------------------------
def test_session_options_become_s3_store_options_under_storage_options():
    merged = merge_session_options(
        "s3://bucket/data", {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1"},
        {"profile_name": "training", "region_name": "us-east-2", "aws_access_key_id": "AK"},
    )
    assert merged == {"profile": "training", "region_name": "eu-west-1", "aws_access_key_id": "AK",
                      "endpoint_url": "http://127.0.0.1:9"}
    with pytest.raises(TypeError, match="unexpected boto3.Session argument 'regoin_name'"):
        merge_session_options("s3://bucket/data", None, {"regoin_name": "x"})
    with pytest.raises(TypeError, match="botocore_session is not supported"):
        merge_session_options("s3://bucket/data", None, {"botocore_session": object()})


def test_session_options_change_nothing_for_a_local_dataset(numbers):
    with pytest.warns(UserWarning, match="session_options configure S3 sessions only"):
        ds = StreamingDataset(numbers, session_options={"profile_name": "x"})
    assert ds[0] == (0, "s0")


def test_session_options_carry_the_credentials_of_an_s3_dataset(s3_target, tmp_path, monkeypatch):
    local = tmp_path / "local"
    write_dataset(local, [(i, f"s{i}") for i in range(40)], chunk_size=8)
    store = s3_target.open("data")
    for name in sorted(os.listdir(local), key=lambda n: n == INDEX_FILENAME):
        store.put_file(name, local / name)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    server = s3_target.server
    (tmp_path / "aws-credentials").write_text(
        f"[litdata-test]\naws_access_key_id = {server.access_key}\naws_secret_access_key = {server.secret_key}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    url = f"{s3_target.url}/data"
    endpoint = {"endpoint_url": server.endpoint_url}
    with pytest.raises(CredentialsError):  # the default profile of that file has no keys
        StreamingDataset(url, storage_options=endpoint)
    by_profile = StreamingDataset(url, storage_options=endpoint,
                                  session_options={"profile_name": "litdata-test", "region_name": "us-east-1"})
    assert sorted(firsts(StreamingDataLoader(by_profile, batch_size=8, num_workers=2))) == list(range(40))
    by_keys = StreamingDataset(url, storage_options=endpoint, session_options={
        "aws_access_key_id": server.access_key, "aws_secret_access_key": server.secret_key})
    assert by_keys[39] == (39, "s39")


# -- force_override_state_dict -------------------------------------------------------
def _state_after(loader, batches: int):
    it = iter(loader)
    served = [next(it) for _ in range(batches)]
    return served, loader.state_dict()


def test_force_override_state_dict_resumes_a_state_of_another_seed(numbers):
    first = StreamingDataLoader(StreamingDataset(numbers, shuffle=True, seed=1), batch_size=10)
    _, state = _state_after(first, 3)
    with pytest.raises(ValueError, match="seed"):
        StreamingDataLoader(StreamingDataset(numbers, shuffle=True, seed=2), batch_size=10).load_state_dict(state)
    resumed = StreamingDataLoader(StreamingDataset(numbers, shuffle=True, seed=2, force_override_state_dict=True),
                                  batch_size=10, num_workers=2)
    with pytest.warns(UserWarning, match=r"force_override_state_dict.*seed 1 -> 2"):
        resumed.load_state_dict(state)
        rest = firsts(resumed)
    uninterrupted = firsts(StreamingDataLoader(StreamingDataset(numbers, shuffle=True, seed=2), batch_size=10))
    assert rest == uninterrupted[30:]  # the position kept, the dataset's own order


def test_force_override_state_dict_resumes_a_state_of_another_size(numbers, tmp_path):
    _, state = _state_after(StreamingDataLoader(StreamingDataset(numbers), batch_size=10), 3)
    smaller = tmp_path / "smaller"
    write_dataset(smaller, [(i, f"s{i}") for i in range(150)], chunk_size=50)
    with pytest.raises(ValueError, match="num_items"):
        StreamingDataLoader(StreamingDataset(smaller), batch_size=10).load_state_dict(state)
    resumed = StreamingDataLoader(StreamingDataset(smaller, force_override_state_dict=True), batch_size=10)
    with pytest.warns(UserWarning, match="num_items 200 -> 150"):
        resumed.load_state_dict(state)
        rest = firsts(resumed)
    assert rest == list(range(30, 150))


def _mixture(paths, **kwargs):
    return CombinedStreamingDataset([StreamingDataset(p) for p in paths], **kwargs)


@pytest.fixture
def three(tmp_path):
    paths = []
    for k in range(3):
        path = tmp_path / f"part{k}"
        write_dataset(path, [(1000 * k + i, "x") for i in range(60)], chunk_size=20)
        paths.append(str(path))
    return paths


def test_combined_force_override_state_dict_accepts_other_weights(three):
    loader = StreamingDataLoader(_mixture(three[:2], weights=[1, 1], iterate_over_all=True), batch_size=10)
    served, state = _state_after(loader, 4)
    with pytest.raises(ValueError, match="weights"):
        StreamingDataLoader(_mixture(three[:2], weights=[3, 1], iterate_over_all=True),
                            batch_size=10).load_state_dict(state)
    resumed = StreamingDataLoader(_mixture(three[:2], weights=[3, 1], iterate_over_all=True,
                                           force_override_state_dict=True), batch_size=10)
    with pytest.warns(UserWarning, match=r"weights \[1.0, 1.0\] -> \[3.0, 1.0\]"):
        resumed.load_state_dict(state)
        rest = firsts(resumed)
    # each dataset continues from what it had served: every item once, none repeated
    assert sorted(firsts(served) + rest) == [*range(60), *range(1000, 1060)]


def test_combined_force_override_state_dict_accepts_datasets_added_at_the_end(three):
    served, state = _state_after(StreamingDataLoader(_mixture(three[:2]), batch_size=10), 5)
    with pytest.raises(ValueError, match="cannot resume: the state was saved with weights"):
        StreamingDataLoader(_mixture(three), batch_size=10).load_state_dict(state)
    resumed = StreamingDataLoader(_mixture(three, force_override_state_dict=True), batch_size=10, num_workers=2)
    with pytest.warns(UserWarning, match=r"1 dataset\(s\) added"):
        resumed.load_state_dict(state)
        rest = firsts(resumed)
    assert sorted(firsts(served) + rest) == [*range(60), *range(1000, 1060), *range(2000, 2060)]
    assert sorted(x for x in rest if x >= 2000) == list(range(2000, 2060))  # the new one from its start
    _, bigger = _state_after(StreamingDataLoader(_mixture(three), batch_size=10), 1)
    with pytest.raises(ValueError, match="only be added at the end"):
        StreamingDataLoader(_mixture(three[:2], force_override_state_dict=True), batch_size=10).load_state_dict(bigger)


def test_combined_with_weights_stops_at_the_first_exhausted_dataset_by_default(three):
    mixture = _mixture(three[:2], weights=[0.5, 0.5])
    assert mixture.iterate_over_all is False
    items = firsts(StreamingDataLoader(mixture, batch_size=1))
    assert len(items) < 120
    assert len([x for x in items if x < 1000]) == 60 or len([x for x in items if x >= 1000]) == 60


# -- item_shuffle_window -------------------------------------------------------------
def test_item_shuffle_window_shuffles_aligned_windows_inside_each_chunk(numbers):
    ds = StreamingDataset(numbers, shuffle=True, item_shuffle_window=10)
    order = [item[0] for item in ds]
    assert sorted(order) == list(range(200)) and order != list(range(200))
    for start in range(0, 200, 50):  # chunk after chunk
        assert len({x // 50 for x in order[start:start + 50]}) == 1
    for start in range(0, 200, 10):  # each window of 10 stored items read together, shuffled
        window = order[start:start + 10]
        assert sorted(window) == list(range(window[0] // 10 * 10, window[0] // 10 * 10 + 10))
    windows = [[order[k] // 10 for k in range(start, start + 50, 10)] for start in range(0, 200, 50)]
    assert any(w != sorted(w) for w in windows)  # the windows of a chunk come in a random order
    ds.set_epoch(1)
    assert [item[0] for item in ds] != order  # a new order each epoch
    again = [item[0] for item in StreamingDataset(numbers, shuffle=True, item_shuffle_window=10)]
    assert again == order  # fixed by the seed


@pytest.mark.parametrize("window", ["full", 0, "auto", 1000])
def test_item_shuffle_window_full_or_larger_than_a_chunk_permutes_whole_chunks(numbers, window):
    order = [item[0] for item in StreamingDataset(numbers, shuffle=True, item_shuffle_window=window)]
    assert sorted(order) == list(range(200))
    for start in range(0, 200, 50):
        assert sorted(order[start:start + 50]) == list(range(order[start] // 50 * 50, order[start] // 50 * 50 + 50))
    assert any(sorted(order[s:s + 10]) != order[s:s + 10] for s in range(0, 200, 10))


def test_item_shuffle_window_is_checked_and_part_of_the_state(numbers):
    with pytest.raises(ValueError, match="item_shuffle_window must be a number of items"):
        StreamingDataset(numbers, item_shuffle_window=-1)
    with pytest.raises(ValueError, match="item_shuffle_window must be a number of items"):
        StreamingDataset(numbers, item_shuffle_window="wide")
    _, state = _state_after(StreamingDataLoader(StreamingDataset(numbers, shuffle=True, item_shuffle_window=10),
                                                batch_size=10), 2)
    with pytest.raises(ValueError, match="item_shuffle_window=10"):
        StreamingDataLoader(StreamingDataset(numbers, shuffle=True, item_shuffle_window=20),
                            batch_size=10).load_state_dict(state)
    resumed = StreamingDataLoader(StreamingDataset(numbers, shuffle=True, item_shuffle_window=10), batch_size=10)
    resumed.load_state_dict(state)
    uninterrupted = firsts(StreamingDataLoader(StreamingDataset(numbers, shuffle=True, item_shuffle_window=10),
                                               batch_size=10))
    assert firsts(resumed) == uninterrupted[20:]


# -- arguments that change nothing here ----------------------------------------------
def test_batch_decode_is_checked_accepted_and_changes_no_item(numbers, fresh_warnings):
    expected = [(i, f"s{i}") for i in range(200)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert StreamingDataset(numbers, batch_decode="auto")[:] == expected
    with pytest.warns(UserWarning, match="batch_decode=0 changes nothing here"):
        assert StreamingDataset(numbers, batch_decode=0)[:] == expected
    with warnings.catch_warnings():  # once per process
        warnings.simplefilter("error")
        for value in ("all", 8, True, -1):
            assert StreamingDataset(numbers, batch_decode=value)[:] == expected
    with pytest.raises(ValueError, match="batch_decode must be"):
        StreamingDataset(numbers, batch_decode="sometimes")
    with pytest.raises(TypeError, match="batch_decode must be"):
        StreamingDataset(numbers, batch_decode=1.5)


def test_num_canonical_nodes_is_accepted_and_changes_no_order(numbers, fresh_warnings):
    plain = [item[0] for item in StreamingDataset(numbers, shuffle=True)]
    with pytest.warns(UserWarning, match="num_canonical_nodes=4 changes nothing here"):
        ds = StreamingDataset(numbers, shuffle=True, num_canonical_nodes=4)
    assert [item[0] for item in ds] == plain
    with pytest.raises(ValueError, match="num_canonical_nodes must be a positive int"):
        StreamingDataset(numbers, num_canonical_nodes=0)


def test_window_direct_io_must_be_a_bool_and_changes_nothing(numbers, fresh_warnings):
    with pytest.raises(ValueError, match="window_direct_io must be a boolean"):
        StreamingDataset(numbers, window_direct_io="yes")
    with pytest.warns(UserWarning, match="window_direct_io=True changes nothing here"):
        ds = StreamingDataset(numbers, window_direct_io=True)
    assert firsts(StreamingDataLoader(ds, batch_size=50)) == list(range(200))


# -- max_cache_size, cache_dir, item_loader, drop_last, transform, allow_pickle --------
def test_max_cache_size_takes_sizes_fractions_and_none(numbers, tmp_path, monkeypatch):
    monkeypatch.delenv("MAX_CACHE_SIZE", raising=False)
    cache = tmp_path / "cache"
    assert StreamingDataset(numbers, cache_dir=cache, max_cache_size="100G").max_cache_bytes == 100 * 1000**3
    assert StreamingDataset(numbers, cache_dir=cache, max_cache_size="50GB").max_cache_bytes == 50 * 1000**3
    assert StreamingDataset(numbers, cache_dir=cache, max_cache_size=12345).max_cache_bytes == 12345
    free = _free_bytes(str(cache))
    for value in (0.5, "0.5"):
        budget = StreamingDataset(numbers, cache_dir=cache, max_cache_size=value).max_cache_bytes
        assert abs(budget - free * 0.5) < 0.01 * free
    budget = StreamingDataset(numbers, cache_dir=cache, max_cache_size=None).max_cache_bytes
    rule = min(free * 0.75, free - RESERVE_BYTES) if free > RESERVE_BYTES else free * 0.75
    assert abs(budget - rule) < 0.01 * free
    monkeypatch.setenv("MAX_CACHE_SIZE", "2GB")  # the environment wins, as in LitData
    assert StreamingDataset(numbers, cache_dir=cache, max_cache_size="100G").max_cache_bytes == 2 * 1000**3
    monkeypatch.delenv("MAX_CACHE_SIZE")
    with pytest.raises(ValueError, match="fraction of free disk must be in"):
        StreamingDataset(numbers, max_cache_size=1.5)
    with pytest.raises(TypeError, match="max_cache_size must be"):
        StreamingDataset(numbers, max_cache_size=True)


def test_cache_dir_holds_the_chunks_of_a_copied_dataset(numbers, tmp_path):
    cache = tmp_path / "my-cache"
    ds = StreamingDataset(f"local:{numbers}", cache_dir=cache)  # a PathLike, as LitData's str
    assert firsts(StreamingDataLoader(ds, batch_size=50)) == list(range(200))
    copied = sorted(name for _, _, files in os.walk(cache) for name in files if name.endswith(".bin"))
    assert copied == [f"chunk-0-{k}.bin" for k in range(4)]


class TokensLoader:
    """The shape of LitData's ``litdata.streaming.item_loader.TokensLoader``."""

    def __init__(self, block_size=None):
        self._block_size = block_size

    def state_dict(self):
        return {"block_size": self._block_size}


class PyTreeLoader:
    """The shape of LitData's default ``PyTreeLoader``."""


class ParquetLoader:
    pass


def test_item_loader_accepts_litdata_loader_objects(numbers):
    expected = json.loads((VECTORS / "tokens" / "expected.json").read_text())
    blocks = StreamingDataset(VECTORS / "tokens", item_loader=TokensLoader(block_size=8))
    assert len(blocks) == len(expected["items"])
    assert pickle.loads(pickle.dumps(blocks.item_loader)).block_size == 8
    assert StreamingDataset(numbers, item_loader=PyTreeLoader())[5] == (5, "s5")
    with pytest.raises(TypeError, match="got ParquetLoader"):
        StreamingDataset(numbers, item_loader=ParquetLoader())


def test_drop_last_defaults_to_distributed_training(numbers, monkeypatch):
    assert [len(b[0]) for b in StreamingDataLoader(StreamingDataset(numbers), batch_size=30)] == [30] * 6 + [20]
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    assert [len(b[0]) for b in StreamingDataLoader(StreamingDataset(numbers), batch_size=30)] == [30, 30]


def test_transform_may_be_a_list_applied_in_order(numbers):
    ds = StreamingDataset(numbers, transform=[lambda item: item[0], lambda x: x * 2, str])
    assert ds[:] == [str(2 * i) for i in range(200)]
    with pytest.raises(ValueError, match="Transform should be a callable"):
        StreamingDataset(numbers, transform=[str, "upper"])


def test_litdata_pickle_leaves_need_allow_pickle():
    """LitData unpickles without asking; here the error names the switch."""
    ds = StreamingDataset(VECTORS / "pickle")
    with pytest.raises(PickleNotAllowedError, match="pass allow_pickle=True"):
        ds[0]
    from decimal import Decimal

    assert StreamingDataset(VECTORS / "pickle", allow_pickle=True)[0] == {"s": {1, 2, 3}, "d": Decimal("1.5"),
                                                                          "f": frozenset({"a"})}


# -- StreamingDataLoader -------------------------------------------------------------
def test_loader_positional_arguments_follow_torch(numbers):
    assert [len(b[0]) for b in StreamingDataLoader(StreamingDataset(numbers), 40)] == [40] * 5
    with pytest.raises(TypeError, match="multiple values for argument 'batch_size'"):
        StreamingDataLoader(StreamingDataset(numbers), 40, batch_size=10)
    with pytest.raises(ValueError, match="remove sampler/batch_sampler"):
        StreamingDataLoader(StreamingDataset(numbers), 40, None, [0, 1])


def test_loader_prefetch_factor(numbers):
    loader = StreamingDataLoader(StreamingDataset(numbers), batch_size=20, num_workers=2, prefetch_factor=4)
    assert loader.prefetch_factor == 4
    assert firsts(loader) == list(range(200))
    assert StreamingDataLoader(StreamingDataset(numbers), batch_size=20, num_workers=2).prefetch_factor == 2
    with pytest.raises(ValueError, match="prefetch_factor"):
        StreamingDataLoader(StreamingDataset(numbers), batch_size=20, num_workers=0, prefetch_factor=2)


def test_loader_drop_last_is_the_datasets(numbers, monkeypatch, three):
    ds = StreamingDataset(numbers)
    assert [len(b[0]) for b in StreamingDataLoader(ds, batch_size=30, drop_last=True)] == [30] * 6
    assert ds.drop_last is True
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    padded = list(StreamingDataLoader(StreamingDataset(numbers), batch_size=30, drop_last=False))
    assert [len(b[0]) for b in padded] == [30, 30, 7]  # 67 samples, the last one repeating the first
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    mixture = _mixture(three[:2])  # 120 samples
    sizes = [len(b[0]) for b in StreamingDataLoader(mixture, batch_size=50, drop_last=True)]
    assert sizes == [50, 50] and all(d.drop_last for d in mixture.datasets)


def test_profile_batches_skips_then_traces_that_many_batches(numbers, tmp_path):
    def collates(folder):
        trace = json.loads((folder / "result.json").read_text())
        return [e for e in trace["traceEvents"] if e["name"] == "collate"]

    loader = StreamingDataLoader(StreamingDataset(numbers), batch_size=20, profile_batches=2,
                                 profile_skip_batches=3, profile_dir=str(tmp_path / "skip"))
    it = iter(loader)
    for _ in range(4):
        next(it)
    assert not (tmp_path / "skip" / "result.json").exists()
    next(it)
    assert len(collates(tmp_path / "skip")) == 2  # batches 4 and 5
    list(it)
    whole = StreamingDataLoader(StreamingDataset(numbers), batch_size=20, profile_batches=True,
                                profile_dir=str(tmp_path / "all"))
    assert len(list(whole)) == 10
    assert len(collates(tmp_path / "all")) == 10
    with pytest.raises(ValueError, match="profile_skip_batches"):
        StreamingDataLoader(StreamingDataset(numbers), profile_batches=2, profile_skip_batches=-1)


def _functions(path) -> set[str]:
    return {name for (_, _, name) in pstats.Stats(str(path)).stats}


def test_profile_cprofile_writes_stats_of_the_loop_and_of_worker_zero(numbers, tmp_path):
    tmp_path = tmp_path / "profiles"
    loader = StreamingDataLoader(StreamingDataset(numbers), batch_size=20, num_workers=2, profile_cprofile=True,
                                 profile_dir=str(tmp_path))
    assert firsts(loader) == list(range(200))
    names = sorted(os.listdir(tmp_path))
    assert names == ["cprofile_main.prof", "cprofile_main.txt", "cprofile_worker0.prof", "cprofile_worker0.txt"]
    assert "read_item" in _functions(tmp_path / "cprofile_worker0.prof")  # the worker's reads
    assert "restore_tensors" in _functions(tmp_path / "cprofile_main.prof")  # the loop's own work
    assert "tottime" in (tmp_path / "cprofile_main.txt").read_text()
    in_process = tmp_path / "in-process"
    list(StreamingDataLoader(StreamingDataset(numbers), batch_size=20, profile_cprofile=True,
                             profile_dir=str(in_process)))
    assert sorted(os.listdir(in_process)) == ["cprofile_main.prof", "cprofile_main.txt"]
    assert "read_item" in _functions(in_process / "cprofile_main.prof")
    with pytest.raises(ValueError, match="enable only one of them"):
        StreamingDataLoader(StreamingDataset(numbers), num_workers=1, profile_batches=2, profile_cprofile=True)


def test_tokens_loader_encode_data_keeps_the_bytes_and_counts_tokens():
    from litdata_stream import TokensLoader as Ours

    tokens = np.arange(11, dtype=np.int32)
    assert Ours.encode_data([tokens.tobytes()], [44], [tokens]) == (tokens.tobytes(), 11)
    assert Ours.encode_data([b"\x01\x02"], [2], [[1, 2]]) == (b"\x01\x02", 2)
