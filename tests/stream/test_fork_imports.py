"""Workers start with the modules torch's worker loop and the shuffle need already imported.

Run in a fresh interpreter, where nothing has imported ``numpy.random`` or ``numpy.ma``
yet: at the moment each worker forks, both must already be in the parent's
``sys.modules`` (the loader imports them before forking), so no worker imports them
again each epoch; and the epochs still serve every item exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from litdata_format import write_dataset

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from litdata_stream import StreamingDataLoader, StreamingDataset

    out = sys.argv[2]

    def forked():
        with open(os.path.join(out, str(os.getpid())), "w") as f:
            json.dump({m: m in sys.modules for m in ("numpy.random", "numpy.ma")}, f)

    os.register_at_fork(after_in_child=forked)
    before = {m: m in sys.modules for m in ("numpy.random", "numpy.ma")}
    loader = StreamingDataLoader(StreamingDataset(sys.argv[1], shuffle=True), batch_size=4, num_workers=2)
    epochs = [sorted(int(x) for batch in loader for x in batch.tolist()) for _ in range(2)]
    print("RESULT " + json.dumps({"before": before, "epochs": epochs}))
    """
)


def test_workers_fork_with_numpy_random_and_ma_imported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(data, list(range(40)), chunk_bytes=64)
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(data), str(marks)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["before"] == {"numpy.random": False, "numpy.ma": False}  # a fresh interpreter
    assert result["epochs"] == [list(range(40)), list(range(40))]
    children = [json.loads(p.read_text()) for p in marks.iterdir()]
    assert len(children) == 4  # two workers in each of two epochs
    assert all(child == {"numpy.random": True, "numpy.ma": True} for child in children)
