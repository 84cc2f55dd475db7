"""``StreamingDataset``: an optimized dataset, read from any storage, as a torch dataset.

Random access (``ds[i]``, ``ds[a:b]``) reads the i-th stored item of the dataset (or of
its subsample or split), whatever the shuffle setting. Iteration follows the epoch plan
of :mod:`litdata_stream.plan`: it is an ``IterableDataset`` so that each DataLoader worker
streams its own batches chunk by chunk while a background thread downloads the next
chunks. Subclasses may override ``__getitem__``; iteration goes through it.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from litdata_format import (
    TOKENS_LOADER,
    ChunkFormatError,
    FormatError,
    ItemDecoder,
    parse_size,
    token_dtype,
)
from litdata_format.compression import decompress_item, sample_compressed

from .cache import DEFAULT_MAX_CACHE_BYTES
from .chunks import OpenChunks, Prefetcher
from .env import DistributedEnv, WorkerEnv
from .plan import Selection, chunk_offsets, full_selection, rank_samples, selection_indices, worker_plan
from .profiler import TRACER
from .source import DatasetSource
from .steering import LoaderSteered
from .tokens import TokensLoader


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a fraction in (0, 1], got {value!r}")
    return float(value)


def subsample_selection(selection: Selection, offsets: np.ndarray, fraction: float, seed: int) -> Selection:
    """A fixed, seeded ``fraction`` of the selected items, grouped by chunk as before."""
    indices = selection_indices(selection, offsets)
    count = int(round(len(indices) * fraction))
    chosen = np.sort(np.random.default_rng([seed & 0xFFFFFFFF, 7]).permutation(indices)[:count])
    return group_by_chunk(chosen, offsets)


def group_by_chunk(indices: np.ndarray, offsets: np.ndarray) -> Selection:
    """Turn sorted global indices back into a per-chunk selection."""
    if len(indices) == 0:
        return []
    chunks = np.searchsorted(offsets, indices, side="right") - 1
    boundaries = np.flatnonzero(np.diff(chunks)) + 1
    return [
        (int(chunks[start]), group - offsets[chunks[start]])
        for start, group in zip(np.concatenate([[0], boundaries]), np.split(indices, boundaries))
    ]


class StreamingDataset(LoaderSteered, IterableDataset):
    """A dataset written by ``optimize()`` (or LitData), streamed from ``input_dir``.

    Args:
        input_dir: a local folder, ``local:/path`` (a network drive, copied into the cache),
            ``s3://``, ``gs://`` or ``azure://`` URL.
        cache_dir: where chunks are cached (default ``$LITDATA_CACHE_DIR`` or the user cache).
        item_loader: ``TokensLoader(block_size)`` for token datasets; default: whole items.
        shuffle: shuffle chunk order and items within chunks, anew each epoch.
        drop_last: drop the samples that do not fill every rank's last batch; by default
            True under distributed training and False otherwise (ranks are then padded
            with repeated samples so that they all get the same number of batches).
        seed: seeds shuffling and subsampling.
        max_cache_size: the cache folder never holds more (bytes or ``"10GB"``).
        subsample: keep this fraction of the items (fixed by the seed).
        max_pre_download: chunks each worker downloads ahead of need.
        storage_options: passed to the storage backend (endpoint, credentials, ...).
        transform: applied to every item read.
        allow_pickle: allow decoding pickled values stored in the dataset.
    """

    def __init__(
        self,
        input_dir: str | os.PathLike[str],
        cache_dir: str | None = None,
        item_loader: TokensLoader | None = None,
        shuffle: bool = False,
        drop_last: bool | None = None,
        seed: int = 42,
        max_cache_size: int | str = DEFAULT_MAX_CACHE_BYTES,
        subsample: float = 1.0,
        max_pre_download: int = 2,
        storage_options: dict[str, Any] | None = None,
        transform: Callable[[Any], Any] | None = None,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__()
        if item_loader is not None and not isinstance(item_loader, TokensLoader):
            raise TypeError(f"item_loader must be a TokensLoader or None, got {type(item_loader).__name__}")
        self.input_dir = os.fspath(input_dir)
        self.source = DatasetSource(
            input_dir,
            cache_dir=cache_dir,
            max_cache_bytes=parse_size(max_cache_size),
            storage_options=storage_options,
        )
        config = self.source.index.config
        assert config is not None
        self.item_loader = item_loader
        self.shuffle = bool(shuffle)
        self.drop_last = drop_last
        self.seed = int(seed)
        self.max_pre_download = int(max_pre_download)
        self.transform = transform
        self.allow_pickle = allow_pickle
        self._tokens = config.item_loader == TOKENS_LOADER
        if self._tokens:
            if item_loader is None or item_loader.block_size is None:
                raise ValueError(
                    f"{self.input_dir} is a token dataset: pass item_loader=TokensLoader(block_size=...)"
                )
            self._dtype = token_dtype(config.data_format)
            sizes = [(c.dim or 0) // item_loader.block_size for c in self.source.index.chunks]
        else:
            if item_loader is not None:
                raise ValueError(f"{self.input_dir} is not a token dataset (its item loader is {config.item_loader})")
            self._decoder = ItemDecoder(config.data_format, config.data_spec, allow_pickle=allow_pickle)
            sizes = [c.chunk_size for c in self.source.index.chunks]
        self._per_sample = sample_compressed(config.extra)
        self._offsets = chunk_offsets(sizes)
        self._offset_list = self._offsets.tolist()
        self._selection = full_selection(sizes)
        if subsample != 1.0:
            self._selection = subsample_selection(self._selection, self._offsets, _check_fraction("subsample", subsample), self.seed)
        self._update_indices()
        self._chunks = OpenChunks(self.source)
        self._init_steering()

    # -- selection ---------------------------------------------------------------------
    def _update_indices(self) -> None:
        self._indices = selection_indices(self._selection, self._offsets)

    def _with_selection(self, selection: Selection) -> StreamingDataset:
        """A copy of this dataset over another selection (used by train_test_split)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._selection = selection
        copy._update_indices()
        copy._chunks = OpenChunks(self.source)
        return copy

    # -- random access -----------------------------------------------------------------
    def __len__(self) -> int:
        """Samples this rank yields per epoch (all selected items in a single process)."""
        env = self._env()
        if env.world_size == 1 and not self._drop_last(env):
            return len(self._indices)
        total = len(self._indices)
        if self._drop_last(env):
            per_rank = total // env.world_size
            return per_rank - per_rank % self.batch_size
        return -(-total // env.world_size)

    @property
    def num_items(self) -> int:
        """Items selected (the whole dataset unless subsampled or split)."""
        return len(self._indices)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._indices)))]
        if isinstance(index, (np.integer,)):
            index = int(index)
        if not isinstance(index, int):
            raise TypeError(f"dataset indices must be ints or slices, not {type(index).__name__}")
        count = len(self._indices)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"index {index} is out of range for a dataset of {count} items")
        return self.read(int(self._indices[index]))

    def read(self, global_index: int) -> Any:
        """The stored item (or token block) at ``global_index``, transformed."""
        number = bisect_right(self._offset_list, global_index) - 1
        within = global_index - self._offset_list[number]
        if TRACER.enabled:
            with TRACER.span("read", chunk=number):
                chunk = self._chunks.get(number)
        else:
            chunk = self._chunks.get(number)
        if self._tokens:
            item = self._token_block(chunk, within)
        else:
            data = chunk.item(within)
            try:
                if self._per_sample:
                    data = decompress_item(data, chunk.name)
                if TRACER.enabled:
                    with TRACER.span("decode"):
                        item = self._decoder.decode(data)
                else:
                    item = self._decoder.decode(data)
            except FormatError as exc:
                raise type(exc)(f"{self.input_dir}: chunk {chunk.name}, item {within}: {exc}") from None
            except (ValueError, TypeError, UnicodeDecodeError, OverflowError, EOFError) as exc:
                raise ChunkFormatError(f"{self.input_dir}: chunk {chunk.name}, item {within} cannot be decoded: {exc}") from exc
        return self.transform(item) if self.transform is not None else item

    def _token_block(self, chunk: Any, k: int) -> torch.Tensor:
        block = self.item_loader.block_size  # type: ignore[union-attr]
        itemsize = self._dtype.itemsize
        start = chunk.header_size + k * block * itemsize
        array = np.frombuffer(chunk.buffer, dtype=self._dtype, count=block, offset=start)
        return torch.from_numpy(array)

    # -- iteration ---------------------------------------------------------------------
    def _drop_last(self, env: DistributedEnv) -> bool:
        return self.drop_last if self.drop_last is not None else env.world_size > 1

    def rank_samples(self, env: DistributedEnv | None = None) -> np.ndarray:
        """This rank's samples for the current epoch, in order, as positions in ``self``."""
        env = env or self._env()
        samples = rank_samples(
            self._selection,
            self._offsets,
            seed=self.seed,
            epoch=self.epoch,
            shuffle=self.shuffle,
            world_size=env.world_size,
            rank=env.rank,
            drop_last=self._drop_last(env),
            batch_size=self.batch_size,
        )
        return np.searchsorted(self._indices, samples)

    def __iter__(self) -> Iterator[Any]:
        worker = WorkerEnv.detect()
        positions = self.rank_samples()
        plan = worker_plan(
            positions,
            batch_size=self.batch_size,
            num_workers=worker.num_workers,
            worker_id=worker.worker_id,
            first_batch=self._start_iteration(),
        )
        return self._iterate(plan.samples)

    def _iterate(self, positions: np.ndarray) -> Iterator[Any]:
        global_indices = self._indices[positions]
        chunk_numbers = np.searchsorted(self._offsets, global_indices, side="right") - 1
        first_use = np.unique(chunk_numbers, return_index=True)[1]
        order = chunk_numbers[np.sort(first_use)].tolist()
        rank_in_order = {number: i for i, number in enumerate(order)}
        prefetcher = Prefetcher(self.source, order, self.max_pre_download)
        try:
            current = -1
            for position, number in zip(positions.tolist(), chunk_numbers.tolist()):
                if number != current:
                    current = number
                    prefetcher.advance(rank_in_order[number])
                yield self[position]
        finally:
            prefetcher.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_dir!r}, items={self.num_items})"
