"""The ``litdata`` meta-package: its re-exported API, its versions, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import litdata

HEAVY = ("torch", "numpy", "boto3", "botocore", "google.cloud", "azure", "PIL", "zstandard")


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _loaded_after(statement: str) -> list[str]:
    code = (
        "import sys, json\n"
        f"{statement}\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy))))"
    )
    return json.loads(_fresh(code))


def test_import_loads_no_heavy_module():
    assert _loaded_after("import litdata") == []


def test_import_is_fast():
    code = "import time; t = time.perf_counter(); import litdata; print(time.perf_counter() - t)"
    best = min(float(_fresh(code)) for _ in range(3))
    assert best < 0.25, f"import litdata took {best:.3f}s"


def test_optimize_import_skips_torch_and_sdks():
    loaded = _loaded_after("from litdata import optimize, map")
    assert "torch" not in loaded
    assert not [m for m in loaded if m.startswith(("boto3", "botocore", "google.cloud", "azure", "PIL"))]


def test_streaming_import_loads_torch_but_no_sdk():
    loaded = _loaded_after("from litdata import StreamingDataset")
    assert "torch" in loaded
    assert not [m for m in loaded if m.startswith(("boto3", "botocore", "google.cloud", "azure"))]


def test_reexports_are_the_sub_packages_objects():
    import litdata_format
    import litdata_storage
    import litdata_stream
    import litdata_writer

    assert litdata.optimize is litdata_writer.optimize
    assert litdata.map is litdata_writer.map
    assert litdata.StreamingDataset is litdata_stream.StreamingDataset
    assert litdata.StreamingDataLoader is litdata_stream.StreamingDataLoader
    assert litdata.CombinedStreamingDataset is litdata_stream.CombinedStreamingDataset
    assert litdata.TokensLoader is litdata_stream.TokensLoader
    assert litdata.train_test_split is litdata_stream.train_test_split
    assert litdata.ChecksumMismatchError is litdata_format.ChecksumMismatchError
    assert litdata.open_store is litdata_storage.open_store


def test_every_public_name_resolves():
    for name in litdata.__all__:
        assert getattr(litdata, name) is not None, name
    assert set(litdata.__all__) <= set(dir(litdata))
    namespace: dict = {}
    exec("from litdata import *", namespace)
    assert "StreamingDataset" in namespace and "optimize" in namespace


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        litdata.nope  # noqa: B018
    with pytest.raises(ImportError):
        exec("from litdata import nope", {})


def test_versions():
    import litdata_format
    import litdata_storage
    import litdata_stream
    import litdata_writer

    found = litdata.versions()
    assert found == {
        "litdata": litdata.__version__,
        "litdata-format": litdata_format.__version__,
        "litdata-storage": litdata_storage.__version__,
        "litdata-writer": litdata_writer.__version__,
        "litdata-stream": litdata_stream.__version__,
    }
    assert litdata.format_version == litdata_format.__version__
    assert litdata.storage_version == litdata_storage.__version__
    assert litdata.writer_version == litdata_writer.__version__
    assert litdata.stream_version == litdata_stream.__version__


def test_versions_do_not_import_torch():
    loaded = _loaded_after("import litdata; litdata.versions(); litdata.stream_version")
    assert "torch" not in loaded
