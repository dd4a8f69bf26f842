"""Parse Raise SQL scripts into ``grammar.ast`` statements.

``parse(text)`` splits a script on ``;`` (respecting string literals, quoted identifiers and
comments), parses each statement that starts with a Raise keyword form with the Lark LALR
grammar in ``raise.lark``, and hands every other statement through as ``Passthrough``.

>>> parse('USE acme/ml/rec; SELECT 1')
[Use(path=('acme', 'ml', 'rec')), Passthrough(sql='SELECT 1')]
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from grammar import ast, extensions, limits
from grammar.errors import RaiseError, RaiseSyntaxError, excerpt_at

__all__ = ["parse", "split_statements", "Piece"]

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<unterminated>'.*|".*|/\*.*)
    | (?P<semicolon>;)
    | (?P<numbers>\[[-+\d\s.,eE]*\])   # a numeric array literal: one lexeme, not one per number
    | (?P<word>\w+)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<other>.)
    """,
    re.X | re.S,
)

#: Leading words of the statement forms Raise parses itself; anything else is passed through.
_RAISE_FORMS = tuple(tuple(form.split()) for form in (
    "CREATE ORGANIZATION", "CREATE DOMAIN", "CREATE PROJECT", "CREATE FEATURE",
    "CREATE OR REPLACE FEATURE", "ALTER FEATURE", "DEPRECATE FEATURE", "VALIDATE CREATE",
    "DROP ORGANIZATION", "DROP DOMAIN", "DROP PROJECT", "DROP FEATURE", "USE",
    "SHOW ORGANIZATIONS", "SHOW DOMAINS", "SHOW PROJECTS", "SHOW FEATURE GROUPS",
    "SHOW FEATURES", "SHOW VERSIONS", "DESCRIBE ORGANIZATION", "DESCRIBE DOMAIN",
    "DESCRIBE PROJECT", "DESCRIBE FEATURE",
))
#: Words that end a ``DERIVED AS`` expression: the CREATE FEATURE options.
_OPTION_WORDS = {"VERSION", "DESCRIPTION", "TAGS", "OWNER", "NULLABLE", "DEFAULT", "VALIDATION"}
_EXPR_SLOT = "\x01"



@dataclass(frozen=True, slots=True)
class Lexeme:
    """One lexical token of a script: its kind and its span."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Piece:
    """One statement of a script: its text (trimmed, no ``;``) and where it starts."""

    text: str
    start: int
    tokens: tuple[Lexeme, ...]


def parse(text: str) -> list[ast.Statement]:
    """Parse a script into statements; raise ``RaiseSyntaxError``/``InvalidDType`` on bad input.

    Positions in errors are 1-based line and column in ``text``.
    """
    return [_parse_piece(text, piece) for piece in split_statements(text)]


def split_statements(text: str) -> list[Piece]:
    """Split a script on ``;`` outside literals and comments; drop empty statements."""
    pieces, current = [], []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "semicolon":
            pieces.append(_piece(text, current))
            current = []
        else:
            current.append(Lexeme(kind, match.start(), match.end()))
    pieces.append(_piece(text, current))
    return [p for p in pieces if p is not None]


def _piece(text: str, tokens: list[Lexeme]) -> Piece | None:
    body = [t for t in tokens if t.kind != "ws"]
    if all(t.kind == "comment" for t in body):
        return None
    start, end = body[0].start, body[-1].end
    shifted = tuple(Lexeme(t.kind, t.start - start, t.end - start) for t in tokens
                    if start <= t.start < end)
    return Piece(text[start:end], start, shifted)


def _is_raise(piece: Piece) -> bool:
    words: list[str] = []
    for token in piece.tokens:
        if token.kind in ("ws", "comment"):
            continue
        if token.kind != "word" or len(words) == 4:
            break
        words.append(piece.text[token.start:token.end].upper())
    return any(tuple(words[:len(form)]) == form for form in _RAISE_FORMS)


def _parse_piece(script: str, piece: Piece) -> ast.Statement:
    try:
        limits.check(piece.text)
        extended = extensions.parse_extension(piece.text)
    except RaiseError as error:
        raise _relocate(error, script, piece.start) from None
    if extended is not None:
        return extended
    if not _is_raise(piece):
        return ast.Passthrough(sql=piece.text)
    try:
        masked, expression = _cut_expression(piece)
        statement = _parse_statement(masked)
        if expression is not None:
            statement = _with_expression(statement, _normalize(expression, piece))
        return statement
    except RaiseError as error:
        raise _relocate(error, script, piece.start) from None


def _with_expression(statement: ast.Statement, derived_as: str) -> ast.Statement:
    if isinstance(statement, ast.ValidateFeature):
        return replace(statement, statement=replace(statement.statement, derived_as=derived_as))
    return replace(statement, derived_as=derived_as)


def _parse_statement(text: str) -> ast.Statement:
    from grammar import core_tree  # Lark: only for the statements the core grammar parses

    return core_tree.parse_statement(text)


def _relocate(error: RaiseError, script: str, offset: int) -> RaiseError:
    """Turn a statement-relative position into one relative to the whole script."""
    _shift(error, script, offset)
    error.excerpt = excerpt_at(script, error.line, error.column)
    return error


def _shift(error: RaiseError, text: str, offset: int) -> None:
    """Move ``error``'s position, relative to ``text[offset:]``, to be relative to ``text``."""
    line, column = error.line or 1, error.column or 1
    before = text[:offset]
    base_line = before.count("\n") + 1
    base_column = offset - (before.rfind("\n") + 1) + 1
    error.line = base_line + line - 1
    error.column = column + base_column - 1 if line == 1 else column


