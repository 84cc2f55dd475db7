"""The LitData 0.2.76 compatibility table stays true as the code changes.

``litdata_0_2_76_api.json`` lists LitData 0.2.76's public names and the parameters of each
(read off ``inspect.signature`` of the real package). ``packages/litdata/COMPATIBILITY.md``
has one row per name and per parameter of the main API. These tests fail when a row is
missing, when a row says "supported" for a parameter our signature does not accept, or
when a name the table calls supported is not importable from ``litdata``.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from pathlib import Path

import pytest

import litdata

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "packages" / "litdata" / "COMPATIBILITY.md"
LITDATA_API = json.loads((Path(__file__).with_name("litdata_0_2_76_api.json")).read_text())
# The APIs whose every parameter has a row of its own.
MAIN_API = ("optimize", "map", "StreamingDataset", "StreamingDataLoader", "CombinedStreamingDataset")


def _rows() -> dict[tuple[str, str], str]:
    rows: dict[tuple[str, str], str] = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.lstrip().startswith("|") or set(cells[0]) <= {"-", ":", " "}:
            continue
        if cells[:2] == ["api", "argument"]:  # a table's header
            continue
        rows[(cells[0], cells[1])] = cells[2].lower()
    return rows


ROWS = _rows()


def _accepted(name: str) -> tuple[set[str], bool]:
    obj = getattr(litdata, name)
    target = obj.__init__ if isinstance(obj, type) else obj
    params = inspect.signature(target).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return set(params) - {"self"}, takes_kwargs


@pytest.mark.parametrize("name", sorted(LITDATA_API))
def test_every_public_name_has_a_row(name):
    assert (name, "") in ROWS or (name, "-") in ROWS, f"{TABLE.name} has no row for litdata.{name}"


@pytest.mark.parametrize(
    ("api", "param"), [(api, p) for api in MAIN_API for p in LITDATA_API[api]["params"] if p not in ("args", "kwargs")]
)
def test_every_parameter_has_a_row_and_is_accepted(api, param):
    status = ROWS.get((api, param))
    assert status is not None, f"{TABLE.name} has no row for {api}({param}=...)"
    accepted, takes_kwargs = _accepted(api)
    if status.startswith("supported"):
        assert param in accepted, f"{TABLE.name} says {api}({param}=) is supported but our signature lacks it"


@pytest.mark.parametrize("name", sorted(n for n, v in LITDATA_API.items()))
def test_supported_names_are_importable(name):
    status = ROWS.get((name, "")) or ROWS.get((name, "-")) or ""
    if status.startswith("supported"):
        assert hasattr(litdata, name) or importlib.util.find_spec(f"litdata.{name}") is not None, (
            f"{TABLE.name} says litdata.{name} is supported but it is not exported"
        )


def test_statuses_are_one_of_three():
    bad = {k: v for k, v in ROWS.items() if not re.match(r"(supported|not supported)", v)}
    assert not bad, f"rows with an unknown status: {bad}"
