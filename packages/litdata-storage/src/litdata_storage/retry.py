"""Retry with exponential backoff and jitter.

The SDKs retry a failed request, but not a connection that drops while the body is
being read, nor a server that restarts between our requests: the stores wrap those
reads with this helper and resume from the last byte they received.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["backoff_delay", "call_with_retries"]

T = TypeVar("T")
logger = logging.getLogger("litdata_storage")


def backoff_delay(attempt: int, base: float = 0.1, cap: float = 5.0) -> float:
    """Seconds to sleep before retry number ``attempt`` (1-based): full jitter, capped."""
    delay: float = random.uniform(0.5, 1.0) * min(cap, base * (2 ** (attempt - 1)))
    return delay


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int,
    is_transient: Callable[[BaseException], bool],
    what: str,
) -> T:
    """Call ``fn`` up to ``attempts`` times while it raises a transient error.

    The last error is re-raised unchanged; ``what`` (a URL, never a secret) goes to the
    debug log line of each retry.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not is_transient(exc):
                raise
            delay = backoff_delay(attempt)
            logger.debug(
                "retrying %s after %s (attempt %d of %d, in %.2fs)",
                what,
                type(exc).__name__,
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
