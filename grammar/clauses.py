"""Pieces shared by the Lark-based statement families (core, models, security).

A transformer turns each optional clause into an ``Option`` that remembers where it was
written; ``options`` gathers them into keyword arguments and rejects a clause given twice.
``syntax_error`` and ``transform`` turn Lark's exceptions into ``RaiseSyntaxError`` with a
position, so no Lark exception reaches a user.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from grammar.errors import RaiseError, RaiseSyntaxError


@dataclass(frozen=True, slots=True)
class Option:
    """One optional clause of a statement and where it was written."""

    key: str
    value: object
    line: int
    column: int


def option(key: str, value: object, meta: Any) -> Option:
    return Option(key, value, getattr(meta, "line", 1), getattr(meta, "column", 1))


def options(items: list) -> dict:
    """Keyword arguments from the ``Option`` children; each clause may appear once."""
    found: dict = {}
    for item in items:
        if not isinstance(item, Option):
            continue
        if item.key in found:
            raise RaiseSyntaxError(f"{item.key.replace('_', ' ').upper()} given twice", name=item.key,
                                   line=item.line, column=item.column)
        found[item.key] = item.value
    return found


def positional(items: list) -> list:
    return [item for item in items if not isinstance(item, Option)]


def syntax_error(error: UnexpectedInput, text: str, friendly: Callable[[str], str],
                 what: str = "statement") -> RaiseSyntaxError:
    """Lark's parse error as a ``RaiseSyntaxError``: what was found, what was expected, where."""
    line, column = max(error.line, 1), max(error.column, 1)
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            lines = text.rstrip().split("\n")
            line, column = len(lines), len(lines[-1]) + 1
        found = "end of statement" if token.type == "$END" else repr(str(token))
        expected = sorted({friendly(n) for n in error.accepts or error.expected})
        return RaiseSyntaxError(f"unexpected {found}; expected {', '.join(expected)}",
                                name=str(token), line=line, column=column)
    if isinstance(error, UnexpectedCharacters):
        found = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        return RaiseSyntaxError(f"unexpected character {found!r}", name=found, line=line, column=column)
    return RaiseSyntaxError(f"incomplete {what}", line=line, column=column)


def transform(parser: Lark, transformer: Transformer, text: str, friendly: Callable[[str], str],
              what: str = "statement") -> Any:
    """Parse ``text`` and transform the tree; every failure is a ``RaiseError``."""
    try:
        return transformer.transform(parser.parse(text))
    except UnexpectedInput as error:
        raise syntax_error(error, text, friendly, what) from None
    except VisitError as error:
        if isinstance(error.orig_exc, RaiseError):
            raise error.orig_exc from None
        raise RaiseSyntaxError(f"invalid {what}: {error.orig_exc}", line=1, column=1) from None
