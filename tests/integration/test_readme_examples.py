"""Every Python example of README.md runs as written, against a local S3 server."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples():
    assert len(python_blocks()) >= 5


@pytest.mark.slow
def test_readme_examples_run_in_order(moto_server, tmp_path):
    client = moto_server.client()
    client.create_bucket(Bucket="my-bucket")
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=moto_server.endpoint_url,
        AWS_ACCESS_KEY_ID=moto_server.access_key,
        AWS_SECRET_ACCESS_KEY=moto_server.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        LITDATA_CACHE_DIR=str(tmp_path / "cache"),
    )
    for number, code in enumerate(python_blocks()):
        script = tmp_path / f"example_{number}.py"
        script.write_text(code)
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"README example {number} failed:\n{code}\n{result.stderr[-3000:]}"
        if "train_test_split" in code:
            assert "800 200" in result.stdout
