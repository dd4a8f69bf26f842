"""Where Raise's additions sit inside plain SQL, found on sqlglot trees.

Two things in the SQL a client sends are Raise's business rather than DataFusion's: an
``INSERT INTO`` a feature group (the session ingests the rows its source yields) and a table
read ``VERSION AS OF n`` / ``TIMESTAMP AS OF '...'`` (time travel). Both are found by parsing
the statement with sqlglot, whose dialects know both forms; the positions sqlglot's tokens
carry let the engine hand DataFusion the user's own text for everything else, unchanged.

>>> insert_target('INSERT INTO acme."ml/rec"."user-signals" (user_id) VALUES (1)')
InsertTarget(group='acme/ml/rec/user-signals', columns=['user_id'], source='VALUES (1)')
>>> [(t.group, t.kind, t.value) for t in time_travel('SELECT * FROM "g" VERSION AS OF 3')]
[('g', 'VERSION', 3)]
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from typing import TYPE_CHECKING

from grammar.errors import RaiseSyntaxError
from raise_.lazy import Attributes

if TYPE_CHECKING:
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import Token

#: sqlglot loads with the first statement that needs a tree (an INSERT, a time-travel read).
exp = Attributes("sqlglot.expressions")

#: DataFusion's SQL reads closest to DuckDB's (list literals, ``$n`` and ``?`` parameters).
_DIALECT = "duckdb"
_INSERT = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*INSERT\b", re.IGNORECASE | re.DOTALL)
_AS_OF = re.compile(r"\bAS\s+OF\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class InsertTarget:
    """An ``INSERT INTO`` a table: its ``/``-joined name, its column list, its source query."""

    group: str
    columns: list[str] | None
    source: str


@dataclass(frozen=True, slots=True)
class TimeTravel:
    """One ``table VERSION|TIMESTAMP AS OF value`` read; ``start``/``end`` span its text."""

    group: str
    kind: str
    value: int | str
    start: int
    end: int


@lru_cache(maxsize=1)
def _dialect() -> "Dialect":
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(_DIALECT)


def _parse(sql: str) -> tuple[list["Token"], "exp.Expression | None"]:
    from sqlglot.errors import ParseError, TokenError

    dialect = _dialect()
    try:
        tokens = dialect.tokenize(sql)
        trees = dialect.parser().parse(tokens, sql)
    except (ParseError, TokenError) as error:
        raise _syntax_error(error, sql) from None
    return tokens, (trees[0] if trees else None)


def _syntax_error(error: Exception, sql: str) -> RaiseSyntaxError:
    detail = (getattr(error, "errors", None) or [{}])[0]
    line, column = detail.get("line") or 1, detail.get("col") or 1
    description = detail.get("description") or str(error).splitlines()[0]
    return RaiseSyntaxError(f"SQL syntax error: {description}", line=line, column=column)


def _table_name(table: exp.Table) -> str:
    return "/".join(part.name for part in table.parts)


def _table_end(table: exp.Table) -> int:
    """Offset of the last character of a table reference's name."""
    return max(part.meta["end"] for part in table.parts)


def insert_target(sql: str) -> InsertTarget | None:
    """The target and source of an ``INSERT INTO`` statement, else None."""
    if not _INSERT.match(sql):
        return None
    from sqlglot.tokens import TokenType

    tokens, tree = _parse(sql)
    if not isinstance(tree, exp.Insert) or tree.expression is None:
        raise RaiseSyntaxError("INSERT needs INTO a feature group and a source: VALUES (...) or a SELECT",
                               line=1, column=1)
    target = tree.this
    columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
    table = target.this if isinstance(target, exp.Schema) else target
    rest = [t for t in tokens if t.start > _table_end(table)]
    if columns is not None:  # skip the column list: up to its matching ')'
        depth = 0
        for index, token in enumerate(rest):
            depth += (token.token_type == TokenType.L_PAREN) - (token.token_type == TokenType.R_PAREN)
            if depth == 0:
                rest = rest[index + 1:]
                break
    return InsertTarget(_table_name(table), columns, sql[rest[0].start:].strip() if rest else "")


def time_travel(sql: str) -> list[TimeTravel]:
    """Every table read with ``VERSION AS OF`` or ``TIMESTAMP AS OF`` (not inside literals or
    comments: those are no syntax), in text order."""
    if not _AS_OF.search(sql):
        return []
    from sqlglot.tokens import TokenType

    tokens, tree = _parse(sql)
    if tree is None:
        return []
    found = []
    for table in tree.find_all(exp.Table):
        version = table.args.get("version")
        if version is None:
            continue
        name_end = _table_end(table)
        literal = next(t for t in tokens if t.start > name_end and t.token_type in (TokenType.NUMBER, TokenType.STRING))
        value, kind = version.expression, version.name.upper()
        if not isinstance(value, exp.Literal) or (kind == "VERSION") == value.is_string:
            raise RaiseSyntaxError(f"{kind} AS OF takes " + ("a version number" if kind == "VERSION" else
                                   "a timestamp string"), name=_table_name(table), line=1, column=1)
        start = min(part.meta["start"] for part in table.parts)
        found.append(TimeTravel(_table_name(table), kind, int(value.this) if kind == "VERSION" else value.this,
                                start, literal.end + 1))
    return sorted(found, key=lambda t: t.start)
