import collections
import json

import pytest

from litdata_format import FormatError, TreeSpec, flatten, unflatten

Point = collections.namedtuple("Point", ["x", "y"])

ITEMS = [
    1,
    "leaf",
    {"index": 1, "image": b"x", "class": 3},
    (1, 2),
    [1, [2, (3, {"a": 4})]],
    {"nested": {"deeper": [1.5, "s"]}, "empty": [], "none": None},
    None,
    collections.OrderedDict([("b", 1), ("a", 2)]),
    {3: "int key", "s": "str key"},
    collections.deque([1, 2], maxlen=5),
]


@pytest.mark.parametrize("item", ITEMS, ids=repr)
def test_round_trip(item):
    leaves, spec = flatten(item)
    rebuilt = unflatten(leaves, TreeSpec.from_json(spec.to_json()))
    assert rebuilt == item
    assert type(rebuilt) is type(item)


def test_dict_spec_is_litdata_json_exactly():
    _, spec = flatten({"index": 1, "image": b"x", "class": 3})
    leaf = '{"type": null, "context": null, "children_spec": []}'
    assert spec.to_json() == (
        '[1, {"type": "builtins.dict", "context": "[\\"index\\", \\"image\\", \\"class\\"]", '
        f'"children_spec": [{leaf}, {leaf}, {leaf}]}}]'
    )


@pytest.mark.parametrize("item", ITEMS, ids=repr)
def test_spec_matches_torch_treespec_dumps(item):
    pytree = pytest.importorskip("torch.utils._pytree")
    torch_leaves, torch_spec = pytree.tree_flatten(item)
    leaves, spec = flatten(item)
    assert leaves == torch_leaves
    assert spec.to_json() == pytree.treespec_dumps(torch_spec)


def test_namedtuple_round_trips_when_importable_and_degrades_to_tuple_otherwise():
    leaves, spec = flatten(Point(1, 2))
    assert unflatten(leaves, spec) == Point(1, 2)
    assert type(unflatten(leaves, spec)) is Point
    foreign = TreeSpec("collections.namedtuple", json.dumps("nowhere.Missing"), spec.children)
    assert unflatten(leaves, foreign) == (1, 2)


@pytest.mark.parametrize(
    "text", ["not json", "[2, {}]", "[1, {\"type\": 1}]", "{}", '[1, {"type": "x.Unknown", "context": null, "children_spec": []}]']
)
def test_malformed_specs_raise_format_error(text):
    with pytest.raises(FormatError):
        spec = TreeSpec.from_json(text)
        unflatten([], spec)
