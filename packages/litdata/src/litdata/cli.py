"""The ``litdata`` command line: inspect and verify datasets, manage the local chunk cache.

    litdata inspect s3://bucket/dataset --storage-option endpoint_url=http://127.0.0.1:9000
    litdata verify ./my_optimized_dataset
    litdata cache path
    litdata cache clear

Exit codes: 0 success, 1 failure (a missing index, an unreachable store, a corrupted
chunk), 2 usage error (bad arguments, an unparsable URL, an unknown storage option).
Errors go to stderr, results to stdout. Only ``cache`` imports the streaming package
(and with it torch); ``inspect`` and ``verify`` use the format and storage packages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import __version__, versions

if TYPE_CHECKING:
    from litdata_storage import Store

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

DEFAULT_REPR_CHARS = 400
_KNOWN_SCHEMES = {"file", "local", "s3", "gs", "gcs", "azure", "az"}
DEFAULT_TOKEN_BLOCK = 16


class UsageError(Exception):
    """The command line asks for something that cannot work (exit code 2)."""


class Failure(Exception):
    """The command ran and failed (exit code 1)."""


# ----------------------------------------------------------------------- helpers
def _parse_storage_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values that read as JSON (numbers, true/false,
    null, objects) are decoded, anything else stays a string."""
    options: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--storage-option expects KEY=VALUE, got {pair!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        options[key] = value
    return options


def _open_dataset_store(url: str, options: dict[str, Any]) -> Any:
    from litdata_storage import InvalidURLError, MissingExtraError, StorageError, open_store

    try:
        return open_store(url, **options)
    except (InvalidURLError, TypeError) as exc:  # TypeError: unknown storage option
        raise UsageError(str(exc)) from None
    except MissingExtraError as exc:
        # An SDK missing for a known scheme is an install problem; an unknown scheme is a bad URL.
        scheme = url.partition("://")[0].lower() if "://" in url else "file"
        if scheme in _KNOWN_SCHEMES:
            raise Failure(str(exc)) from None
        raise UsageError(str(exc)) from None
    except StorageError as exc:
        raise Failure(str(exc)) from None


def _load_index(store: Any) -> Any:
    from litdata_format import INDEX_FILENAME, FormatError, Index
    from litdata_storage import NotFoundError, StorageError

    try:
        text = store.get(INDEX_FILENAME)
    except NotFoundError:
        if _is_local_dir_missing(store):
            raise Failure(f"{store.root_url} does not exist") from None
        raise Failure(
            f"no {INDEX_FILENAME} at {store.url(INDEX_FILENAME)}: is {store.root_url} an optimized dataset?"
        ) from None
    except StorageError as exc:  # missing bucket, access denied, unreachable endpoint
        raise Failure(str(exc)) from None
    try:
        return Index.from_json(text, source=store.url(INDEX_FILENAME))
    except FormatError as exc:
        raise Failure(f"invalid index: {exc}") from None


def _is_local_dir_missing(store: Store) -> bool:
    folder = None if store.is_remote else store.local_folder
    return folder is not None and not os.path.isdir(folder)


def _local_file(store: Store, key: str) -> str | None:
    """The path of ``key`` when the store is a plain local directory (read in place)."""
    return store.local_file(key)


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def _truncate(text: str, limit: int) -> str:
    if limit > 0 and len(text) > limit:
        return text[: max(0, limit - 3)] + "..."
    return text


def _structure(data_format: list[str], data_spec: str | None) -> Any:
    """The item layout with each leaf replaced by its format name, e.g.
    ``{'index': 'int', 'image': 'jpeg'}``. Built from the spec without importing any type
    it names (an index is untrusted input)."""
    from litdata_format import TreeSpec

    if data_spec is None:
        return data_format[0] if len(data_format) == 1 else list(data_format)
    try:
        spec = TreeSpec.from_json(data_spec)
    except Exception:
        return list(data_format)
    leaves = iter(data_format)

    def build(node: Any) -> Any:
        if node.is_leaf:
            return next(leaves, "?")
        children = [build(child) for child in node.children]
        try:
            context = json.loads(node.context) if node.context is not None else None
        except ValueError:
            context = None
        if node.type in ("builtins.dict", "collections.OrderedDict") and isinstance(context, list):
            return dict(zip(context, children))
        if node.type == "collections.defaultdict" and isinstance(context, dict):
            return dict(zip(context.get("dict_context", []), children))
        if node.type == "builtins.tuple":
            return tuple(children)
        if node.type == "collections.namedtuple" and isinstance(context, str):
            return f"{context.rpartition('.')[2]}({', '.join(map(str, children))})"
        if node.type == "builtins.NoneType":
            return None
        return children

    return build(spec)


def _compression(config: Any) -> str:
    if config is None or not config.compression:
        return "none"
    level = config.extra.get("compression_level")
    if level == "batch":
        return f"{config.compression} (framed, per batch of items)"
    if level == "sample":
        return f"{config.compression} (per sample)"
    return f"{config.compression} (whole chunk)"


def _bytes_label(config: Any) -> str:
    """What the sum of the index's ``chunk_bytes`` measures: the classic (uncompressed) chunk
    size, except for compression inside the files (``"batch"`` / ``"sample"``), where the
    index records the size of the file as stored, compressed."""
    from litdata_format import CompressionLayout

    level = None if config is None else config.extra.get("compression_level")
    if config is not None and config.compression and CompressionLayout(config.compression, level).in_file:
        return "as stored, after compression"
    return "uncompressed"


def _encryption_text(config: Any) -> str | None:
    """``"fernet, chunk level"`` for an encrypted dataset, else None."""
    declared = None if config is None else config.encryption
    return None if not declared else f"{declared['algorithm']}, {declared['level']} level"


def _updated_at(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(value)))
    except (ValueError, OverflowError):
        return value


