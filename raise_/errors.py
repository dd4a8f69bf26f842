"""Raise's errors, public home of the hierarchy (defined in ``grammar.errors``).

Every error Raise reports is a ``RaiseError`` with a stable ``code`` (``RAISE-V010``), the
offending ``name`` where there is one, and for SQL or expression errors a ``line``,
``column`` and ``excerpt``. Catch the kind you can act on:

>>> from raise_.errors import NotFound
>>> try:
...     fs.feature_group("user-signal")                     # doctest: +SKIP
... except NotFound as error:
...     print(error.code)
RAISE-N001

Non-fatal findings (a derived feature that reads a feature not created yet) arrive as
``RaiseWarning`` through Python's ``warnings`` module.
"""
from __future__ import annotations

from grammar.errors import (
    AlreadyExists,
    ExecutionError,
    InvalidDType,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    RaiseError,
    RaiseSyntaxError,
    StatementTimeout,
    TypeMismatch,
    Unauthenticated,
    Unsupported,
    ValidationError,
)

__all__ = [
    "RaiseError", "RaiseSyntaxError", "ValidationError", "InvalidDType", "TypeMismatch",
    "NotFound", "AlreadyExists", "PermissionDenied", "Unauthenticated", "ExecutionError",
    "Unsupported", "LimitExceeded", "StatementTimeout", "RaiseWarning",
]


class RaiseWarning(UserWarning):
    """A finding that does not stop the operation, e.g. ``RAISE-V040`` unknown reference."""

    def __init__(self, message: str, code: str = "RAISE-W000") -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
