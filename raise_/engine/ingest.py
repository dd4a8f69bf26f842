"""Writing rows into a feature group: names mapped to physical columns, types checked.

Incoming columns are the group's key and event-time columns and its features, by plain name
(the latest version) or ``"name@vN"``. Each is cast to its stored type with safe casts only;
anything that does not fit (wrong type, wrong embedding size, a string over its bound, a NULL
in a NOT NULL feature or a key) is refused before any byte is written.
"""
from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from grammar.dtypes import DType, parse_dtype, stored_dtype
from grammar.errors import TypeMismatch, ValidationError
from raise_.engine import conversions, registry
from raise_.engine.catalog import Catalog
from raise_.types import storage_arrow

#: Hidden column stamped on every written row: orders rows of one key by when they were written.
SEQUENCE_COLUMN = "__raise_seq"


def physical_table(catalog: Catalog, group: dict[str, Any], data: pa.Table, mode: str) -> pa.Table:
    """``data`` with physical column names and storage types, validated."""
    targets = _targets(catalog, group)
    unknown = [c for c in data.column_names if c not in targets]
    if unknown:
        raise ValidationError(
            f"{group.name!r} has no writable column {unknown[0]!r}; writable: {', '.join(sorted(targets))}",
            code="RAISE-V053", name=unknown[0],
        )
    if len(set(data.column_names)) != len(data.column_names):
        dup = next(c for c in data.column_names if data.column_names.count(c) > 1)
        raise ValidationError(f"column {dup!r} given twice", code="RAISE-V052", name=dup)
    key_names = list(group.key_names)
    missing = [k for k in key_names if k not in data.column_names]
    if missing:
        raise ValidationError(f"rows for {group.name!r} need key column {missing[0]!r}",
                              code="RAISE-V054", name=missing[0])
    columns, fields = [], []
    for name in data.column_names:
        physical, dtype, nullable, _ = targets[name]
        columns.append(_convert(data.column(name), dtype, name, nullable, catalog, group.project))
        fields.append(pa.field(physical, storage_arrow(dtype)))
    if mode != "upsert":
        _fill_defaults(targets, data, columns, fields)
    else:  # a new key inserts a row: NOT NULL features must come with it
        given = {targets[c][0] for c in data.column_names}
        required = [n for n, (p, _, nullable, _) in targets.items() if not nullable and p not in given and "@" not in n]
        if required:
            raise TypeMismatch(f"feature {required[0]!r} is NOT NULL: upserted rows must carry it",
                               code="RAISE-V025", name=required[0])
    if len({f.name for f in fields}) != len(fields):
        raise ValidationError("a feature is given both by plain name and by version", code="RAISE-V052")
    columns.append(write_sequence(data.num_rows))
    fields.append(pa.field(SEQUENCE_COLUMN, pa.int64()))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def write_sequence(rows: int) -> pa.Array:
    """Increasing stamps for the rows of one write (wall-clock nanoseconds plus row number):
    among rows of the same key, the later-written one is the newest."""
    start = time.time_ns()
    return pa.array(range(start, start + rows), pa.int64())


def insert_order(catalog: Catalog, group: dict[str, Any]) -> list[str]:
    """The columns ``INSERT INTO group VALUES (...)`` fills by position: keys, the event-time
    column, then each stored feature (its current version) in the order the features were
    first created, as SQL fills a table's columns in the order of its DDL."""
    first: dict[str, str] = {}
    for record in registry.versions(catalog, group.key):
        first[record.name] = min(first.get(record.name, record.created_at), record.created_at)
    stored = [name for name, record in registry.current_features(catalog, group.key).items()
              if record.derived_as is None and record.status != "archived"]
    order = list(group.key_names) + ([group.timestamp] if group.timestamp else [])
    return order + sorted(stored, key=lambda name: (first[name], name))


def writable_columns(catalog: Catalog, group: dict[str, Any]) -> set[str]:
    """The names a write into ``group`` may carry (keys, event time, features, ``name@vN``)."""
    return set(_targets(catalog, group))


def _targets(catalog: Catalog, group: dict[str, Any]) -> dict[str, tuple[str, DType, bool, Any]]:
    """Writable name -> (physical column, dtype, nullable, default)."""
    out: dict[str, tuple[str, DType, bool, Any]] = {}
    for key in group.key_columns:
        out[key.name] = (key.name, parse_dtype(key.dtype), False, None)
    if group.timestamp:
        out[group.timestamp] = (group.timestamp, parse_dtype("timestamp"), True, None)
    current = registry.current_features(catalog, group.key)
    for record in registry.versions(catalog, group.key):
        dtype = stored_dtype(record.dtype)
        if record.derived_as is not None or record.status == "archived" or dtype is None:
            continue
        target = (record.column, dtype, record.nullable, record.default)
        out[f"{record.name}@{record.version}"] = target
        if current[record.name].key == record.key:
            out[record.name] = target
    return out


