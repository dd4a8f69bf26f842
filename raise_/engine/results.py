"""The Arrow tables Raise statements return (DDL acknowledgements, SHOW and DESCRIBE)."""
from __future__ import annotations

from typing import Any, Iterable

import pyarrow as pa

DDL_SCHEMA = pa.schema(
    [
        pa.field("statement", pa.string()),
        pa.field("object", pa.string()),
        pa.field("rows_affected", pa.int64()),
        pa.field("warnings", pa.list_(pa.string())),
    ]
)

_TAGS = pa.list_(pa.string())

NAMESPACE_SCHEMA = pa.schema(
    [
        ("kind", pa.string()), ("path", pa.string()), ("name", pa.string()),
        ("description", pa.string()), ("tags", _TAGS), ("owner", pa.string()),
        ("created_at", pa.string()),
    ]
)

GROUP_SCHEMA = pa.schema(
    [
        ("project", pa.string()), ("name", pa.string()), ("path", pa.string()),
        ("keys", _TAGS), ("key_types", _TAGS), ("timestamp_column", pa.string()),
        ("description", pa.string()), ("tags", _TAGS), ("owner", pa.string()),
        ("features", pa.int64()), ("table_uri", pa.string()), ("created_at", pa.string()),
        # where each feature version lives in the Delta table at table_uri (NULL: derived)
        ("feature_columns", pa.list_(pa.struct([
            ("feature", pa.string()), ("version", pa.string()), ("column", pa.string()),
            ("is_latest", pa.bool_()), ("status", pa.string()),
        ]))),
        ("table_version", pa.int64()),
    ]
)

FEATURE_SCHEMA = pa.schema(
    [
        ("group", pa.string()), ("name", pa.string()), ("version", pa.string()),
        ("qualified_name", pa.string()), ("dtype", pa.string()), ("derived_as", pa.string()),
        ("description", pa.string()), ("tags", _TAGS), ("owner", pa.string()),
        ("nullable", pa.bool_()), ("default", pa.string()), ("validation", pa.string()),
        ("status", pa.string()), ("message", pa.string()), ("is_latest", pa.bool_()),
        ("upstream", _TAGS), ("downstream", _TAGS),
        ("created_at", pa.string()), ("updated_at", pa.string()),
    ]
)


def ddl(statement: str, obj: str, rows: int = 0, warnings: Iterable[str] = ()) -> pa.Table:
    """The one-row acknowledgement every Raise DDL statement returns."""
    return pa.Table.from_pylist(
        [{"statement": statement, "object": obj, "rows_affected": rows, "warnings": list(warnings)}],
        schema=DDL_SCHEMA,
    )


def rows(schema: pa.Schema, records: Iterable[dict[str, Any]]) -> pa.Table:
    picked = [{name: record.get(name) for name in schema.names} for record in records]
    return pa.Table.from_pylist(picked, schema=schema)

_ISSUE = pa.struct([("code", pa.string()), ("message", pa.string()), ("name", pa.string())])

VALIDATION_SCHEMA = pa.schema(
    [
        ("valid", pa.bool_()),
        ("inferred_type", pa.string()),
        ("references", pa.list_(pa.struct([
            ("path", pa.string()), ("name", pa.string()), ("target", pa.string()),
            ("dtype", pa.string()), ("exists", pa.bool_()),
        ]))),
        ("errors", pa.list_(_ISSUE)),
        ("warnings", pa.list_(_ISSUE)),
    ]
)
