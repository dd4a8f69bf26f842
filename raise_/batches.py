"""Arrow data cut into record batches of bounded size.

gRPC clients and servers refuse messages over 16 MiB by default, and Flight sends one message
per record batch, so results and uploads travel in batches of at most ``TARGET_BATCH_BYTES``:
zero-copy slices of the data.
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa

TARGET_BATCH_BYTES = 4 << 20


def split_batch(batch: pa.RecordBatch, target_bytes: int = TARGET_BATCH_BYTES) -> Iterator[pa.RecordBatch]:
    """``batch`` as slices of at most ``target_bytes``, in order (a single row larger than that
    goes alone). A slice still too big, because its rows are larger than the batch's average,
    is cut again."""
    size = batch.nbytes
    if size <= target_bytes or batch.num_rows <= 1:
        yield batch
        return
    rows = max(1, batch.num_rows * target_bytes // size)
    for offset in range(0, batch.num_rows, rows):
        yield from split_batch(batch.slice(offset, rows), target_bytes)


def bounded(table: pa.Table, target_bytes: int = TARGET_BATCH_BYTES) -> pa.Table:
    """``table`` re-chunked so each record batch is at most ``target_bytes`` (or one row)."""
    if table.nbytes <= target_bytes:
        return table
    return pa.Table.from_batches(
        [part for batch in table.to_batches() for part in split_batch(batch, target_bytes)], schema=table.schema)