def _convert(values: pa.ChunkedArray, dtype: DType, name: str, nullable: bool, catalog: Catalog,
             project: tuple[str, ...]) -> pa.ChunkedArray:
    if not nullable and values.null_count:
        raise TypeMismatch(f"column {name!r} is NOT NULL but has {values.null_count} NULL value(s)",
                           code="RAISE-V025", name=name)
    if dtype.kind == "blob_ref":
        from raise_.blobs.columns import blob_column  # the blob package imports the SDK, which imports the engine

        values = blob_column(values, dtype, name, catalog, project)
    target = storage_arrow(dtype)
    source = values.type
    conversions.check_implicit(source, dtype, name)
    if pa.types.is_fixed_size_list(source) and dtype.kind == "embedding" and source.list_size != dtype.size:
        raise TypeMismatch(f"column {name!r} has {source.list_size}-dim vectors; {dtype} needs {dtype.size}",
                           code="RAISE-V026", name=name)
    try:
        converted = pc.cast(values, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise TypeMismatch(f"column {name!r} of type {source} does not fit {dtype}: {error}",
                           code="RAISE-V020", name=name) from None
    _check_lengths(converted, dtype, name)
    return converted


def _check_lengths(values: pa.ChunkedArray, dtype: DType, name: str) -> None:
    if dtype.kind in ("embedding", "array"):
        lengths = pc.list_value_length(values)
        if dtype.kind == "embedding":
            bad = pc.sum(pc.not_equal(lengths, dtype.size)).as_py()
            rule = f"exactly {dtype.size} values"
        else:
            bad = pc.sum(pc.greater(lengths, dtype.max_length)).as_py() if dtype.max_length else 0
            rule = f"at most {dtype.max_length} values"
        if bad:
            raise TypeMismatch(f"column {name!r}: {bad} row(s) do not have {rule} ({dtype})",
                               code="RAISE-V026", name=name)
    if dtype.kind == "string":
        bad = pc.sum(pc.greater(pc.utf8_length(values), dtype.max_length)).as_py()
        if bad:
            raise TypeMismatch(f"column {name!r}: {bad} value(s) longer than {dtype.max_length} characters",
                               code="RAISE-V027", name=name)


def _fill_defaults(targets, data: pa.Table, columns: list, fields: list) -> None:
    """Columns the rows leave out: their DEFAULT, or a refusal for a NOT NULL feature."""
    given = {targets[c][0] for c in data.column_names}
    for name, (physical, dtype, nullable, default) in targets.items():
        if physical in given or "@" in name and name.split("@")[0] in targets:
            continue
        value = None if default is None else _literal(default)
        if value is None:
            if not nullable:
                raise TypeMismatch(f"feature {name!r} is NOT NULL and has no DEFAULT: the rows must "
                                   "carry it", code="RAISE-V025", name=name)
            continue
        columns.append(default_array(default, dtype, data.num_rows))
        fields.append(pa.field(physical, storage_arrow(dtype)))
        given.add(physical)


def default_array(default: str, dtype: DType, rows: int) -> pa.Array:
    """``rows`` copies of a DEFAULT literal in the feature's storage type (``TypeMismatch`` if
    the literal is not a value of that type)."""
    try:
        value = _literal(default)
        wanted = _LITERAL_KIND.get(dtype.element if dtype.kind == "primitive" else dtype.kind, None)
        mismatched = wanted is not None and (not isinstance(value, wanted) or (isinstance(value, bool) and wanted is not bool))
        if value is not None and mismatched:
            raise pa.ArrowInvalid(f"{default} is not a {dtype} literal")
        return pc.cast(pa.array([value] * rows), storage_arrow(dtype), safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError, ValueError) as error:
        raise TypeMismatch(f"{default} is not a {dtype} value ({error})", code="RAISE-V022") from None


#: Which Python value a DEFAULT literal must parse to for each dtype (bool is not a number here).
_LITERAL_KIND: dict[str, Any] = {
    **{t: int for t in ("int8", "int16", "int32", "int64")},
    **{t: (int, float) for t in ("float16", "float32", "float64")},
    "bool": bool, "string": str, "bytes": str, "timestamp": str, "date": str,
    "embedding": (), "array": (), "struct": (), "blob_ref": (),
}


def _literal(text: str) -> Any:
    """The Python value of a canonical SQL literal (``NULL``, ``TRUE``, ``-1.5``, ``'x'``,
    ``DATE '2026-01-01'``)."""
    head, _, quoted = text.partition(" ")
    if head.upper() in ("DATE", "TIMESTAMP") and quoted.startswith("'"):
        text = quoted
    if text.upper() == "NULL":
        return None
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return float(text) if any(c in text for c in ".eE") else int(text)
