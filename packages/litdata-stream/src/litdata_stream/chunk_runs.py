"""The chunks a reader goes through, listed for the prefetcher: once per stay, not once per plan."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator


def chunk_runs(chunks: Iterable[int], window: int = 1, patience: int = 256) -> Iterator[int]:
    """``chunks`` (in order of use, repeats allowed) without the repeats of a chunk still in use.

    A chunk is listed again only once it has left the ``window`` chunks most recently
    listed (the chunks a reader keeps open together): a chunk that comes back later in a
    plan (an upsampled copy, another pass, a subset returning to it) is listed again, so
    :class:`Prefetcher` fetches it again if the cache has let it go. Memory: ``window``.

    After ``patience`` repeats in a row a repeat is listed anyway: an endless plan whose
    chunks all stay in the window (a cycling dataset of one chunk) must still yield, or
    the prefetcher asking for its next entry would wait for ever. A repeat listed costs
    the prefetcher one look at the cache.
    """
    recent: OrderedDict[int, None] = OrderedDict()
    window = max(int(window), 1)
    repeats = 0
    for chunk in chunks:
        if chunk in recent:
            recent.move_to_end(chunk)
            repeats += 1
            if repeats >= patience:
                repeats = 0
                yield chunk
            continue
        repeats = 0
        recent[chunk] = None
        if len(recent) > window:
            recent.popitem(last=False)
        yield chunk
