"""Errors raised by Raise's SQL functions, and their recovery from DataFusion's wrapping.

A Python exception raised inside a UDF reaches the caller of ``ctx.sql(...).collect()`` as a
bare ``Exception`` whose text embeds the original class path and message;
:func:`from_datafusion` turns that text back into the Raise error.
"""
from __future__ import annotations

import ast
import re

from grammar.errors import RaiseError, TypeMismatch, ValidationError


class DimensionMismatch(TypeMismatch):
    """Two vectors in one call have different lengths."""

    code = "RAISE-V021"


class NotAVector(TypeMismatch):
    """A vector function got an argument that is not a list of numbers."""

    code = "RAISE-V022"


class InvalidDevice(ValidationError):
    """``RAISE_DEVICE`` names no known device mode."""

    code = "RAISE-V030"


#: ``PyErr { type: <class 'pkg.mod.Name'>, value: Name('message'), ... }``
_WRAPPED = re.compile(r"type: <class '([\w.]+)'>, value: (\w+)\(((?:'(?:[^'\\]|\\.)*')"
                      r'|(?:"(?:[^"\\]|\\.)*"))\)')


def _raise_error_classes() -> dict[str, type[RaiseError]]:
    found: dict[str, type[RaiseError]] = {}
    pending = [RaiseError]
    while pending:
        cls = pending.pop()
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        pending.extend(cls.__subclasses__())
    return found


def from_datafusion(error: BaseException) -> RaiseError | None:
    """The Raise error a UDF raised, recovered from DataFusion's exception; else None.

    >>> text = "Execution error: PyErr { type: <class 'udfs.errors.DimensionMismatch'>, " \\
    ...        "value: DimensionMismatch('DOT: vector dimensions differ: 2 and 3 (row 0)'), }"
    >>> str(from_datafusion(Exception(text)))
    '[RAISE-V021] DOT: vector dimensions differ: 2 and 3 (row 0)'
    """
    if isinstance(error, RaiseError):
        return error
    match = _WRAPPED.search(str(error))
    if match is None:
        return None
    cls = _raise_error_classes().get(match.group(1))
    if cls is None:
        return None
    return cls(ast.literal_eval(match.group(3)))
