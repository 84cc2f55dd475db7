"""Progress of a run: a tqdm bar on a terminal, a plain line at intervals in a log.

In a notebook the bar is tqdm's widget. A bar redrawn with carriage returns turns a CI log or a ``nohup`` file into one huge
line, so when stderr is not a terminal the same numbers (inputs done, inputs/s, items/s,
ETA) are printed as ordinary lines every ``LITDATA_PROGRESS_INTERVAL`` seconds (30 by
default) and once at the end.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

INTERVAL_ENV = "LITDATA_PROGRESS_INTERVAL"


def _format_seconds(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Progress:
    """Counts inputs (the bar's unit) and items; shows them as the output allows."""

    def __init__(
        self,
        total: int,
        *,
        desc: str = "optimize",
        verbose: bool = True,
        initial: int = 0,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.total = total
        self.inputs = initial
        self.items = 0
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self._start = time.monotonic()
        self._initial = initial
        self._bar: Any = None
        self._interval = interval if interval is not None else float(os.environ.get(INTERVAL_ENV, "30"))
        self._last_line = self._start
        if not verbose:
            return
        if _is_terminal(self.stream) or (stream is None and "ipykernel" in sys.modules):
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, unit="input", file=self.stream, dynamic_ncols=True
            )

    def update(self, inputs: int = 0, items: int = 0) -> None:
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
        return self.items / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
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
        if not self.verbose:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._print_line()
        self.verbose = False  # closed: later calls print nothing


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
