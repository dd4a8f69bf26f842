"""Decoded feature tables kept in memory between queries.

Reading a feature group means decoding its Parquet files, and for embedding columns that
costs far more than the query itself (list decoding runs ~0.5 GB/s per core, a vector kernel
over memory ~10-20 GB/s). The engine keeps the decoded Arrow batches of recently read tables,
keyed by table location and Delta version: a commit makes a new version, so a stale entry is
never served, it just ages out. Time-travel reads bypass the cache.

With a CUDA device (and ``RAISE_DEVICE`` not ``cpu``), embedding columns of a cached table
are also copied to GPU memory (``udfs.resident``): the vector kernels find them there by host
address, so queries over a hot table run on the GPU without re-copying; a newer version of
the table releases the old version's device copy.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_CACHE_BYTES = 1 << 30
#: Tables with more Parquet bytes than this are scanned in place by their first query (see
#: ``TableCache.scan_first``); smaller ones are decoded into the cache at once.
SCAN_FIRST_BYTES = 64 << 20
_SCANNED_KEPT = 1024


def default_capacity() -> int:
    value = os.environ.get("RAISE_CACHE_BYTES")
    return int(value) if value else DEFAULT_CACHE_BYTES


class TableCache:
    """A least-recently-used map ``(uri, version) -> partitions of record batches``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, int], tuple[list[list[pa.RecordBatch]], int, pa.Table]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self._scanned: OrderedDict[tuple[str, int], None] = OrderedDict()

    def get(self, uri: str, version: int, vectors: tuple[str, ...] = ()) -> list[list[pa.RecordBatch]] | None:
        """The cached partitions, or None; ``vectors`` columns are mirrored on the GPU if one
        is in use now (the device choice can change between queries)."""
        with self._lock:
            entry = self._entries.get((uri, version))
            if entry is None:
                return None
            self._entries.move_to_end((uri, version))
        make_resident(uri, version, entry[2], vectors)
        return entry[0]

    def scan_first(self, uri: str, version: int, file_bytes: int) -> bool:
        """Whether a query should scan this table version's files instead of decoding it.

        Decoding fills every column, while a scan decodes only the columns the query reads,
        in parallel over files and row groups: a process's first query over a big table (a
        CLI call, a restarted server) is answered that way, and the table is decoded into the
        cache by its next query, which shows it is being read again."""
        if file_bytes < SCAN_FIRST_BYTES:
            return False
        with self._lock:
            if (uri, version) in self._scanned:
                return False
            self._scanned[(uri, version)] = None
            while len(self._scanned) > _SCANNED_KEPT:
                self._scanned.popitem(last=False)
        return True

    def columns(self, uri: str, version: int) -> list[str] | None:
        """The column names of a cached table version, or None if it is not cached."""
        with self._lock:
            entry = self._entries.get((uri, version))
        return None if entry is None else entry[2].column_names

    def put(self, uri: str, version: int, table: pa.Table, batch_size: int,
            vectors: tuple[str, ...] = (), partitions: int | None = None) -> list[list[pa.RecordBatch]]:
        """Split ``table`` into one partition per core; keep it if it fits the budget.

        ``vectors`` names the embedding columns to mirror on the GPU when there is one."""
        table = _rechunked(table, batch_size)
        partitions = split(table, batch_size, partitions)
        size = table.nbytes
        if size > self.capacity:
            return partitions
        make_resident(uri, version, table, vectors)
        with self._lock:
            for key in [k for k in self._entries if k[0] == uri]:  # older versions of this table
                self._used -= self._entries.pop(key)[1]
            while self._entries and self._used + size > self.capacity:
                self._used -= self._entries.popitem(last=False)[1][1]
            self._entries[(uri, version)] = (partitions, size, table)
            self._used += size
        return partitions

    @property
    def used(self) -> int:
        return self._used


def split(table: pa.Table, batch_size: int, partitions: int | None = None) -> list[list[pa.RecordBatch]]:
    """Record batches dealt round-robin into one partition per core (parallel scans)."""
    batches = table.to_batches(max_chunksize=batch_size) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)]
    count = max(1, min(partitions or os.cpu_count() or 1, len(batches)))
    return [batches[i::count] for i in range(count)]


def _rechunked(table: pa.Table, batch_size: int) -> pa.Table:
    """``table`` as it came, unless its chunks are so small that per-batch costs would dominate
    queries (many tiny appends): then one contiguous copy. Copying a freshly decoded table
    costs as much again as a memory pass over it, so decoded row groups are kept as they are."""
    if table.num_columns and table.num_rows / max(1, table.column(0).num_chunks) < batch_size // 8:
        return table.combine_chunks()
    return table


def fixed_size(column: pa.ChunkedArray, arrow_type: pa.FixedSizeListType) -> pa.ChunkedArray:
    """An embedding column as Parquet decodes it (``List``) in its view type (``FixedSizeList``).

    Without NULL rows every list holds ``list_size`` values and Arrow's cast reinterprets the
    buffers (no copy). A NULL row decodes as an empty list, so the values must move to make
    room for its slot: one NumPy scatter into a zeroed block, several times faster than
    Arrow's cast, which pads row by row. Anything else (NULL elements, lists of another
    length) takes Arrow's cast, which also reports the lengths that do not fit."""
    return pa.chunked_array([_fixed_chunk(chunk, arrow_type) for chunk in column.chunks], arrow_type)


def _fixed_chunk(chunk: pa.Array, arrow_type: pa.FixedSizeListType) -> pa.Array:
    if chunk.null_count == 0 or not pa.types.is_list(chunk.type) or \
            not pa.types.is_floating(arrow_type.value_type) or pa.types.is_float16(arrow_type.value_type):
        return chunk.cast(arrow_type)
    size = arrow_type.list_size
    flat = chunk.flatten()  # the valid rows' values, slice offset applied
    lengths = pc.list_value_length(chunk)
    if flat.null_count or len(flat) != (len(chunk) - chunk.null_count) * size or \
            pc.min_max(lengths)["min"].as_py() != size or pc.min_max(lengths)["max"].as_py() != size:
        return chunk.cast(arrow_type)
    valid = chunk.is_valid().to_numpy(zero_copy_only=False)
    block = np.zeros((len(chunk), size), dtype=arrow_type.value_type.to_pandas_dtype())
    block[valid] = flat.cast(arrow_type.value_type).to_numpy(zero_copy_only=False).reshape(-1, size)
    return pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), type=arrow_type,
                                             mask=pa.array(~valid))


def make_resident(uri: str, version: int, table: pa.Table, vectors: tuple[str, ...]) -> None:
    """Copy ``vectors`` columns of a cached table to the GPU (no-op without a device)."""
    if not vectors:
        return
    from udfs import device, resident

    if device.device_mode() == "cpu" or not device.gpu_available():
        return
    cache = resident.cache()
    for column in vectors:
        key = resident.ColumnKey(uri, version, column)
        if column in table.column_names and cache.get(key) is None:
            cache.invalidate(uri, keep_version=version)
            cache.load(key, table.column(column))
