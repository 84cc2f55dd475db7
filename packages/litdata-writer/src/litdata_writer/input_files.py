"""``input_dir``: files named by the inputs are fetched ahead while earlier inputs are processed.

When ``input_dir`` is remote (``s3://``, ``gs://``, ``azure://``, any fsspec URL), every
string inside an input (at any depth of lists, tuples and dicts) that lies under it is
downloaded by the worker into its private cache folder, and ``fn`` receives the input with
those strings replaced by the local paths, as LitData does. Downloads run in
``num_downloaders`` threads (default 2, LitData's default) a few inputs ahead of ``fn``,
and each input's files are deleted once ``fn`` is done with it, so the cache holds only
the look-ahead window. A local ``input_dir`` changes nothing: ``fn`` reads the files where
they are (LitData also passes local paths through unchanged).
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from litdata_storage import open_store, parse_url

from .output import STAGING_ENV
from .partition import Task

DEFAULT_DOWNLOADERS = 2
LOCAL_SCHEMES = ("file", "local")


class InputDownloadError(RuntimeError):
    """A file an input names under a remote ``input_dir`` could not be downloaded."""


def is_remote_dir(input_dir: str | os.PathLike[str] | None) -> bool:
    """True when ``input_dir`` is given and is not local, so the files it holds must be downloaded."""
    return input_dir is not None and parse_url(input_dir).scheme not in LOCAL_SCHEMES


@dataclass
class InputFetcher:
    """``prepare_tasks`` of a worker: yields its tasks with remote files already local."""

    input_dir: str
    storage_options: dict[str, Any]
    num_downloaders: int = DEFAULT_DOWNLOADERS
    lookahead: int = 0  # inputs fetched ahead of fn (default: 2 per downloader)
    cache_dir: str | None = None  # default: a fresh temporary folder per worker (DATA_OPTIMIZER_CACHE_FOLDER)
    _prefix: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._prefix = self.input_dir.rstrip("/") + "/"

    def __call__(self, tasks: Iterable[Task]) -> Iterator[Task]:
        """Yield ``tasks`` with the remote files they name replaced by local copies, fetched ahead.

        Each task's files are deleted once the next task is asked for; a cache folder this
        call created is removed when the iteration ends.
        """
        store = open_store(self.input_dir, **self.storage_options)
        root = self.cache_dir or tempfile.mkdtemp(prefix="litdata-inputs-", dir=os.environ.get(STAGING_ENV) or None)
        os.makedirs(root, exist_ok=True)
        try:
            yield from self._fetch_all(store, tasks, root)
        finally:
            if self.cache_dir is None:
                shutil.rmtree(root, ignore_errors=True)

    def _fetch_all(self, store: Any, tasks: Iterable[Task], root: str) -> Iterator[Task]:
        window = self.lookahead or 2 * self.num_downloaders
        pending: collections.deque[tuple[Future[Any], str]] = collections.deque()
        source = iter(tasks)
        with ThreadPoolExecutor(self.num_downloaders, thread_name_prefix="litdata-input-download") as pool:

            def submit_next() -> None:
                task = next(source, None)
                if task is not None:
                    folder = os.path.join(root, str(task.positions[0]) if task.positions else "q")
                    pending.append((pool.submit(self._fetch, store, task, folder), folder))

            for _ in range(window):
                submit_next()
            try:
                while pending:
                    future, folder = pending.popleft()
                    task = future.result()
                    submit_next()
                    try:
                        yield task
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
            finally:
                for future, _folder in pending:
                    future.cancel()
                for future, folder in pending:
                    if not future.cancelled():
                        future.exception()
                    shutil.rmtree(folder, ignore_errors=True)

    def _fetch(self, store: Any, task: Task, folder: str) -> Task:
        try:
            return Task(task.positions, self._localize(store, task.argument, folder))
        except Exception as exc:
            where = f"inputs[{task.positions[0]}]" if task.positions else "an input"
            raise InputDownloadError(
                f"could not download the files of {where} from input_dir {self.input_dir}: {type(exc).__name__}: {exc}"
            ) from exc

    def _localize(self, store: Any, value: Any, folder: str) -> Any:
        if isinstance(value, str):
            if not value.startswith(self._prefix):
                return value
            key = value[len(self._prefix) :]
            local = os.path.join(folder, *key.split("/"))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            store.download(key, local)
            return local
        if isinstance(value, list):
            return [self._localize(store, v, folder) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(self._localize(store, v, folder) for v in value)
        if isinstance(value, dict):
            return {k: self._localize(store, v, folder) for k, v in value.items()}
        return value
