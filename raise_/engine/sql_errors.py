"""DataFusion planning errors that are the user's mistake, as Raise errors with a position.

DataFusion reports them as plain exceptions with its own wording (``LIMIT must be >= 0``,
``Cannot infer common argument type``); each rule here recognizes one, names the offending
part (a clause, a bound parameter) and points at it in the statement.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from grammar.errors import RaiseError, TypeMismatch, ValidationError
from raise_.engine import parameters
from raise_.engine.parameters import locate

Rule = Callable[[re.Match, str, Sequence[Any] | None], RaiseError | None]


def _negative(match: re.Match, sql: str, params) -> RaiseError:
    clause = match.group(1).upper()
    keyword = re.search(rf"\b{clause}\b", sql, re.IGNORECASE)
    return locate(ValidationError(f"{clause} must be zero or more, not {match.group(2)}",
                               code="RAISE-V094", name=clause), sql, keyword.start() if keyword else 0)


def _mismatch(match: re.Match, sql: str, params) -> RaiseError:
    left, operator, right = match.group(1), match.group(2), match.group(3)
    found = parameters.parameter_named(f"{left} {right}", sql, params)
    if found is None:
        return TypeMismatch(f"cannot compare {left} {operator} {right}: the types do not match; "
                            "CAST one side", code="RAISE-V028")
    name, offset = found
    return locate(TypeMismatch(
        f"parameter {name} does not fit: {left} {operator} {right} compares different types; bind a "
        "value of the column's type", code="RAISE-V028", name=name), sql, offset)


def _bad_cast(match: re.Match, sql: str, params) -> RaiseError | None:
    """Only a bound string is the user's binding mistake; a stored one failing a CAST is data."""
    found = parameters.parameter_named("Utf8", sql, params)
    if found is None:
        return None
    name, offset = found
    return locate(TypeMismatch(f"parameter {name} {match.group(1)!r} is not a {match.group(2)} value",
                               code="RAISE-V028", name=name), sql, offset)


_RULES: tuple[tuple[re.Pattern, Rule], ...] = (
    (re.compile(r"\b(LIMIT|OFFSET) must be >= 0, '(-?\d+)' was provided", re.I), _negative),
    (re.compile(r"Cannot infer common argument type for comparison operation (\S+) (\S+) (\S+)"), _mismatch),
    (re.compile(r"Cannot cast string '(.*?)' to value of (\w+) type"), _bad_cast),
)


def user_error(text: str, sql: str, params: Sequence[Any] | None) -> RaiseError | None:
    """The Raise error for DataFusion's message ``text`` about ``sql``, if a rule knows it."""
    for pattern, rule in _RULES:
        match = pattern.search(text)
        error = rule(match, sql, params) if match else None
        if error is not None:
            return error
    return None

