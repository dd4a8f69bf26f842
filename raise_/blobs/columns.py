"""``blob_ref`` columns: values of any accepted form turned into the stored struct, and checked.

A ``blob_ref`` column stores the struct ``raise_.types.BLOB_REF`` (uri, content_type,
checksum, hash_algorithm, size_bytes, etag, version_id). Writers may give ``BlobReference``
objects, dicts with those fields, or URI strings; Arrow writers (SQL clients' ingest) may send
the struct, a struct with fewer fields, or strings. A value without a content type gets the one
its extension names.
The engine checks every value before anything is written: a well-formed URI, a known content
type that the column's dtype accepts, a known hash algorithm, a non-negative size; and, for a
dtype that names a registry (``blob_ref<image/png, registry=product-images>``), the blobs
themselves as that registry's policy or ``validate_on_write`` asks (``raise_.blobs.writes``).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pyarrow as pa

from grammar.dtypes import DType
from grammar.errors import RaiseError, TypeMismatch
from raise_.blobs.content import guess_content_type
from raise_.blobs.hashing import BAD_DATA
from raise_.blobs.reference import STRUCT_FIELDS, BlobReference, create_reference
from raise_.blobs.writes import validate_written
from raise_.engine.catalog import Catalog
from raise_.types import BLOB_REF

__all__ = ["reference_of", "blob_array", "blob_column", "is_blob_type"]

REFUSED_CONTENT_TYPE = "RAISE-V302"


def is_blob_type(arrow_type: pa.DataType) -> bool:
    return arrow_type.equals(BLOB_REF)


def reference_of(value: Any, column: str | None = None) -> BlobReference | None:
    """The reference a column value stands for (None for NULL); bad values raise the
    reference's error with the column named in the message."""
    try:
        if value is None or isinstance(value, BlobReference):
            return value
        if isinstance(value, Mapping):
            ref = BlobReference.from_dict(value)
            if ref.content_type is None:  # as for a bare URI: the extension says
                ref = BlobReference.from_dict({**value, "content_type": guess_content_type(ref.uri)})
            return ref
        if isinstance(value, str):
            return create_reference(value)
    except RaiseError as error:
        where = f"column {column!r}: " if column else ""
        raise type(error)(where + error.message, code=error.code, name=error.name) from None
    raise TypeMismatch(
        f"{'column ' + repr(column) + ': ' if column else ''}a blob reference is a BlobReference, a dict "
        f"or a URI string, got {type(value).__name__}", code=BAD_DATA, name=column,
    )


def _stored(ref: BlobReference | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    values = ref.to_dict()
    return {name: values[name] for name in STRUCT_FIELDS}


def blob_array(values: Iterable[Any], column: str | None = None) -> pa.Array:
    """Python values of a ``blob_ref`` column as a ``BLOB_REF`` struct array."""
    return pa.array([_stored(reference_of(v, column)) for v in values], type=BLOB_REF)


def blob_column(values: pa.ChunkedArray | pa.Array, dtype: DType, column: str,
                catalog: Catalog | None = None, project: tuple[str, ...] | None = None) -> pa.ChunkedArray:
    """``values`` (struct or string) as a checked ``BLOB_REF`` column for ``dtype``; with the
    store's ``catalog`` and the group's ``project``, validated against the registry the dtype
    names."""
    source = values.type
    if not (pa.types.is_struct(source) or pa.types.is_string(source) or pa.types.is_large_string(source)
            or pa.types.is_null(source)):
        raise TypeMismatch(f"column {column!r} of type {source} does not fit {dtype}: give blob references "
                           "(structs with a uri field) or URI strings", code="RAISE-V020", name=column)
    refs = [reference_of(v, column) for v in values.to_pylist()]
    if dtype.content_types:
        _check_content_types(refs, dtype, column)
    if dtype.blob_registry is not None and catalog is not None and project is not None:
        validate_written(catalog, dtype, column, refs, project)
    return pa.chunked_array([pa.array([_stored(r) for r in refs], type=BLOB_REF)], type=BLOB_REF)


def _check_content_types(refs: list[BlobReference | None], dtype: DType, column: str) -> None:
    refused = [r for r in refs if r is not None and (r.content_type is None or not dtype.accepts(r.content_type))]
    if refused:
        first = refused[0]
        shown = "no content type" if first.content_type is None else f"content type {first.content_type.value!r}"
        raise TypeMismatch(
            f"column {column!r} accepts {', '.join(dtype.content_types)}; {len(refused)} reference(s) refused, "
            f"e.g. {first.uri!r} with {shown}", code=REFUSED_CONTENT_TYPE, name=column,
        )
