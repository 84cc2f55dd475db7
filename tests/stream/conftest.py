import os
from pathlib import Path

import pytest

from litdata_format import write_dataset


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder."""
    monkeypatch.setenv("LITDATA_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def squares(tmp_path):
    """The seed README's dataset: (i, i**2) for i < 200, in chunks of 16 items."""
    path = tmp_path / "squares"
    write_dataset(path, [(i, i**2) for i in range(200)], chunk_size=16)
    return str(path)


def files_size(folder, pattern: str) -> int:
    """Bytes of the files under ``folder`` matching ``pattern`` now; a file the cache
    evicts while the folder is listed counts as gone."""
    total = 0
    for path in Path(folder).rglob(pattern):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def cache_size(folder) -> int:
    """Bytes on disk under ``folder`` (temporary files included, lock files excluded).

    A file renamed while the folder is listed can show up under both names; counting
    each inode once keeps such a rename from being counted twice.
    """
    sizes = {}
    for root, _, files in os.walk(folder):
        if ".locks" in root:
            continue
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            sizes[stat.st_ino] = stat.st_size
    return sum(sizes.values())
