"""Which incoming column types a feature accepts: the conversions SQL makes implicitly.

A value converts to a feature's dtype only where SQL would take it without a CAST, and then
only if it fits exactly (``pyarrow``'s safe casts):

================  ==========================================================================
feature dtype     accepts
================  ==========================================================================
integers, floats  integers, floats, decimals (exact values only), strings that spell a number
bool              booleans, strings ``'true'`` / ``'false'``
string[, N]       strings
bytes             bytes, strings
timestamp         timestamps, dates, strings in ISO 8601
date              dates, timestamps at midnight, strings in ISO 8601
embeddings, lists lists or fixed-size lists of numbers (the rules for numbers, per element)
struct, blob_ref  structs (by field name)
================  ==========================================================================

NULL fits anything nullable. Everything else is refused with ``TypeMismatch`` naming the
column: an integer is not a timestamp and ``TRUE`` is not an INT64 (cast them in SQL when that
is what is meant).
"""
from __future__ import annotations

import pyarrow as pa

from grammar.dtypes import NUMERIC, DType
from grammar.errors import TypeMismatch

_NUMBERS = frozenset({"int", "float", "decimal", "string"})
_ACCEPTS: dict[str, frozenset[str]] = {
    "number": _NUMBERS,
    "bool": frozenset({"bool", "string"}),
    "string": frozenset({"string"}),
    "bytes": frozenset({"binary", "string"}),
    "timestamp": frozenset({"timestamp", "date", "string"}),
    "date": frozenset({"date", "timestamp", "string"}),
    "list": frozenset({"list"}),
    "struct": frozenset({"struct"}),
}


def family(arrow_type: pa.DataType) -> str:
    """The kind of value an Arrow type holds, as the table above names them."""
    checks = (
        (pa.types.is_null, "null"), (pa.types.is_boolean, "bool"), (pa.types.is_integer, "int"),
        (pa.types.is_floating, "float"), (pa.types.is_decimal, "decimal"),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t), "string"),
        (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
         or pa.types.is_fixed_size_binary(t), "binary"),
        (pa.types.is_timestamp, "timestamp"), (pa.types.is_date, "date"),
        (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
         or pa.types.is_list_view(t), "list"),
        (pa.types.is_struct, "struct"),
    )
    return next((name for check, name in checks if check(arrow_type)), "other")


def target(dtype: DType) -> str:
    if dtype.kind == "primitive":
        return "number" if dtype.element in NUMERIC else dtype.element
    if dtype.kind == "string":
        return "string"
    if dtype.kind in ("embedding", "array"):
        return "list"
    return "struct"


def check_implicit(source: pa.DataType, dtype: DType, name: str) -> None:
    """Refuse a column of ``source`` type for a feature of ``dtype`` unless SQL converts it."""
    kind = family(source)
    wanted = target(dtype)
    fits = kind == "null" or kind in _ACCEPTS[wanted]
    if fits and wanted == "list":
        element = family(source.value_type)
        fits = element == "null" or element in _NUMBERS - {"string"}
    if not fits:
        raise TypeMismatch(
            f"column {name!r} holds {source} values, which do not convert to {dtype} without a CAST "
            "(Raise converts only where SQL does implicitly)", code="RAISE-V020", name=name)
