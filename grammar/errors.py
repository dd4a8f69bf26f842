"""The Raise error hierarchy.

It lives in the lowest layer (``grammar``) so that every package can raise it without
importing the SDK; ``raise_.errors`` re-exports it as the public home.

Each class carries a stable ``code`` (``RAISE-<letter><number>``), the offending ``name``
where there is one, and for SQL/expression errors a 1-based ``line``/``column`` and an
``excerpt`` with a caret under the position.
"""
from __future__ import annotations


class RaiseError(Exception):
    """Root of every error Raise reports to users."""

    code = "RAISE-E000"
    #: gRPC status name used when the error crosses Flight SQL.
    status = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        name: str | None = None,
        line: int | None = None,
        column: int | None = None,
        excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.name = name
        self.line = line
        self.column = column
        self.excerpt = excerpt

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.line is not None:
            text += f" (line {self.line}, column {self.column})"
        if self.excerpt:
            text += "\n" + self.excerpt
        return text


class RaiseSyntaxError(RaiseError):
    """Raise SQL or a derived expression that does not parse."""

    code = "RAISE-S001"
    status = "INVALID_ARGUMENT"


class ValidationError(RaiseError):
    """A well-formed statement whose meaning is invalid (types, references, cycles)."""

    code = "RAISE-V001"
    status = "INVALID_ARGUMENT"


class InvalidDType(ValidationError):
    """A dtype string or constructor that names no Raise type."""

    code = "RAISE-V010"


class TypeMismatch(ValidationError):
    """Data or an expression whose type does not fit the declared dtype."""

    code = "RAISE-V020"


class NotFound(RaiseError):
    """A namespace, group, feature, version or other object that does not exist."""

    code = "RAISE-N001"
    status = "NOT_FOUND"


class AlreadyExists(RaiseError):
    """Creating an object whose name is taken."""

    code = "RAISE-A001"
    status = "ALREADY_EXISTS"


class PermissionDenied(RaiseError):
    """The principal lacks the right the action needs."""

    code = "RAISE-P001"
    status = "PERMISSION_DENIED"


class Unauthenticated(RaiseError):
    """No valid credentials."""

    code = "RAISE-U001"
    status = "UNAUTHENTICATED"


class ExecutionError(RaiseError):
    """The query engine failed while running a valid statement."""

    code = "RAISE-X001"
    status = "INVALID_ARGUMENT"


class StatementTimeout(ExecutionError):
    """A statement that ran past its ``statement_timeout``; it was cancelled and its resources
    freed."""

    code = "RAISE-X020"
    status = "DEADLINE_EXCEEDED"


class LimitExceeded(ValidationError):
    """A statement or expression larger or deeper than Raise accepts (see ``grammar.limits``)."""

    code = "RAISE-V090"


class Unsupported(RaiseError):
    """A valid request this installation cannot carry out (e.g. a missing accelerator)."""

    code = "RAISE-X100"
    status = "UNIMPLEMENTED"


def excerpt_at(text: str, line: int, column: int) -> str:
    """Return the source line at ``line`` with a caret under ``column`` (both 1-based)."""
    lines = text.splitlines() or [""]
    source = lines[min(max(line, 1), len(lines)) - 1]
    column = max(column, 1)
    if len(source) > 2 * _EXCERPT_HALF:  # a window of a long line, not all of it
        start = max(0, column - 1 - _EXCERPT_HALF)
        source, column = source[start:column - 1 + _EXCERPT_HALF], column - start
    return f"  {source}\n  {' ' * (column - 1)}^"


_EXCERPT_HALF = 40
