"""Pieces shared by the Lark-based statement families (core, models, security, ...).

``CommonTransformer`` maps the rules of ``shared.lark`` (names, paths, references, IF [NOT]
EXISTS, OR REPLACE) and is the base of every family's transformer. A transformer turns each
optional clause into an ``Option`` that remembers where it was written; ``options`` gathers them
into keyword arguments and rejects a clause given twice. ``syntax_error`` and ``transform``
turn Lark's exceptions into ``RaiseSyntaxError`` with a position, so no Lark exception reaches
a user.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from grammar import parser_cache
from grammar.ast import FeatureRef, GroupRef
from grammar.dtypes import parse_dtype
from grammar.errors import InvalidDType, RaiseError, RaiseSyntaxError, ValidationError


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
                 what: str = "statement", described: tuple[str, ...] = ()) -> RaiseSyntaxError:
    """Lark's parse error as a ``RaiseSyntaxError``: what was found, what was expected, where.
    A found token whose type is in ``described`` is named by ``friendly`` instead of its text."""
    line, column = max(error.line, 1), max(error.column, 1)
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            lines = text.rstrip().split("\n")
            line, column = len(lines), len(lines[-1]) + 1
        found = "end of statement" if token.type == "$END" else \
            friendly(token.type) if token.type in described else repr(str(token))
        expected = sorted({friendly(n) for n in error.accepts or error.expected})
        return RaiseSyntaxError(f"unexpected {found}; expected {', '.join(expected)}",
                                name=str(token), line=line, column=column)
    if isinstance(error, UnexpectedCharacters):
        found = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        expected = sorted({friendly(n) for n in error.allowed or ()})
        message = f"unexpected character {found!r}" + (f"; expected {', '.join(expected)}" if expected else "")
        return RaiseSyntaxError(message, name=found, line=line, column=column)
    return RaiseSyntaxError(f"incomplete {what}", line=line, column=column)


def transform(parser: Lark, transformer: Transformer, text: str, friendly: Callable[[str], str],
              what: str = "statement", described: tuple[str, ...] = (), start: str | None = None) -> Any:
    """Parse ``text`` (from the ``start`` rule, if the grammar has several) and transform the
    tree; every failure is a ``RaiseError``."""
    try:
        return transformer.transform(parser.parse(text, start=start) if start else parser.parse(text))
    except UnexpectedInput as error:
        raise syntax_error(error, text, friendly, what, described) from None
    except VisitError as error:
        if isinstance(error.orig_exc, RaiseError):
            raise error.orig_exc from None
        raise RaiseSyntaxError(f"invalid {what}: {error.orig_exc}", line=1, column=1) from None


@lru_cache(maxsize=None)
def grammar(filename: str, start: str | tuple[str, ...] = "start") -> Lark:
    """The LALR parser of one of this package's ``.lark`` files (built once per process, its
    tables loaded from ``parser_cache`` when an earlier process saved them)."""
    starts = (start,) if isinstance(start, str) else tuple(start)
    return Lark.open(str(Path(__file__).with_name(filename)), parser="lalr", lexer="contextual",
                     propagate_positions=True, maybe_placeholders=False, start=list(starts),
                     cache=parser_cache.cache_file(filename, starts))


def word(token: Token, allowed: tuple[str, ...], what: str) -> str:
    """A bare word of a closed vocabulary (lower case), or ``ValidationError`` listing it."""
    value = str(token).lower()
    if value not in allowed:
        raise ValidationError(f"unknown {what} {str(token)!r}; expected one of {', '.join(allowed)}",
                              name=str(token), line=token.line, column=token.column)
    return value


def check_path(names: tuple[str, ...], most: int, what: str, meta: Any) -> tuple[str, ...]:
    """``names``, unless a path of more than ``most`` names was written."""
    if len(names) > most:
        raise RaiseSyntaxError(f"{what} has at most {most} names, got {len(names)}: {'/'.join(names)}",
                               name="/".join(names), line=meta.line, column=meta.column)
    return names


@v_args(meta=True)
class CommonTransformer(Transformer):
    """Trees of the ``shared.lark`` rules as values; every family's transformer extends it
    (stateless: one instance may transform many trees)."""

    def STRING(self, token: Token) -> str:
        return str(token)[1:-1].replace("''", "'")

    def name(self, meta, children) -> str:
        token = children[0]
        return str(token)[1:-1].replace('""', '"') if token.type == "QUOTED" else str(token)

    def path(self, meta, names) -> tuple[str, ...]:
        return check_path(tuple(names), 3, "a namespace path", meta)

    def group_ref(self, meta, names) -> GroupRef:
        check_path(tuple(names), 4, "a group reference", meta)
        return GroupRef(name=names[-1], project=tuple(names[:-1]) or None)

    def feature_ref(self, meta, children) -> FeatureRef:
        return FeatureRef(group=children[0], name=children[1], version=children[2] if len(children) > 2 else None)

    def namespace_kind(self, meta, children) -> str:
        return str(children[0]).lower()

    def dtype(self, meta, children) -> str:
        token = children[0]
        try:
            return str(parse_dtype(str(token)))
        except InvalidDType as error:
            raise InvalidDType(error.message, name=str(token), line=token.line, column=token.column) from None

    def if_not_exists(self, meta, _) -> Option:
        return option("if_not_exists", True, meta)

    def if_exists(self, meta, _) -> Option:
        return option("if_exists", True, meta)

    def or_replace(self, meta, _) -> Option:
        return option("conflict", "update", meta)
