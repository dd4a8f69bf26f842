"""Rows in: pandas, polars, lists of dicts and Arrow, converted to Arrow of the features' types.

``group.write(data)`` accepts any of these. Columns are matched by name against what the
group can store (key columns, the event-time column, each stored feature by plain name or
``name@vN``) and cast to the feature's Arrow type; anything that does not fit is refused with
``TypeMismatch`` naming the column before a byte is written. The engine checks again when it
stores the rows (the same checks guard SQL clients).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from grammar.errors import TypeMismatch, ValidationError
from raise_.blobs.columns import blob_array, is_blob_type
from raise_.types import from_arrow

__all__ = ["to_arrow_table", "conform", "column_names"]


def column_names(data: Any) -> list[str]:
    """The column names ``data`` carries (without converting it)."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return list(data.column_names)
    if isinstance(data, pa.RecordBatchReader):
        return list(data.schema.names)
    if _is_frame(data):
        return [str(c) for c in data.columns]
    if isinstance(data, Mapping):
        return [str(c) for c in data]
    if isinstance(data, list):
        names: dict[str, None] = {}
        for row in data:
            if not isinstance(row, Mapping):
                raise ValidationError(f"rows must be dicts of column to value, got {type(row).__name__}",
                                      code="RAISE-V056")
            names.update(dict.fromkeys(map(str, row)))
        return list(names)
    raise _unsupported(data)


def to_arrow_table(data: Any, targets: Mapping[str, pa.DataType]) -> pa.Table:
    """``data`` as an Arrow table whose columns have the ``targets`` types."""
    if isinstance(data, list):
        names = column_names(data)
        _check_known(names, targets)
        columns = [_typed([row.get(name) for row in data], name, targets[name]) for name in names]
        return pa.Table.from_arrays(columns, names=names) if names else pa.table({})
    if isinstance(data, Mapping):
        _check_known([str(c) for c in data], targets)
        return pa.Table.from_arrays([_typed(list(v), str(k), targets[str(k)]) for k, v in data.items()],
                                    names=[str(k) for k in data])
    return conform(_arrow(data, targets), targets)


def _arrow(data: Any, targets: Mapping[str, pa.DataType]) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        # blob columns may hold BlobReference objects, which pandas cannot hand to Arrow
        blobs = [c for c in data.columns if c in targets and is_blob_type(targets[c])]
        table = pa.Table.from_pandas(data.drop(columns=blobs), preserve_index=False).replace_schema_metadata(None)
        for column in blobs:
            table = table.add_column(list(data.columns).index(column), str(column),
                                     blob_array(list(data[column]), str(column)))
        return table
    if module == "polars":
        return data.to_arrow()
    raise _unsupported(data)


def _unsupported(data: Any) -> ValidationError:
    return ValidationError(
        f"cannot write {type(data).__name__}: pass a pyarrow Table, a pandas or polars DataFrame, "
        "a list of dicts or a dict of columns", code="RAISE-V056", name=type(data).__name__,
    )


def conform(table: pa.Table, targets: Mapping[str, pa.DataType]) -> pa.Table:
    """Cast each column of ``table`` to its target type; refuse unknown columns."""
    _check_known(table.column_names, targets)
    columns = [_cast(table.column(name), name, targets[name]) for name in table.column_names]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _check_known(names: Iterable[str], targets: Mapping[str, pa.DataType]) -> None:
    names = list(names)
    unknown = [n for n in names if n not in targets]
    if unknown:
        raise ValidationError(
            f"no writable column {unknown[0]!r}; writable: {', '.join(sorted(targets))}",
            code="RAISE-V053", name=unknown[0],
        )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValidationError(f"column {duplicated[0]!r} given twice", code="RAISE-V052",
                              name=duplicated[0])


def _typed(values: list[Any], name: str, target: pa.DataType) -> pa.Array:
    if is_blob_type(target):
        return blob_array(values, name)
    try:
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
        raise TypeMismatch(f"column {name!r} does not fit {_show(target)}: {error}",
                           code="RAISE-V020", name=name) from None


def _cast(values: pa.ChunkedArray, name: str, target: pa.DataType) -> pa.ChunkedArray:
    if values.type.equals(target):
        return values
    if is_blob_type(target):  # URI strings or partial structs: the engine checks the values
        return pa.chunked_array([blob_array(values.to_pylist(), name)], type=target)
    if pa.types.is_fixed_size_list(target) and _is_list(values.type):
        _check_sizes(values, name, target.list_size)
    try:
        return pc.cast(values, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise TypeMismatch(f"column {name!r} of type {values.type} does not fit {_show(target)}: "
                           f"{error}", code="RAISE-V020", name=name) from None


def _check_sizes(values: pa.ChunkedArray, name: str, size: int) -> None:
    if pa.types.is_fixed_size_list(values.type):
        wrong = values.type.list_size != size and len(values) > 0
    else:
        lengths = pc.list_value_length(values)
        wrong = bool(pc.any(pc.not_equal(lengths, size)).as_py())
    if wrong:
        raise TypeMismatch(f"column {name!r} has vectors that are not {size} values long",
                           code="RAISE-V026", name=name)


def _is_list(arrow_type: pa.DataType) -> bool:
    return (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
            or pa.types.is_fixed_size_list(arrow_type))


def _is_frame(data: Any) -> bool:
    return type(data).__module__.split(".")[0] in ("pandas", "polars") and hasattr(data, "columns")


def _show(arrow_type: pa.DataType) -> str:
    try:
        return from_arrow(arrow_type)
    except ValidationError:
        return str(arrow_type)
