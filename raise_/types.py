"""Raise dtypes mapped to Arrow types and back.

Storage and the engine use these; the SDK's typed constructors (``Int64()``, ``Embedding(512)``)
produce the same dtype strings.
"""
from __future__ import annotations

import pyarrow as pa

from grammar.dtypes import DType, parse_dtype
from udfs.blobs import BLOB_REF

_PRIMITIVE = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "bytes": pa.binary(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
}
_FROM_ARROW = {str(v): k for k, v in _PRIMITIVE.items()}

def to_arrow(dtype: str | DType) -> pa.DataType:
    """Arrow type of a Raise dtype: ``to_arrow("float32[512]")`` is ``fixed_size_list<float>[512]``."""
    d = parse_dtype(dtype) if isinstance(dtype, str) else dtype
    if d.kind == "primitive":
        return _PRIMITIVE[d.element]
    if d.kind == "embedding":
        return pa.list_(_PRIMITIVE[d.element], d.size)
    if d.kind == "array":
        return pa.list_(_PRIMITIVE[d.element])
    if d.kind == "string":
        return pa.string()
    if d.kind == "struct":
        return pa.struct([pa.field(n, to_arrow(t)) for n, t in d.fields])
    return BLOB_REF


def storage_arrow(dtype: str | DType) -> pa.DataType:
    """Arrow type as stored in Delta: float16 widened to float32 (Delta has no half floats),
    timestamps in UTC-less microseconds, fixed-size lists as plain lists."""
    d = parse_dtype(dtype) if isinstance(dtype, str) else dtype
    if d.kind == "primitive" and d.element == "float16":
        return pa.float32()
    if d.kind in ("embedding", "array"):
        element = pa.float32() if d.element == "float16" else _PRIMITIVE[d.element]
        return pa.list_(element)
    if d.kind == "struct":
        return pa.struct([pa.field(n, storage_arrow(t)) for n, t in d.fields])
    return to_arrow(d)


def from_arrow(arrow_type: pa.DataType) -> str:
    """Raise dtype string of an Arrow type (for ``create_features_from_schema`` on a table)."""
    if pa.types.is_fixed_size_list(arrow_type):
        return f"{from_arrow(arrow_type.value_type)}[{arrow_type.list_size}]"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"{from_arrow(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        if arrow_type.equals(BLOB_REF):
            return "blob_ref"
        inner = ", ".join(f"{f.name}: {from_arrow(f.type)}" for f in arrow_type)
        return f"struct<{inner}>"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    if pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return "bytes"
    name = _FROM_ARROW.get(str(arrow_type))
    if name is None:
        from grammar.errors import InvalidDType

        raise InvalidDType(f"Arrow type {arrow_type} has no Raise dtype", name=str(arrow_type))
    return name