# ----------------------------------------------------------------------- inspect
@dataclass
class Summary:
    """What ``litdata inspect`` reports about a dataset (printed as a table, or as JSON).

    ``bytes`` is the sum of the index's ``chunk_bytes`` (``bytes_label`` says what it measures:
    ``"uncompressed"``, or ``"as stored, after compression"`` for compression inside the chunk files);
    ``structure`` is the item's shape with
    each leaf shown by its format; ``tokens`` and ``token_dtype`` are set for token datasets
    only; ``sample`` is the truncated repr of the first item, with ``sample_note`` explaining
    a missing or partial sample.
    """

    url: str
    items: int
    chunks: int
    bytes: int
    bytes_label: str = "uncompressed"
    data_format: list[str] = field(default_factory=list)
    structure: Any = None
    item_loader: str = "PyTreeLoader"
    compression: str = "none"
    checksums: str = "none"
    updated_at: str | None = None
    tokens: int | None = None
    token_dtype: str | None = None
    sample: str | None = None
    sample_note: str | None = None


def _read_first_sample(
    store: Any, index: Any, allow_pickle: bool, block_size: int
) -> tuple[str | None, str | None]:
    """(repr of the first item, a note) reading only ``index.json`` and the first chunk."""
    from litdata_format import DatasetReader, FormatError, Index, PickleNotAllowedError
    from litdata_storage import StorageError

    config = index.config
    tokens = config is not None and config.item_loader == "TokensLoader"
    first = next((c for c in index.chunks if (c.dim if tokens else c.chunk_size)), None)
    if config is None or first is None:
        return None, "the dataset has no items"
    encrypted = _encryption_text(config)
    if encrypted:
        return None, f"the items are encrypted ({encrypted}): inspect does not decrypt them"
    mini = Index(chunks=[first], config=config, updated_at=index.updated_at, extra=index.extra)
    with tempfile.TemporaryDirectory(prefix="litdata-inspect-") as tmp:
        mini.dump(tmp, touch=False)
        target = os.path.join(tmp, first.filename)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        local = _local_file(store, first.filename)
        try:
            if local is not None and os.path.isfile(local):
                os.symlink(os.path.abspath(local), target)
            else:
                store.download(first.filename, target)
        except FileNotFoundError:
            raise Failure(
                f"chunk {first.filename} listed in index.json is missing from {store.root_url}"
            ) from None
        except StorageError as exc:
            raise Failure(f"cannot download {store.url(first.filename)}: {exc}") from None
        try:
            if tokens:
                size = max(1, min(block_size, first.dim or 1))
                reader = DatasetReader(tmp, allow_pickle=allow_pickle, block_size=size, verify=True)
                block = reader[0]
                return repr(block.tolist()), f"the first block of {size} tokens"
            reader = DatasetReader(tmp, allow_pickle=allow_pickle, verify=True)
            return repr(reader[0]), None
        except PickleNotAllowedError:
            return (
                None,
                "the items hold pickled objects: pass --allow-pickle to decode them (only for data you trust)",
            )
        except FormatError as exc:
            raise Failure(f"cannot decode the first item: {exc}") from None


