"""The plan: tasks, contiguous shares, size-balanced shares."""

from __future__ import annotations

import pytest

from litdata_writer.partition import (
    Task,
    balanced_shares,
    contiguous_shares,
    file_sizes,
    make_tasks,
    plan_shares,
)


def test_contiguous_shares_cover_everything_in_order():
    for n in range(0, 30):
        for world in range(1, 9):
            shares = contiguous_shares(n, world)
            assert [i for share in shares for i in share] == list(range(n))
            assert max(map(len, shares)) - min(map(len, shares)) <= 1
            assert [len(s) for s in shares] == sorted(len(s) for s in shares)  # the last take the extra


def test_contiguous_shares_split_as_litdata():
    assert contiguous_shares(5, 2) == [range(0, 2), range(2, 5)]
    assert contiguous_shares(7, 3) == [range(0, 2), range(2, 4), range(4, 7)]


def test_make_tasks_batches():
    assert make_tasks(["a", "b"], None) == [Task((0,), "a"), Task((1,), "b")]
    assert make_tasks(list(range(5)), 2) == [Task((0, 1), [0, 1]), Task((2, 3), [2, 3]), Task((4,), [4])]
    with pytest.raises(ValueError, match="batch_size"):
        make_tasks([1], 0)


def test_balanced_shares_are_deterministic_and_balanced():
    weights = [9, 1, 1, 1, 8, 1, 1, 7]
    shares = balanced_shares(weights, 2)
    assert shares == balanced_shares(weights, 2)
    assert sorted(i for s in shares for i in s) == list(range(8))
    loads = sorted(sum(weights[i] for i in s) for s in shares)
    assert loads == [14, 15]


def test_reorder_only_applies_to_existing_files(tmp_path):
    paths = []
    for i, size in enumerate([100, 1, 1, 100]):
        path = tmp_path / f"{i}"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    tasks = make_tasks(paths, None)
    assert file_sizes(paths) == [100, 1, 1, 100]
    assert plan_shares(paths, tasks, 2, reorder_files=True) == [[0, 1], [2, 3]] or sorted(
        sum([100, 1, 1, 100][i] for i in s) for s in plan_shares(paths, tasks, 2, True)
    ) == [101, 101]
    assert plan_shares(paths, tasks, 2, reorder_files=False) == [[0, 1], [2, 3]]
    assert file_sizes(paths + ["/no/such/file"]) is None
    assert file_sizes([1, 2]) is None
    numbers = make_tasks(list(range(4)), None)
    assert plan_shares(list(range(4)), numbers, 2, reorder_files=True) == [[0, 1], [2, 3]]
