"""``StreamingDataset``: an optimized dataset, read from any storage, as a torch dataset.

Random access (``ds[i]``, ``ds[a:b]``) reads the i-th stored item of the dataset (or of
its subsample or split), whatever the shuffle setting. Iteration follows the epoch plan
of :mod:`litdata_stream.epoch_plan`: it is an ``IterableDataset`` so that each DataLoader worker
streams its own batches chunk by chunk while a background thread downloads the next
chunks. Subclasses may override ``__getitem__``; iteration goes through it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from litdata_format import (
    TOKENS_LOADER,
    Encryption,
    ItemDecoder,
    ItemIndexError,
    sample_compressed,
    token_block,
    token_dtype,
)

from .cache import DEFAULT_MAX_CACHE_BYTES, default_cache_root
from .cache_budget import resolve_max_cache_size
from .chunks import Prefetcher
from .env import WorkerEnv
from .epoch_plan import RankPlan, Segment
from .heap import release_free_heap
from .inert_options import check_batch_decode, check_num_canonical_nodes, check_window_direct_io
from .item_loaders import resolve_item_loader
from .profiler import TRACER
from .resume import check_dataset_state, dataset_identity, resolve_segment
from .selection import Selection, check_subsample, subset_positions
from .serializer_overrides import serializer_registry
from .session_options import merge_session_options
from .shuffle import check_algorithm, epoch_order
from .shuffle.base import EpochOrder
from .shuffle.item_window import ItemWindowShuffle, resolve_item_shuffle_window
from .sources import open_chunks, open_source, split_item_loader
from .state_override import overridden_dataset_state
from .steering import LoaderControls, Steering
from .transforms import resolve_transform

#: ``shuffle=True`` mixes items across blocks of this many chunks by default.
DEFAULT_BLOCK_CHUNKS = 8


def _chunk_offsets(chunk_sizes: Sequence[int] | np.ndarray) -> np.ndarray:
    """Global index of each chunk's first item."""
    offsets = np.zeros(len(chunk_sizes) + 1, dtype=np.int64)
    np.cumsum(np.asarray(chunk_sizes, dtype=np.int64), out=offsets[1:])
    return offsets


