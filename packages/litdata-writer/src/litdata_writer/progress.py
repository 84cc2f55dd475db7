"""Progress of a run: a tqdm bar on a terminal, a plain line at intervals in a log.

In a notebook the bar is tqdm's widget. A bar redrawn with carriage returns turns a CI log
or a ``nohup`` file into one huge line, so when stderr is not a terminal the same numbers
(inputs done, inputs/s, items/s, ETA) are printed as ordinary lines every
``LITDATA_PROGRESS_INTERVAL`` seconds (10 by default) and once at the end. A terminal that
reports zero columns (a pseudo-terminal nobody sized, as some CI runners and ``docker
exec -t`` give) gets the plain lines too: tqdm would draw its bar zero characters wide,
that is, print nothing.

A resumed run starts from the inputs already stored and says so first, so that
``2000/2000 inputs`` at the end does not hide that most of them were done before.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

INTERVAL_ENV = "LITDATA_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0  # seconds between plain lines: often enough to tell a run is alive


def _format_seconds(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def resume_message(stored: int, total: int) -> str:
    """The line a resumed run starts with, e.g. ``resuming: 1,400 of 2,000 inputs already stored``."""
    return f"resuming: {stored:,} of {total:,} inputs already stored"


class Progress:
    """Counts inputs (the bar's unit) and items; shows them as the output allows.

    Args:
        total: inputs of the whole run (on this node).
        desc: the run's name at the start of each line (``optimize``, ``map (node 1/2)``).
        verbose: False prints nothing at all.
        initial: inputs already stored by an earlier run (resume): counted as done, not in
            the rates, and announced with :func:`resume_message` when non-zero.
        initial_items: the items of those inputs.
        stream: where to write (default ``sys.stderr``).
        interval: seconds between plain lines (default ``LITDATA_PROGRESS_INTERVAL``, else 10).
    """

    def __init__(
        self,
        total: int,
        *,
        desc: str = "optimize",
        verbose: bool = True,
        initial: int = 0,
        initial_items: int = 0,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.total = total
        self.inputs = initial
        self.items = initial_items
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self._start = time.monotonic()
        self._initial = initial
        self._initial_items = initial_items
        self._bar: Any = None
        self._interval = interval if interval is not None else _interval_from_env()
        self._last_line = self._start
        if not verbose:
            return
        if initial:
            print(resume_message(initial, total), file=self.stream, flush=True)
        if _draws_a_bar(self.stream) or (stream is None and "ipykernel" in sys.modules):
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, unit="input", file=self.stream, dynamic_ncols=True
            )

    def update(self, inputs: int = 0, items: int = 0) -> None:
        """Count ``inputs`` and ``items`` more as done; update the bar or, once per interval, print a line."""
        self.inputs += inputs
        self.items += items
        if not self.verbose:
            return
        if self._bar is not None:
            if inputs:
                self._bar.update(inputs)
            self._bar.set_postfix_str(f"items={self.items} ({self._items_rate():.1f} items/s)", refresh=False)
            return
        now = time.monotonic()
        if now - self._last_line >= self._interval:
            self._last_line = now
            self._print_line()

    def _items_rate(self) -> float:
        elapsed = time.monotonic() - self._start
        return (self.items - self._initial_items) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The plain progress line: inputs done, their rate, items and their rate, elapsed time and ETA."""
        elapsed = time.monotonic() - self._start
        done = self.inputs - self._initial
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _format_seconds((self.total - self.inputs) / rate) if rate > 0 else "?"
        percent = 100.0 * self.inputs / self.total if self.total else 100.0
        return (
            f"{self.desc}: {self.inputs}/{self.total} inputs ({percent:.0f}%), {rate:.1f} inputs/s, "
            f"{self.items} items ({self._items_rate():.1f} items/s), elapsed {_format_seconds(elapsed)}, ETA {eta}"
        )

    def _print_line(self) -> None:
        print(self.line(), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """A status line (e.g. "waiting for node 1") that does not break the bar."""
        if not self.verbose:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def abort(self) -> None:
        """Close the bar without a final line (after a failure, or a second time: no-op)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.verbose = False

    def close(self) -> None:
        """Finish the display: close the bar or print the final line; later calls print nothing."""
        if not self.verbose:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._print_line()
        self.verbose = False  # closed: later calls print nothing


def _interval_from_env() -> float:
    value = os.environ.get(INTERVAL_ENV)
    if value is None or value == "":
        return DEFAULT_INTERVAL
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV}={value!r} is not a number of seconds") from None


def _draws_a_bar(stream: TextIO) -> bool:
    """A terminal tqdm can draw on: a tty whose width is unknown (tqdm's fallback) or non-zero."""
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):  # no file descriptor (io.UnsupportedOperation is one)
        return True
