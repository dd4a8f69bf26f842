"""Bound parameters: exactly one value per placeholder, each a value SQL can carry.

Placeholders are ``$1 … $n`` (Flight SQL clients' ``?`` arrive rewritten to these). A statement
takes as many values as its highest placeholder number: more or fewer is an error, not a
silent drop. A value is NULL (``None``), a boolean, an integer within INT64, a float, a
``Decimal``, a string, bytes, a date, time or timestamp, or a list or struct (``dict``) of
those; how it then converts is SQL's business (DataFusion's coercion for comparisons and
expressions, ``raise_.engine.conversions`` for the columns INSERT writes).
"""
from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any, Sequence

import pyarrow as pa

from grammar.errors import RaiseError, TypeMismatch, ValidationError, excerpt_at

# literals, quoted names and comments are skipped: a ``$1`` there is not a placeholder
_SPANS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$(\d+)", re.S)
_SCALARS = (bool, int, float, decimal.Decimal, str, bytes, dt.date, dt.time, dt.datetime)
_INT64 = (-(1 << 63), (1 << 63) - 1)
#: Arrow type names DataFusion prints, by the Python type of a bound value (to name it in errors).
ARROW_NAMES = {bool: ("Boolean",), int: ("Int64",), float: ("Float64",), str: ("Utf8",),
               bytes: ("Binary",), list: ("List",), dict: ("Struct",), dt.datetime: ("Timestamp",),
               dt.date: ("Date32",), decimal.Decimal: ("Decimal",)}


def placeholders(sql: str) -> dict[int, int]:
    """Placeholder number -> offset of its first occurrence in ``sql``."""
    found: dict[int, int] = {}
    for match in _SPANS.finditer(sql):
        if match.group(1) is not None:
            found.setdefault(int(match.group(1)), match.start())
    return found


def values(sql: str, params: Sequence[Any] | None) -> dict[str, Any]:
    """``{"1": value, …}`` for DataFusion; refuses a count or a value that does not fit."""
    found = placeholders(sql)
    wanted, given = max(found, default=0), list(params or ())
    if len(given) != wanted:
        offset = found.get(len(given) + 1, 0) if len(given) < wanted else 0
        raise locate(ValidationError(
            f"the statement takes {wanted} parameter(s) ({_listing(wanted)}) but {len(given)} "
            "value(s) were bound; bind exactly one value per placeholder", code="RAISE-V091",
            name=f"${len(given) + 1}" if len(given) < wanted else None), sql, offset)
    return {str(number): _checked(value, number, sql, found.get(number, 0))
            for number, value in enumerate(given, start=1)}


def _checked(value: Any, number: int, sql: str, offset: int) -> Any:
    if isinstance(value, pa.Scalar):
        value = value.as_py()
    problem = _problem(value)
    if problem:
        raise locate(TypeMismatch(f"parameter ${number} cannot be bound: {problem}", code="RAISE-V092",
                               name=f"${number}"), sql, offset)
    return value


def _problem(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        return f"{value} is outside INT64"
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, (list, tuple)):
        return next((p for p in map(_problem, value) if p), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "struct field names must be strings"
        return next((p for p in map(_problem, value.values()) if p), None)
    return f"a {type(value).__name__} is not a SQL value"


def parameter_named(message: str, sql: str, params: Sequence[Any] | None) -> tuple[str, int] | None:
    """The first bound parameter whose type ``message`` names, with its offset in ``sql``."""
    found = placeholders(sql)
    for number, value in enumerate(params or (), start=1):
        names = next((n for t, n in ARROW_NAMES.items() if type(value) is t), ())
        if any(name in message for name in names):
            return f"${number}", found.get(number, 0)
    return None


def locate(error: RaiseError, sql: str, offset: int) -> RaiseError:
    """``error`` pointing at ``offset`` of ``sql`` (line, column, excerpt)."""
    error.line = sql.count("\n", 0, offset) + 1
    error.column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    error.excerpt = excerpt_at(sql, error.line, error.column)
    return error


def _listing(count: int) -> str:
    if count == 0:
        return "none"
    return ", ".join(f"${i}" for i in range(1, count + 1)) if count <= 3 else f"$1 … ${count}"