def inspect_dataset(
    url: str,
    options: dict[str, Any],
    *,
    allow_pickle: bool = False,
    block_size: int = DEFAULT_TOKEN_BLOCK,
    sample: bool = True,
    repr_chars: int = DEFAULT_REPR_CHARS,
) -> Summary:
    """Summarize a dataset from its ``index.json`` and, with ``sample``, its first chunk.

    Args:
        url: The dataset's location (a path or a store URL).
        options: Storage options for :func:`litdata_storage.open_store`.
        allow_pickle: Decode pickled leaves of the first item (runs code from the dataset).
        block_size: Tokens shown as the first item of a token dataset.
        sample: Download the first chunk and decode its first item.
        repr_chars: Truncate the sample's repr to this many characters (0: no limit).

    Raises:
        UsageError: The URL or an option is invalid.
        Failure: The index is missing or malformed, or the first chunk cannot be read.
    """
    store = _open_dataset_store(url, options)
    index = _load_index(store)
    config = index.config
    with_checksum = sum(1 for c in index.chunks if c.checksum)
    summary = Summary(
        url=store.root_url,
        items=index.num_items,
        chunks=len(index.chunks),
        bytes=sum(c.chunk_bytes for c in index.chunks),
        checksums="all chunks"
        if index.chunks and with_checksum == len(index.chunks)
        else (f"{with_checksum} of {len(index.chunks)} chunks" if with_checksum else "none"),
        updated_at=_updated_at(index.updated_at),
    )
    if config is not None:
        summary.data_format = list(config.data_format)
        summary.structure = _structure(config.data_format, config.data_spec)
        summary.item_loader = config.item_loader
        summary.compression = _compression(config)
        summary.bytes_label = _bytes_label(config)
        if config.item_loader == "TokensLoader":
            from litdata_format import token_dtype

            summary.tokens = sum(c.dim or 0 for c in index.chunks)
            try:
                summary.token_dtype = str(token_dtype(config.data_format))
            except Exception:
                summary.token_dtype = None
    if sample:
        text, note = _read_first_sample(store, index, allow_pickle, block_size)
        summary.sample = None if text is None else _truncate(text, repr_chars)
        summary.sample_note = note
    return summary