# ------------------------------------------------------------------ DERIVED AS expressions


def _cut_expression(piece: Piece) -> tuple[str, tuple[int, int] | None]:
    """Replace the ``DERIVED AS`` expression by one slot character, keeping line breaks.

    The expression runs to the end of the statement or to the first CREATE FEATURE option
    word outside parentheses and CASE ... END (``NOT NULL`` counts unless it follows ``IS``);
    a feature named like an option word is written quoted inside the expression.
    """
    span = _expression_span(piece)
    if span is None:
        return piece.text, None
    start, end = span
    if start == end:
        raise RaiseSyntaxError("DERIVED AS needs an expression", line=1, column=1 + start)
    hidden = re.sub(r"[^\n]", " ", piece.text[start + 1:end])
    return piece.text[:start] + _EXPR_SLOT + hidden + piece.text[end:], span


def _expression_span(piece: Piece) -> tuple[int, int] | None:
    text, tokens = piece.text, [t for t in piece.tokens if t.kind not in ("ws", "comment")]
    words = [text[t.start:t.end].upper() if t.kind == "word" else None for t in tokens]
    start = next((i + 2 for i in range(len(words) - 1)
                  if words[i] == "DERIVED" and words[i + 1] == "AS"), None)
    if start is None:
        return None
    depth, end = 0, len(tokens)
    for i in range(start, len(tokens)):
        # CASE ... END nests like parentheses: `CASE WHEN NOT NULL ...` is no NOT NULL option.
        depth += (tokens[i].kind == "open" or words[i] == "CASE")
        depth -= (tokens[i].kind == "close" or words[i] == "END")
        if depth == 0 and _ends_expression(text, tokens, words, i):
            end = i
            break
    if start >= end:
        position = tokens[start - 1].end
        return position, position
    return tokens[start].start, tokens[end - 1].end


def _ends_expression(text: str, tokens: list[Lexeme], words: list, i: int) -> bool:
    word = words[i]
    neighbours = (text[tokens[i - 1].start:tokens[i - 1].end] if i else "",
                  text[tokens[i + 1].start:tokens[i + 1].end] if i + 1 < len(tokens) else "")
    if neighbours[0] in (".", "/", "@") or neighbours[1] in (".", "/", "@"):
        return False
    if word in _OPTION_WORDS:
        return True
    return (word == "NOT" and i + 1 < len(words) and words[i + 1] == "NULL"
            and (i == 0 or words[i - 1] != "IS"))


def _normalize(span: tuple[int, int], piece: Piece) -> str:
    from grammar.expressions import parse_expression  # sqlglot: only for DERIVED AS

    start, end = span
    try:
        return parse_expression(piece.text[start:end]).normalized
    except RaiseError as error:
        _shift(error, piece.text, start)
        raise
