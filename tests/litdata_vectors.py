"""The LitData 0.2.76 test vectors' expectations (tests/format/vectors/expected.py), loaded
once by path for every test module that checks them (the vectors folder is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

VECTORS_DIR = Path(__file__).resolve().parent / "format" / "vectors"


def _load() -> ModuleType:
    name = "_litdata_vectors_expected"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, VECTORS_DIR / "expected.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


expected = _load()
NAMES: list[str] = expected.dataset_names()
