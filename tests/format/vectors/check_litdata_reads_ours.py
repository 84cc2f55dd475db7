"""The other direction: LitData 0.2.76 reads what our encoder (litdata_format) writes.

Two steps, two environments (``regenerate.sh --check-ours`` runs both):

    python3 check_litdata_reads_ours.py write DATA_DIR OUT_DIR
        our env: for every vector in DATA_DIR, decode expected.json's items and write
        them with ``litdata_format.write_dataset`` into OUT_DIR/<name> (same
        chunk_size / chunk_bytes / compression / compression_level /
        compression_batch_size as the vector).

    .venvs/litdata-0.2.76/bin/python check_litdata_reads_ours.py read DATA_DIR OUT_DIR
        LitData venv: read each OUT_DIR/<name> with ``litdata.StreamingDataset``
        (TokensLoader for token datasets), compare with the expected values and print
        one PASS/FAIL line per dataset and a summary. Exit status 1 if any failed.

Media leaves (jpeg, jpeg_array, video/image/tiff/file paths) are read back as their
stored bytes (torchvision / torchcodec are not installed in the venv) and compared
with the original file bytes.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import expected as vectors  # noqa: E402


def _names(data_dir: str) -> list[str]:
    return sorted(
        n for n in os.listdir(data_dir) if os.path.isfile(os.path.join(data_dir, n, "expected.json"))
    )


def _load(data_dir: str, name: str) -> dict:
    with open(os.path.join(data_dir, name, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


def write_all(data_dir: str, out_dir: str) -> None:
    import litdata_format

    for name in _names(data_dir):
        vector = _load(data_dir, name)
        target = os.path.join(out_dir, name)
        error_file = os.path.join(out_dir, f"{name}.write_error.txt")
        kwargs = vector["notes"]["optimize_kwargs"]
        options = {
            k: kwargs[k]
            for k in ("chunk_size", "chunk_bytes", "compression", "compression_level", "compression_batch_size")
            if kwargs.get(k) is not None
        }
        try:
            if vector["reader"]["item_loader"] == "TokensLoader":
                items = vectors.decode(vector["tokens_written"])
                litdata_format.write_dataset(target, items, item_loader="TokensLoader", **options)
            else:
                items = vectors.decode(vector["items"], media_dir=os.path.join(out_dir, "_media", name))
                # an encrypted vector: encrypt ours with its key file, so LitData decrypts it with that file
                litdata_format.write_dataset(target, items, encryption=vectors.encryption_for(vector), **options)
        except Exception as exc:  # noqa: BLE001
            with open(error_file, "w") as f:
                f.write(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
            print(f"{name:22s} write error: {type(exc).__name__}: {exc}", flush=True)


def _first_diff(got: list, want: list) -> str:
    if len(got) != len(want):
        return f"{len(got)} items, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"item {i}: got {json.dumps(g)[:300]} expected {json.dumps(w)[:300]}"
    return "?"


def _compare_files(theirs: str, ours: str, our_index: dict) -> str:
    """How our files compare with LitData's (information only, not a failure)."""
    with open(os.path.join(theirs, "index.json")) as f:
        their_index = json.load(f)
    tc, oc = their_index["config"], our_index["config"]
    if tc.get("data_format") != oc.get("data_format"):
        return f"; data_format ours {oc.get('data_format')} vs LitData {tc.get('data_format')}"
    if tc.get("data_spec") != oc.get("data_spec"):
        return "; data_spec differs from LitData's"
    names = [c["filename"] for c in their_index["chunks"]]
    if names != [c["filename"] for c in our_index["chunks"]]:
        return f"; chunk files differ: ours {[c['filename'] for c in our_index['chunks']]} vs LitData {names}"
    for fname in names:
        with open(os.path.join(theirs, fname), "rb") as a, open(os.path.join(ours, fname), "rb") as b:
            if a.read() != b.read():
                return f"; same formats, {fname} bytes differ from LitData's"
    return "; chunk files byte-identical to LitData's"


def read_all(data_dir: str, out_dir: str) -> int:
    import shutil
    import tempfile

    from write_vectors import _normalize, _raw_serializers, load_encryption, token_blocks

    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    results = []
    for name in _names(data_dir):
        vector = _load(data_dir, name)
        target = os.path.join(out_dir, name)
        error_file = os.path.join(out_dir, f"{name}.write_error.txt")
        if os.path.exists(error_file):
            with open(error_file) as f:
                results.append((name, False, "our writer failed: " + f.readline().strip()))
            continue
        tokens = vector["reader"]["item_loader"] == "TokensLoader"
        try:
            with open(os.path.join(target, "index.json")) as f:
                index = json.load(f)
            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, "ds")
                shutil.copytree(target, copy)
                kwargs = dict(shuffle=False, cache_dir=os.path.join(tmp, "cache"))
                if tokens:
                    kwargs["item_loader"] = TokensLoader(block_size=vector["reader"]["block_size"])
                else:
                    kwargs["serializers"] = _raw_serializers()
                if vector["reader"].get("encryption"):
                    kwargs["encryption"] = load_encryption(vector["reader"]["encryption"], os.path.join(data_dir, name))
                ds = StreamingDataset(copy, **kwargs)
                got = [ds[i] for i in range(len(ds))]
        except Exception as exc:  # noqa: BLE001
            results.append((name, False, f"LitData cannot read it: {type(exc).__name__}: {str(exc)[:300]}"))
            continue
        note = ""
        if tokens:
            import numpy as np

            written = [vectors.decode(t) for t in vector["tokens_written"]]
            dims = [c["dim"] for c in index["chunks"]]
            want = [_normalize(b) for b in token_blocks(written, dims, vector["reader"]["block_size"])]
            got_enc = [_normalize(np.asarray(g.numpy() if hasattr(g, "numpy") else g)) for g in got]
            lit_dims = [c["dim"] for c in vector["notes"]["chunks"]]
            if dims != lit_dims:
                note = f" (our chunk dims {dims} vs LitData's {lit_dims})"
        else:
            want = vectors.to_raw(vector["items"])
            got_enc = [_normalize(g) for g in got]
        note += _compare_files(os.path.join(data_dir, name), target, index)
        if got_enc == want:
            results.append((name, True, "equal" + note))
        else:
            results.append((name, False, _first_diff(got_enc, want) + note))
    failed = 0
    for name, ok, reason in results:
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name:22s} {reason}")
    print(f"summary: {len(results) - failed} passed, {failed} failed, {len(results)} datasets")
    return 1 if failed else 0


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("write", "read"):
        print(__doc__)
        sys.exit(2)
    mode, data_dir, out_dir = sys.argv[1:]
    if mode == "write":
        os.makedirs(out_dir, exist_ok=True)
        write_all(os.path.abspath(data_dir), os.path.abspath(out_dir))
    else:
        sys.exit(read_all(os.path.abspath(data_dir), os.path.abspath(out_dir)))


if __name__ == "__main__":
    main()
