"""litdata-format installs and works alone: no torch, no Pillow, no other package of ours."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys, tempfile
    import numpy as np
    import litdata_format as lf

    items = [{"id": i, "text": "x" * i, "raw": bytes([i]), "vec": np.arange(i, dtype=np.float32)} for i in range(50)]
    with tempfile.TemporaryDirectory() as tmp:
        lf.write_dataset(tmp + "/ds", items, chunk_size=8, compression="zstd")
        back = lf.read_dataset(tmp + "/ds", verify=True)
    assert [b["id"] for b in back] == list(range(50))
    assert all(b["text"] == a["text"] and b["raw"] == a["raw"] and np.array_equal(b["vec"], a["vec"]) for a, b in zip(items, back))
    for absent in ("torch", "PIL", "litdata_storage", "litdata_stream", "litdata_writer"):
        assert absent not in sys.modules, absent
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise AssertionError("torch is installed in the bare environment")
    print("ok")
    """
)


@pytest.mark.slow
def test_format_package_in_an_empty_virtual_environment(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT / "packages" / "litdata-format")],
        check=True,
    )
    result = subprocess.run([str(python), "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
