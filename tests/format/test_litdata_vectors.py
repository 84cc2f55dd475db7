"""Our decoder reads every dataset that LitData 0.2.76 wrote (tests/format/vectors/data).

The vectors and their expected.json are made by tests/format/vectors/regenerate.sh;
the JSON encoding is described in tests/format/vectors/README.md.
"""

from __future__ import annotations

import pytest
from litdata_vectors import NAMES, expected  # tests/ is on sys.path (tests/conftest.py)

litdata_format = pytest.importorskip("litdata_format")


def _require(vector: dict) -> None:
    needed = expected.needs(vector["items"])
    if "torch" in needed:
        pytest.importorskip("torch")
    if "PIL" in needed:
        pytest.importorskip("PIL")


def _read(name: str, vector: dict, allow_pickle: bool | None = None) -> list:
    reader = vector["reader"]
    if allow_pickle is None:
        allow_pickle = bool(reader["allow_pickle"])
    return litdata_format.read_dataset(
        expected.DATA_DIR / name,
        allow_pickle=allow_pickle,
        block_size=reader.get("block_size"),
        encryption=expected.encryption_for(vector),
    )


def test_vectors_present():
    assert len(NAMES) >= 20, f"expected the LitData vectors under {expected.DATA_DIR}; run regenerate.sh"


@pytest.mark.parametrize("name", NAMES)
def test_reads_litdata_vector(name):
    vector = expected.load(name)
    _require(vector)
    items = _read(name, vector)
    assert len(items) == len(vector["items"]), f"{name}: {len(items)} items, expected {len(vector['items'])}"
    for i, (actual, want) in enumerate(zip(items, vector["items"])):
        try:
            expected.check(actual, want)
        except AssertionError as exc:
            raise AssertionError(f"{name}, item {i}: {exc}") from None


@pytest.mark.parametrize("name", [n for n in NAMES if expected.load(n)["reader"]["allow_pickle"]])
def test_pickle_needs_opt_in(name):
    vector = expected.load(name)
    _require(vector)
    with pytest.raises(litdata_format.PickleNotAllowedError):
        _read(name, vector, allow_pickle=False)


@pytest.mark.parametrize(
    "name", [n for n in NAMES if expected.load(n)["reader"]["item_loader"] == "TokensLoader"]
)
def test_token_vector_facts(name):
    """Blocks never cross a chunk; a chunk's leftover tokens are dropped."""
    vector = expected.load(name)
    dims = [c["dim"] for c in vector["notes"]["chunks"]]
    block = vector["reader"]["block_size"]
    assert len(vector["items"]) == sum(d // block for d in dims)
    assert sum(dims) == sum(t["$ndarray"]["shape"][0] for t in vector["tokens_written"])