class StreamingDataset(LoaderControls, IterableDataset[Any]):
    """A dataset written by ``optimize()`` (or LitData), streamed from ``input_dir``.

    Args:
        input_dir: a local folder, ``local:/path`` (a network drive, copied into the cache),
            ``s3://``, ``gs://`` or ``azure://`` URL.
        cache_dir: where chunks are cached (default ``$LITDATA_CACHE_DIR`` or the user cache).
        item_loader: ``TokensLoader(block_size)`` for token datasets (ours or LitData's);
            default (or LitData's ``PyTreeLoader()``): whole items.
        shuffle: a new seeded order each epoch (see ``shuffle_algo``).
        drop_last: drop the samples that do not fill every rank's last batch; by default
            True under distributed training and False otherwise (ranks are then padded
            with repeated samples so that they all get the same number of batches).
        seed: seeds shuffling and subsampling.
        max_cache_size: the cache folder never holds more: bytes, ``"10GB"``/``"10G"``, a
            fraction of the free disk (``0.9``), or None (LitData's rule: 75% of the free
            disk, leaving 50 GB free); ``$MAX_CACHE_SIZE`` wins when set. The default
            stays a fixed 100 GB so that the shuffle blocks (which fit the budget) do not
            depend on the free disk space.
        subsample: keep this fraction of the items (fixed by the seed), as LitData counts
            them: ``int(n * subsample)``. Above 1 it upsamples: ``2.5`` is every item
            twice plus a seeded half of them a third time (``2n + int(n / 2)`` items);
            the repeats are separate positions of the epoch, shuffled like any other.
        max_pre_download: chunks each worker downloads ahead of need.
        storage_options: passed to the storage backend (endpoint, credentials, ...).
        transform: applied to every item read (a list: each in turn, as in LitData).
        allow_pickle: allow decoding pickled values stored in the dataset.
        shuffle_algo: ``"block"`` (default: items permuted across blocks of
            ``shuffle_block_size`` items, several chunks, so batches mix chunks) or
            ``"chunk"`` (chunks in random order, items shuffled within each: one chunk
            open at a time, batches of one or two chunks).
        shuffle_block_size: items per block of the block shuffle (default: 8 chunks'
            worth; the dataset's size or more: a full permutation). Shrunk, with a
            warning, when the chunks of a block would not fit ``max_cache_size``.
        encryption: the ``FernetEncryption`` / ``RSAEncryption`` the dataset was written
            with (or ``.load()``-ed from its key file); required for an encrypted dataset,
            checked against its index (algorithm, level) when the dataset is opened.
        serializers: data format name -> serializer decoding the leaves of that name
            (LitData serializer objects or ``litdata_format.Serializer``), replacing or
            adding to the built-in ones; see :mod:`litdata_stream.serializer_overrides`.
        session_options: ``boto3.Session`` arguments (``profile_name``, ``region_name``,
            credentials) for ``s3://`` datasets; ``storage_options`` win where both set one.
        index_path: the dataset's ``index.json`` (or a folder holding it) kept apart from
            ``input_dir``, local or a URL; chunks are still read from ``input_dir``.
        force_override_state_dict: resume from a state saved with another seed, shuffle
            or size: the dataset's arguments win (with a warning) instead of an error.
        num_canonical_nodes: accepted for LitData; changes nothing here (the epoch order
            does not depend on the number of nodes, so any world size resumes it).
        batch_decode: accepted for LitData (how many items it decodes at once: speed
            only); changes nothing here, where each item is decoded when it is read.
        item_shuffle_window: LitData's in-chunk shuffle: chunks in random order, each
            chunk's items shuffled by aligned windows of this many items (``"auto"``: 256,
            ``0``/``"full"``: the whole chunk); replaces ``shuffle_algo`` when given.
            None (default) keeps ``shuffle_algo``.
        window_direct_io: accepted for LitData (O_DIRECT window reads on NFS); changes
            nothing here.
        columns: for a parquet dataset, the columns each item (a dict) holds (default:
            all); LitData's ``item_loader=ParquetLoader(columns=...)`` means the same.
        input_format: the source reading ``input_dir`` (``"litdata"``, ``"parquet"``,
            ``"mds"``, ``"webdataset"``; see
            :mod:`litdata_stream.sources`); default: detected from what is there.
    """

    def __init__(
        self,
        input_dir: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        item_loader: Any = None,
        shuffle: bool = False,
        drop_last: bool | None = None,
        seed: int = 42,
        serializers: dict[str, Any] | None = None,
        max_cache_size: int | float | str | None = DEFAULT_MAX_CACHE_BYTES,
        subsample: float = 1.0,
        encryption: Encryption | None = None,
        storage_options: dict[str, Any] | None = None,
        session_options: dict[str, Any] | None = None,
        max_pre_download: int = 2,
        index_path: str | None = None,
        force_override_state_dict: bool = False,
        transform: Callable[[Any], Any] | list[Callable[[Any], Any]] | None = None,
        num_canonical_nodes: int | None = None,
        batch_decode: int | str | bool = "auto",
        item_shuffle_window: int | str | None = None,
        window_direct_io: bool = False,
        allow_pickle: bool = False,
        shuffle_algo: str = "block",
        shuffle_block_size: int | None = None,
        columns: list[str] | None = None,
        input_format: str | None = None,
    ) -> None:
        super().__init__()
        item_loader, columns, loader_format = split_item_loader(item_loader, columns)
        item_loader = resolve_item_loader(item_loader)
        self.input_dir = os.fspath(input_dir)
        cache_root = os.path.expanduser(os.fspath(cache_dir)) if cache_dir else default_cache_root()
        self.max_cache_bytes = resolve_max_cache_size(max_cache_size, cache_root)
        self.serializers = serializers
        self.session_options = session_options
        self.index_path = index_path
        self.force_override_state_dict = bool(force_override_state_dict)
        self.num_canonical_nodes = check_num_canonical_nodes(num_canonical_nodes)
        self.batch_decode = check_batch_decode(batch_decode)
        self.window_direct_io = check_window_direct_io(window_direct_io)
        self.item_shuffle_window = item_shuffle_window
        self.item_window = resolve_item_shuffle_window(item_shuffle_window)
        self.columns = columns
        self.source = self._open_source(
            input_dir,
            source=input_format,
            columns=columns,
            parquet_loader=loader_format is not None,
            cache_dir=cache_root,
            max_cache_bytes=self.max_cache_bytes,
            storage_options=merge_session_options(self.input_dir, storage_options, session_options),
            encryption=encryption,
            index_path=index_path,
            allow_pickle=allow_pickle,
        )
        config = self.source.index.config
        assert config is not None
        self.item_loader = item_loader
        self.shuffle = bool(shuffle)
        self.shuffle_algo = check_algorithm(shuffle_algo) if self.item_window is None else "chunk"
        if shuffle_block_size is not None and (isinstance(shuffle_block_size, bool) or int(shuffle_block_size) < 1):
            raise ValueError(f"shuffle_block_size must be a positive number of items, got {shuffle_block_size!r}")
        self.shuffle_block_size = None if shuffle_block_size is None else int(shuffle_block_size)
        self.drop_last = drop_last
        self.seed = int(seed)
        self.max_pre_download = int(max_pre_download)
        self.transform = resolve_transform(transform)
        self.allow_pickle = allow_pickle
        self._tokens = config.item_loader == TOKENS_LOADER
        self._finished_items = False  # a foreign format's chunks hand out finished items
        if self._tokens:
            if item_loader is None or item_loader.block_size is None:
                raise ValueError(
                    f"{self.input_dir} is a token dataset: pass item_loader=TokensLoader(block_size=...)"
                )
            self._dtype = token_dtype(config.data_format)
            sizes = np.maximum(self.source.index.chunk_dims(), 0) // item_loader.block_size
        elif hasattr(self.source, "item_decoder"):  # a foreign format: its chunks hand out finished items
            if item_loader is not None:
                raise ValueError(f"{self.input_dir} is a {self.source.kind} dataset: item_loader does not apply")
            self._decoder = self.source.item_decoder
            self._finished_items = True
            sizes = self.source.index.chunk_sizes()
        else:
            if item_loader is not None:
                raise ValueError(f"{self.input_dir} is not a token dataset (its item loader is {config.item_loader})")
            self._decoder = ItemDecoder(config.data_format, config.data_spec, allow_pickle=allow_pickle,
                                        registry=serializer_registry(serializers),
                                        sample_encryption=self.source.sample_encryption,
                                        per_sample=sample_compressed(config.extra))
            sizes = self.source.index.chunk_sizes()
        self.subsample = check_subsample(subsample)
        self._plan_chunks(sizes)
        chunk_bytes = self.source.index.chunk_byte_sizes()
        self._mean_chunk_bytes = float(chunk_bytes.sum()) / max(len(chunk_bytes), 1)
        self._block_warned = False
        self._init_steering()

    def _plan_chunks(self, sizes: Sequence[int]) -> None:
        """Select this dataset's items over chunks of ``sizes`` items (again when a raw
        dataset's items are replaced) and open the chunks afresh."""
        self._chunk_items = sizes  # the offsets of ds[i] are made from them when first needed
        self._offsets_made: np.ndarray | None = None
        self._selection = Selection.full(sizes)
        if self.subsample != 1.0:
            self._selection = self._selection.resample(self.subsample, self.seed)
        self._chunks = open_chunks(self.source)

    @property
    def _offsets(self) -> np.ndarray:
        """Global index of each chunk's first item (made on the first ``ds[i]``: a worker
        that only streams never needs this O(chunks) array)."""
        if self._offsets_made is None:
            self._offsets_made = _chunk_offsets(self._chunk_items)
        return self._offsets_made

    def _open_source(self, input_dir: str | os.PathLike[str], **options: Any) -> Any:
        """The source reading ``input_dir`` (a subclass may build its own, e.g. raw files)."""
        return open_source(input_dir, **options)

    # -- selection ---------------------------------------------------------------------
    def _with_selection(self, selection: Selection) -> StreamingDataset:
        """A copy of this dataset over another selection (used by train_test_split)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._selection = selection
        copy._chunks = open_chunks(self.source)
        copy._steering = Steering()
        return copy

    def subset(self, indices: Sequence[int] | slice) -> StreamingDataset:
        """A copy of this dataset over the items at ``indices`` (positions of this dataset,
        after its subsample or split), in the order given, duplicates kept (as in LitData).

        Shuffling, splitting, mixing and resuming work on it as on any dataset. Costs a few
        numbers per run of consecutive indices in one chunk: ``subset(range(a, b))`` is as
        cheap as the dataset. ``ItemIndexError`` names an index outside ``0 .. len-1``.

        Args:
            indices: positions of this dataset (a sequence of ints or a slice).

        Returns:
            A new dataset of the same type over those items; this one is unchanged.
        """
        positions = subset_positions(indices, len(self._selection))
        return self._with_selection(self._selection.subset(positions))

    # -- random access -----------------------------------------------------------------
    def __len__(self) -> int:
        """Samples this rank yields per epoch (all selected items in a single process)."""
        return self.rank_plan().per_rank

    @property
    def num_items(self) -> int:
        """Items selected (the whole dataset unless subsampled or split)."""
        return len(self._selection)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._selection)))]
        if isinstance(index, (np.integer,)):
            index = int(index)
        if not isinstance(index, int):
            if isinstance(index, str):
                return self.get_by_key(index)
            raise TypeError(f"dataset indices must be ints, slices or str keys, not {type(index).__name__}")
        count = len(self._selection)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise ItemIndexError(f"index {index} is out of range for a dataset of {count} items")
        return self.read_item(*self._selection.locate(index))

    def get_by_key(self, key: str | int) -> Any:
        """The item ``optimize(..., key_fn=...)`` stored under ``key`` (str or int), transformed.

        ``dataset["id"]`` calls this; an int goes here only explicitly (``dataset[3]`` is
        the 4th item). As in LitData the keys cover the whole dataset, whatever
        ``subsample`` or split. ``KeyError(key)`` when no item has the key (or the dataset
        has no keys index); needs pyarrow (``litdata-stream[keys]``).

        Args:
            key: the key ``key_fn`` returned for the item when it was written.
        """
        lookup = self.__dict__.get("_key_lookup")
        if lookup is None:
            from .keys import KeyLookup

            lookup = self._key_lookup = KeyLookup(self.source)
        return self.read(lookup.index_of(key))

    def read(self, global_index: int) -> Any:
        """The stored item (or token block) at ``global_index`` of the whole dataset, transformed.

        Unlike ``dataset[i]``, the index ignores ``subsample``, splits and subsets.

        Args:
            global_index: the item's number in the whole stored dataset, from 0.
        """
        number = int(np.searchsorted(self._offsets, global_index, side="right")) - 1
        return self.read_item(number, global_index - int(self._offsets[number]))

    def read_item(self, number: int, within: int) -> Any:
        """Item ``within`` of chunk ``number``, decoded and transformed.

        The one place every read goes through: it opens the chunk (downloading it if
        needed), decrypts and decompresses the item, decodes it and applies ``transform``.

        Args:
            number: the chunk's number in the index.
            within: the item's number inside that chunk, from 0.

        Raises:
            ChunkFormatError: if the item's bytes cannot be decoded.
        """
        if TRACER.enabled:
            with TRACER.span("read", chunk=number):
                chunk = self._chunks.get(number)
        else:
            chunk = self._chunks.get(number)
        if self._tokens:
            item = torch.from_numpy(
                token_block(chunk.buffer, chunk.header_size, self._dtype, self.item_loader.block_size, within)
            )
        elif self._finished_items:
            item = self._decoder.decode(chunk.item(within))
        else:  # decrypted, decompressed and decoded by the format's decoder, errors naming the item
            data = chunk.item(within)
            if TRACER.enabled:
                with TRACER.span("decode"):
                    item = self._decoder.decode(data, chunk.name, within, self.input_dir)
            else:
                item = self._decoder.decode(data, chunk.name, within, self.input_dir)
        return self.transform(item) if self.transform is not None else item

    # -- the plan ----------------------------------------------------------------------
    def _drop_last(self, world_size: int) -> bool:
        return self.drop_last if self.drop_last is not None else world_size > 1

    def block_size(self) -> int:
        """Items per block of the block shuffle, within the cache budget."""
        selection = self._selection
        mean_items = max(len(selection) / max(selection.num_parts, 1), 1.0)
        requested = self.shuffle_block_size or int(math.ceil(DEFAULT_BLOCK_CHUNKS * mean_items))
        if self.source.reads_in_place(int(selection.chunk[0]) if selection.num_parts else 0):
            return requested  # read in place (a whole dataset is, or none of it): no cache to fill
        mean_bytes = self._mean_chunk_bytes
        local_ranks = max(int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1), 1)
        # Every worker of every rank of the node may hold a block's chunks of its own (at
        # a block boundary they differ) next to the chunks it prefetches.
        readers = max(self.num_workers, 1) * local_ranks
        per_reader = int(self.max_cache_bytes // max(mean_bytes, 1)) // readers - self.max_pre_download
        window = math.ceil(requested / mean_items) + 1
        if window <= max(per_reader, 2):
            return requested
        shrunk = max(int((per_reader - 1) * mean_items), 1) if per_reader > 2 else max(int(mean_items), 1)
        if not self._block_warned:
            self._block_warned = True
            warnings.warn(
                f"{self.input_dir}: a shuffle block of {requested} items spans {window} chunks, more than "
                f"max_cache_size={self.max_cache_bytes} bytes holds for {readers} reader(s) next to the chunks "
                f"they prefetch; using blocks of {shrunk} items (fewer chunks mixed per batch)",
                stacklevel=2,
            )
        return shrunk

    def epoch_order(self, epoch: int | None = None) -> EpochOrder:
        """The order of the selected items in ``epoch`` (default: the current one).

        Args:
            epoch: the epoch whose shuffle to build; None for the current epoch.

        Returns:
            The lazy :class:`~litdata_stream.shuffle.EpochOrder` of the configured algorithm.
        """
        if self.shuffle and self.item_window is not None:
            return ItemWindowShuffle(self._selection, seed=self.seed, epoch=self.epoch if epoch is None else epoch,
                                     window=self.item_window)
        # Only the block shuffle has blocks: an unshuffled or chunk-shuffled dataset never
        # warns about (or shrinks) a block it does not use.
        blocks = self.shuffle and check_algorithm(self.shuffle_algo) == "block"
        return epoch_order(self._selection, shuffle=self.shuffle, algorithm=self.shuffle_algo, seed=self.seed,
                           epoch=self.epoch if epoch is None else epoch, block_size=self.block_size() if blocks else 1)

    def rank_plan(self, steering: Steering | None = None) -> RankPlan:
        """This rank's plan for the epoch of ``steering`` (default: the current steering).

        Args:
            steering: the epoch, batch size, topology and resume point to plan for; None
                for what the loader set last.

        Returns:
            The :class:`~litdata_stream.epoch_plan.RankPlan` saying which samples this rank serves.
        """
        steering = steering or self._current_steering()
        env = steering.env or self._env()
        segment = Segment(env.world_size, steering.batch_size, self._drop_last(env.world_size), steering.intervals)
        return RankPlan(self.epoch_order(steering.epoch), segment, env.rank)

    # -- state ---------------------------------------------------------------------------
    def batches_left(self) -> int:
        """Batches of this rank's epoch still to come (after a resume point)."""
        self.resolve_resume()
        return self.rank_plan().num_batches - self._current_steering().first_batch

    def check_state(self, state: dict[str, Any]) -> None:
        """Refuse a state saved from another dataset or order (a clear ``ValueError``).

        Args:
            state: a dict from :meth:`state_dict`.
        """
        check_dataset_state(self, state)

    def state_dict(self, steering: Steering | None = None) -> dict[str, Any]:
        """Where this dataset's epoch stands, as plain Python: the epoch, the segment being
        served (topology and positions) and the batches of it already consumed.

        It also names the dataset (size, seed, shuffle settings) so that resuming on
        another dataset fails instead of serving the wrong samples.

        Args:
            steering: the steering to describe; None for the current one.

        Returns:
            A dict of plain values, ready for ``torch.save`` or JSON.
        """
        self.resolve_resume()
        steering = steering or self._current_steering()
        env = steering.env or self._env()
        return {
            **dataset_identity(self),
            "epoch": steering.epoch,
            "world_size": env.world_size,
            "batch_size": steering.batch_size,
            "drop_last": self._drop_last(env.world_size),
            "intervals": None if steering.intervals is None else [list(i) for i in steering.intervals],
            "batches_consumed": steering.first_batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` on the next iteration, on any topology.

        The state is checked now; it is turned into this topology's plan later, by
        :meth:`resolve_resume`, once the batch size and rank are known.

        Args:
            state: a dict from :meth:`state_dict`.

        Raises:
            ValueError: if it was saved from another dataset, order or state format
                (unless ``force_override_state_dict`` was set).
        """
        if self.force_override_state_dict:
            state = overridden_dataset_state(dataset_identity(self), state, url=self.source.url)
        check_dataset_state(self, state)
        self._steer(epoch=int(state["epoch"]), epoch_set=True)
        self._pending_state = dict(state)

    def resolve_resume(self) -> None:
        """Turn a loaded state into this topology's plan (the loader calls this once the
        batch size and the rank are known; iteration does it by itself)."""
        state = self.__dict__.pop("_pending_state", None)
        if state is None:
            return
        env = self._env()
        intervals, first_batch = resolve_segment(
            state, self.epoch_order(int(state["epoch"])),
            Segment(env.world_size, self.batch_size, self._drop_last(env.world_size)),
        )
        self._steer(epoch=int(state["epoch"]), intervals=intervals, first_batch=first_batch, epoch_set=True)

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        self.resolve_resume()
        worker = WorkerEnv.detect()
        steering = self._start_iteration()
        plan = self.rank_plan(steering)
        batches = plan.worker_batches(worker.num_workers, worker.worker_id, steering.first_batch)
        release_free_heap()  # what planning allocated and freed (O(chunks) arrays), before reading
        return self.stream((plan.batch(j) for j in batches), plan.chunk_stream(batches),
                           keep_open=plan.order.window_chunks)

    def stream(self, positions: Iterable[np.ndarray], chunk_order: Iterable[int], keep_open: int = 1) -> Iterator[Any]:
        """Read the stored positions of ``positions`` (arrays, lazily), prefetching ``chunk_order``.

        Args:
            positions: arrays of stored positions of the selection, one per batch, in order.
            chunk_order: the chunks those reads need, in order of first use, for the prefetcher.
            keep_open: how many chunks to keep open at once (the shuffle's window).

        Yields:
            The items, decoded and transformed, in the order of ``positions``.
        """
        self._chunks.keep_open = max(keep_open, 1)
        prefetcher = Prefetcher(self.source, chunk_order, self.max_pre_download, window=self._chunks.keep_open)
        selection = self._selection
        impl = type(self).__getitem__
        direct = impl is StreamingDataset.__getitem__ or getattr(impl, "reads_stored_item", False)
        try:
            current = -1
            for batch in positions:
                parts = selection.part_of(batch)
                chunks = selection.chunk[parts].tolist()
                if direct:
                    withins = selection.within(batch, parts).tolist()
                    for number, within in zip(chunks, withins):
                        if number != current:
                            current = number
                            prefetcher.reading(number)
                        yield self.read_item(number, within)
                else:  # a subclass's __getitem__ reads each item
                    for position, number in zip(batch.tolist(), chunks):
                        if number != current:
                            current = number
                            prefetcher.reading(number)
                        yield self[position]
        finally:
            prefetcher.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_dir!r}, items={self.num_items})"