def _print_summary(summary: Summary) -> None:
    rows: list[tuple[str, str]] = [
        ("dataset", summary.url),
        ("items", f"{summary.items:,}"),
    ]
    if summary.tokens is not None:
        rows.append(
            ("tokens", f"{summary.tokens:,}" + (f" ({summary.token_dtype})" if summary.token_dtype else ""))
        )
    rows += [
        ("chunks", f"{summary.chunks:,}"),
        ("bytes", f"{_human_bytes(summary.bytes)} ({summary.bytes:,} bytes, {summary.bytes_label})"),
        ("data format", _truncate(", ".join(summary.data_format) or "-", DEFAULT_REPR_CHARS)),
        ("structure", _truncate(repr(summary.structure), DEFAULT_REPR_CHARS)),
        ("item loader", summary.item_loader),
        ("compression", summary.compression),
        ("checksums", summary.checksums),
    ]
    if summary.updated_at:
        rows.append(("updated at", summary.updated_at))
    if summary.sample is not None:
        one_line = re.sub(r"\n\s*", " ", summary.sample)  # numpy and torch reprs span lines
        rows.append(("sample[0]", one_line + (f"  ({summary.sample_note})" if summary.sample_note else "")))
    elif summary.sample_note:
        rows.append(("sample[0]", f"({summary.sample_note})"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _cmd_inspect(args: argparse.Namespace) -> int:
    summary = inspect_dataset(
        args.url,
        _parse_storage_options(args.storage_option),
        allow_pickle=args.allow_pickle,
        block_size=args.block_size,
        sample=not args.no_sample,
        repr_chars=args.max_repr,
    )
    if args.json:
        print(json.dumps(summary.__dict__, default=str, indent=2))
    else:
        _print_summary(summary)
    return EXIT_OK


# ------------------------------------------------------------------------ verify
@dataclass
class ChunkReport:
    """The outcome of checking one chunk file: its name and the problems found (none when good)."""

    filename: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _chunk_encrypted(config: Any) -> bool:
    """Whether the dataset's chunk files are each one ciphertext (chunk-level encryption)."""
    from litdata_format import EncryptionLevel

    declared = None if config is None else config.encryption
    return declared is not None and declared.get("level") == EncryptionLevel.CHUNK


def verify_dataset(
    url: str, options: dict[str, Any], *, on_chunk: Any = None
) -> tuple[Any, list[ChunkReport], list[str]]:
    """Check every chunk listed in ``index.json``; return (index, reports, unlisted chunk files).

    Each chunk is checked by :func:`litdata_format.check_chunk_file`. Checksums cover the
    files as stored, so an encrypted dataset is verified without its key; with chunk-level
    encryption the item counts (inside the ciphertext) are not checked. A local dataset is
    read in place; a remote one is downloaded one chunk at a time into a temporary folder,
    each chunk removed once checked.
    """
    from litdata_format import check_chunk_file, is_chunk_filename
    from litdata_storage import NotFoundError, StorageError

    store = _open_dataset_store(url, options)
    index = _load_index(store)
    encrypted = _chunk_encrypted(index.config)
    reports: list[ChunkReport] = []
    with tempfile.TemporaryDirectory(prefix="litdata-verify-") as tmp:
        for number, info in enumerate(index.chunks):
            report = ChunkReport(info.filename)
            local = _local_file(store, info.filename)
            try:
                if local is not None:
                    if not os.path.isfile(local):
                        raise NotFoundError(local)
                    report.problems = check_chunk_file(local, info, chunk_encrypted=encrypted)
                else:
                    target = os.path.join(tmp, str(number))
                    store.download(info.filename, target)
                    try:
                        report.problems = check_chunk_file(target, info, chunk_encrypted=encrypted)
                    finally:
                        os.unlink(target)
            except FileNotFoundError:
                report.problems = ["missing"]
            except StorageError as exc:
                raise Failure(f"cannot read {store.url(info.filename)}: {exc}") from None
            reports.append(report)
            if on_chunk is not None:
                on_chunk(report)
    unlisted: list[str] = []
    try:
        listed = {c.filename for c in index.chunks}
        for key in store.list(""):
            if key not in listed and is_chunk_filename(key):
                unlisted.append(key)
    except (StorageError, OSError):
        pass
    return index, reports, unlisted


def _cmd_verify(args: argparse.Namespace) -> int:
    def show(report: ChunkReport) -> None:
        if args.verbose:
            print(f"{'ok ' if report.ok else 'BAD'}  {report.filename}", flush=True)

    index, reports, unlisted = verify_dataset(
        args.url, _parse_storage_options(args.storage_option), on_chunk=show
    )
    bad = [r for r in reports if not r.ok]
    encrypted = _chunk_encrypted(index.config)
    if encrypted:
        print(
            f"note: the chunks are encrypted ({_encryption_text(index.config)}): verify checks the stored, "
            "encrypted bytes (checksums and sizes) without decrypting them, so the item counts inside are not checked"
        )
    for report in bad:
        for problem in report.problems:
            print(f"BAD chunk {report.filename}: {problem}", file=sys.stderr)
    for key in unlisted:
        print(f"note: {key} is not listed in index.json (ignored by readers)")
    checked = sum(1 for c in index.chunks if c.checksum)
    if bad:
        print(
            f"{len(bad)} of {len(reports)} chunks are bad: {', '.join(r.filename for r in bad)}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    matched = "sizes match" if encrypted else "sizes and item counts match"
    print(
        f"OK: {len(reports)} chunks, {index.num_items:,} items; {matched} index.json"
        + (f", {checked} checksums verified" if checked else ", no checksums recorded")
    )
    return EXIT_OK


# ------------------------------------------------------------------------- cache
def cache_root() -> str:
    """The stream package's cache root (``litdata_stream`` loads torch only when a dataset
    class is used, so this stays fast)."""
    from litdata_stream import default_cache_root

    return default_cache_root()


def _tree_size(path: str) -> tuple[int, int]:
    total = files = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def _cmd_cache_path(args: argparse.Namespace) -> int:
    print(cache_root())
    return EXIT_OK


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    root = os.path.abspath(cache_root())
    protected = {
        os.path.abspath(os.sep),
        os.path.abspath(os.path.expanduser("~")),
        os.path.abspath(os.getcwd()),
    }
    if root in protected:
        raise UsageError(f"refusing to remove {root}: point LITDATA_CACHE_DIR at a folder of its own")
    if not os.path.exists(root):
        print(f"nothing to clear: {root} does not exist")
        return EXIT_OK
    if not os.path.isdir(root):
        raise Failure(f"{root} is not a folder")
    size, files = _tree_size(root)
    if args.dry_run:
        print(f"would free {_human_bytes(size)} ({size:,} bytes, {files:,} files) from {root}")
        return EXIT_OK
    errors: list[str] = []
    shutil.rmtree(root, onerror=lambda fn, path, exc: errors.append(f"{path}: {exc[1]}"))
    left, _ = _tree_size(root) if os.path.exists(root) else (0, 0)
    freed = size - left
    print(f"freed {_human_bytes(freed)} ({freed:,} bytes, {files:,} files) from {root}")
    if errors:
        for error in errors[:10]:
            print(f"could not remove {error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


# -------------------------------------------------------------------------- main
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits with 2 on usage errors already
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _VersionAction(argparse.Action):
    """Like argparse's "version" action, without re-wrapping the text to the terminal width."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None
    ) -> None:
        print(_version_text())
        parser.exit()


def _version_text() -> str:
    parts = versions()
    rest = ", ".join(f"{name} {version}" for name, version in parts.items() if name != "litdata")
    return f"litdata {__version__} ({rest})"


def build_parser() -> argparse.ArgumentParser:
    """Build the ``litdata`` argument parser with its ``inspect``, ``verify`` and ``cache`` commands."""
    parser = _Parser(
        prog="litdata",
        description="Inspect and verify LitData optimized datasets (local or in the cloud), and manage the local chunk cache.",
        epilog="Cloud credentials come from the usual places (AWS_* variables, ~/.aws, GOOGLE_APPLICATION_CREDENTIALS, "
        "AZURE_STORAGE_CONNECTION_STRING) or from --storage-option. Exit codes: 0 ok, 1 failure, 2 usage error.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show the versions of litdata and its packages and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def storage_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-o",
            "--storage-option",
            action="append",
            metavar="KEY=VALUE",
            help="passed to the store (repeatable), e.g. endpoint_url=http://localhost:9000; "
            "JSON values (numbers, true/false) are decoded",
        )

    p = commands.add_parser(
        "inspect",
        help="show a dataset's size, format and first item",
        description="Show items, chunks, bytes, data format, item loader, compression and the first item of a "
        "dataset. Reads index.json and the first chunk only.",
    )
    p.add_argument("url", metavar="URL", help="dataset location: a path, local:/path, s3://, gs://, azure://")
    storage_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-sample", action="store_true", help="do not download the first chunk")
    p.add_argument(
        "--allow-pickle", action="store_true", help="decode pickled items (only for data you trust)"
    )
    p.add_argument(
        "--block-size",
        type=int,
        default=DEFAULT_TOKEN_BLOCK,
        metavar="N",
        help=f"tokens shown for a token dataset (default {DEFAULT_TOKEN_BLOCK})",
    )
    p.add_argument(
        "--max-repr",
        type=int,
        default=DEFAULT_REPR_CHARS,
        metavar="N",
        help=f"truncate the sample's repr to N characters (default {DEFAULT_REPR_CHARS}, 0: no limit)",
    )
    p.set_defaults(func=_cmd_inspect)

    p = commands.add_parser(
        "verify",
        help="check every chunk against index.json",
        description="Check that every chunk listed in index.json exists, that its size and item count agree with "
        "the index and that its checksum matches when one is recorded. Checksums cover the files as stored, so "
        "an encrypted dataset is checked without its key; with chunk-level encryption the item counts, inside "
        "the ciphertext, are not checked. Cloud chunks are downloaded one at a time into a temporary folder. "
        "Exit code 0 when all is good, 1 naming the bad chunks otherwise.",
    )
    p.add_argument("url", metavar="URL", help="dataset location: a path, local:/path, s3://, gs://, azure://")
    storage_option(p)
    p.add_argument("-v", "--verbose", action="store_true", help="print one line per chunk")
    p.set_defaults(func=_cmd_verify)

    p = commands.add_parser(
        "cache",
        help="show or clear the local chunk cache",
        description="The chunk cache of StreamingDataset: $LITDATA_CACHE_DIR, else $XDG_CACHE_HOME/litdata or "
        "~/.cache/litdata.",
    )
    cache_commands = p.add_subparsers(dest="cache_command", metavar="ACTION", parser_class=_Parser)
    cache_commands.required = True
    cp = cache_commands.add_parser(
        "path", help="print the cache folder", description="Print the cache folder."
    )
    cp.set_defaults(func=_cmd_cache_path)
    cp = cache_commands.add_parser(
        "clear",
        help="remove the cache folder and say how many bytes were freed",
        description="Remove the cache folder (every cached chunk of every dataset) and print the bytes freed. "
        "Do not run it while a training job streams from this cache.",
    )
    cp.add_argument("-n", "--dry-run", action="store_true", help="only say what would be freed")
    cp.set_defaults(func=_cmd_cache_clear)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code instead of raising.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 on success, 1 on failure, 2 on a usage error, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"litdata {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failure as exc:
        print(f"litdata {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `litdata inspect ... | head`
        return EXIT_OK
    except Exception as exc:  # storage errors and anything unexpected: one line, no traceback
        if os.environ.get("LITDATA_DEBUG"):
            raise
        print(f"litdata {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
