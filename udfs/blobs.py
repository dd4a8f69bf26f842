"""Blob reference functions: ``BLOB_URI``, ``BLOB_SIZE``, ``BLOB_CONTENT_TYPE``, ``BLOB_CHECKSUM``.

A ``blob_ref`` column is the struct ``BLOB_REF`` (the reference, never the bytes); each function
reads one field of it, NULL for a NULL reference:

>>> from datafusion import SessionContext                                    # doctest: +SKIP
>>> ctx.sql('SELECT BLOB_URI(image_ref) FROM "product-images"')             # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from datafusion import SessionContext

__all__ = ["BLOB_REF", "FUNCTIONS", "register"]

#: Arrow layout of a ``blob_ref`` value.
BLOB_REF = pa.struct(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("content_type", pa.string()),
        pa.field("checksum", pa.string()),
        pa.field("hash_algorithm", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("etag", pa.string()),
        pa.field("version_id", pa.string()),
    ]
)

#: SQL function name -> the struct field it returns.
FUNCTIONS = {
    "blob_uri": "uri",
    "blob_size": "size_bytes",
    "blob_content_type": "content_type",
    "blob_checksum": "checksum",
}


def _field_reader(name: str):
    def read(refs: pa.Array) -> pa.Array:
        values = pc.struct_field(refs, name)
        # a NULL reference reads as NULL, whatever its (unset) child holds
        return pc.if_else(pc.is_valid(refs), values, pa.scalar(None, values.type))

    return read


def sql_udfs() -> list:
    """The four blob functions as DataFusion UDFs."""
    from datafusion import udf

    return [udf(_field_reader(field), [BLOB_REF], BLOB_REF.field(field).type, "immutable", sql_name)
            for sql_name, field in FUNCTIONS.items()]


def register(ctx: SessionContext) -> None:
    """Register the four blob functions into ``ctx``."""
    for function in sql_udfs():
        ctx.register_udf(function)
