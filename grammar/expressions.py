"""The ``DERIVED AS`` expression language: SQL whose column names are Raise feature paths.

A derived expression is one SQL expression as DataFusion accepts it (arithmetic, comparisons,
function calls, CASE, CAST, IN, BETWEEN, IS NULL, window ``OVER (...)``, array literals
``[1.0, 2.0]``), except that a feature is named by the spec's Path Resolution forms:

==============  ====================================  ===================================
scope           form                                  example
==============  ====================================  ===================================
same group      ``feature``                           ``click_count``
same project    ``group.feature``                     ``user-signals.click_count``
same domain     ``project/group.feature``             ``rec/user-signals.click_count``
same org        ``domain/project/group.feature``      ``ml/rec/user-signals.click_count``
cross-org       ``@org/domain/project/group.feature`` ``@partner/ml/rec/items.embedding``
==============  ====================================  ===================================

Any form may end in a version, ``click_count@v1``; any name may be double-quoted
(``"user-signals"."click count"``); a quoted feature name with ``@`` names a version, as the
SQL columns do (``"user_embedding@v1"``). Names keep their case.

How ``-`` and ``/`` read (no spaces around them): a hyphenated name or a ``/`` chain directly
followed by ``.feature`` is a path (``item-signals.item_embedding``, ``rec/g.x``); otherwise
``-`` is subtraction and ``/`` division (``a-b`` is ``a - b``, ``a/b`` is ``a / b``). Write
spaces to divide by a qualified reference: ``a / g.x``. A ``.`` after a path is not struct
field access.

``parse_expression`` returns a ``DerivedExpr``; ``compile_expression`` turns it into DataFusion
SQL; ``infer_type`` checks it against the function table and infers its Raise dtype.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, SqlglotError

from grammar import limits
from grammar.dtypes import FLOATS, parse_dtype
from grammar.errors import RaiseSyntaxError, ValidationError, excerpt_at
from grammar.functions import (
    AGGREGATES, InferenceResult, Issue, check_compatible, infer_type,
)

__all__ = [
    "FeaturePath", "DerivedExpr", "Issue", "InferenceResult", "parse_expression",
    "compile_expression", "infer_type", "check_compatible", "ExpressionDialect",
]


class ExpressionDialect(Postgres):
    """Postgres SQL in which every function call keeps the name written.

    sqlglot would otherwise rewrite calls into its own nodes (``IF`` into ``CASE``,
    ``VARIANCE`` into ``VAR_SAMP``); DataFusion and the registered UDFs answer to the names
    the spec uses, so calls stay anonymous. Only syntax-bearing forms keep their parsers.
    """

    class Parser(Postgres.Parser):
        FUNCTIONS: dict = {}
        FUNCTION_PARSERS = {
            name: parser for name, parser in Postgres.Parser.FUNCTION_PARSERS.items()
            if name in ("CAST", "TRY_CAST", "EXTRACT", "SUBSTRING", "TRIM", "POSITION")
        }
        NO_PAREN_FUNCTION_PARSERS = {
            name: parser for name, parser in Postgres.Parser.NO_PAREN_FUNCTION_PARSERS.items()
            if name == "CASE"
        }


# ------------------------------------------------------------------ feature paths

_IDENT = r"(?!\d)\w+"
_QUOTED = r'"(?:[^"]|"")+"'
_SEGMENT = rf"(?:{_IDENT}(?:-{_IDENT})*|{_QUOTED})"
_FEATURE = rf"(?:{_IDENT}|{_QUOTED})"
_VERSION = rf"(?:@(?:\w+|{_QUOTED}))"
_QUALIFIED = re.compile(rf"(@)?({_SEGMENT}(?:/{_SEGMENT})*)\.({_FEATURE})({_VERSION})?")
_VERSIONED = re.compile(rf"({_FEATURE})({_VERSION})")
_SEGMENT_RE = re.compile(_SEGMENT)
_QUOTED_RE = re.compile(_QUOTED)
_WORD = re.compile(rf"{_IDENT}|{_QUOTED}")
_LEX = re.compile(
    r"""
      (?P<skip>\s+|--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\w*)
    | (?P<open>'|/\*)
    | (?P<name>[@"]|(?!\d)\w)
    | (?P<other>.)
    """,
    re.X | re.S,
)
_PLACEHOLDER = re.compile(r"__raise_ref_(\d+)__")
#: CREATE FEATURE option words: a bare feature name equal to one would end the expression.
_OPTION_WORDS = frozenset(
    {"VERSION", "DESCRIPTION", "TAGS", "OWNER", "NULLABLE", "DEFAULT", "VALIDATION"})


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _segment_text(name: str) -> str:
    return name if re.fullmatch(rf"{_IDENT}(?:-{_IDENT})*", name) else _quote(name)


def _feature_text(name: str) -> str:
    return name if _bare_is_column(name) else _quote(name)


@lru_cache(maxsize=4096)
def _bare_is_column(name: str) -> bool:
    """Whether ``name`` written bare reads back as a column of that name (not a keyword)."""
    if not re.fullmatch(_IDENT, name) or name.upper() in _OPTION_WORDS:
        return False
    contexts = (f"{name}", f"1 + {name} * 1", f"CASE WHEN {name} THEN {name} END",
                f"F({name}, {name})", f"{name} IS NULL")
    for context in contexts:
        try:
            tree = sqlglot.parse_one(context, dialect=ExpressionDialect)
        except SqlglotError:
            return False
        columns = list(tree.find_all(exp.Column))
        if not columns or any(c.name != name or c.this.quoted for c in columns):
            return False
    return True


@dataclass(frozen=True, slots=True)
class FeaturePath:
    """A reference to a feature as written in a derived expression.

    ``external`` marks the cross-organization form ``@org/domain/project/group.feature``;
    only it carries ``org``. ``text`` is the canonical path form, ``name`` the feature name.
    """

    feature: str
    group: str | None = None
    project: str | None = None
    domain: str | None = None
    org: str | None = None
    external: bool = False
    version: str | None = None

    def __post_init__(self) -> None:
        chain = (self.org, self.domain, self.project, self.group)
        given = [part is not None for part in chain]
        complete = all(given) if self.external else not given[0]
        ordered = given == sorted(given)  # every qualifier needs the ones below it
        if not (self.feature and complete and ordered):
            raise ValidationError(
                f"inconsistent feature path {self!r}: a path is feature, group.feature, "
                "project/group.feature, domain/project/group.feature or "
                "@org/domain/project/group.feature",
                name=self.feature,
            )

    @property
    def name(self) -> str:
        """The feature's name (without qualifiers or version)."""
        return self.feature

    @property
    def text(self) -> str:
        """The canonical path text, e.g. ``rec/user-signals.click_count@v1``."""
        chain = [p for p in (self.org, self.domain, self.project, self.group) if p is not None]
        prefix = "/".join(_segment_text(p) for p in chain)
        text = ("@" if self.external else "") + prefix + ("." if prefix else "")
        text += _feature_text(self.feature)
        if self.version is not None:
            text += "@" + (self.version if re.fullmatch(r"\w+", self.version)
                           else _quote(self.version))
        return text

    @classmethod
    def parse(cls, text: str) -> "FeaturePath":
        """Parse one path (``rec/user-signals.click_count``); raise ``RaiseSyntaxError``."""
        found = _match_reference(text, 0)
        if found is None and re.fullmatch(_FEATURE, text):
            return cls(feature=_unquote(text))
        if found is None or found[0] != len(text):
            raise RaiseSyntaxError(f"not a feature path: {text!r}", name=text, line=1, column=1)
        return found[1]

    def __str__(self) -> str:
        return self.text


def _match_reference(text: str, pos: int) -> tuple[int, FeaturePath] | None:
    """A qualified or versioned path starting at ``pos``: its end and the path."""
    match = _QUALIFIED.match(text, pos)
    if match:
        return match.end(), _qualified_path(text, match)
    match = _VERSIONED.match(text, pos)
    if match:
        return match.end(), FeaturePath(feature=_unquote(match.group(1)),
                                        version=_unquote(match.group(2)[1:]))
    match = _QUOTED_RE.match(text, pos)
    if match and "@" in _unquote(match.group()):
        feature, _, version = _unquote(match.group()).rpartition("@")
        if feature and version:
            return match.end(), FeaturePath(feature=feature, version=version)
    return None


def _qualified_path(text: str, match: re.Match) -> FeaturePath:
    external, chain, feature, version = match.groups()
    names = [_unquote(m.group()) for m in _SEGMENT_RE.finditer(chain)]
    if external and len(names) != 4 or not external and len(names) > 3:
        line, column = _line_column(text, match.start())
        raise RaiseSyntaxError(
            f"bad feature path {match.group()!r}: write group.feature, project/group.feature, "
            "domain/project/group.feature or @org/domain/project/group.feature",
            name=match.group(), line=line, column=column, excerpt=excerpt_at(text, line, column),
        )
    padded = [None] * (4 - len(names)) + names
    return FeaturePath(
        feature=_unquote(feature), group=padded[3], project=padded[2], domain=padded[1],
        org=padded[0], external=bool(external),
        version=_unquote(version[1:]) if version else None,
    )


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class DerivedExpr:
    """A parsed derived expression.

    ``references``: feature paths in order of first appearance, without repeats (key and
    event-time columns named in the expression appear here too). ``functions``: upper-case
    names of the functions called. ``has_aggregate``: an aggregate function is called (with
    or without OVER). ``has_window``: an explicit OVER clause is present. ``normalized``:
    canonical text that parses back to the same expression.
    """

    source: str
    normalized: str
    references: tuple[FeaturePath, ...]
    functions: tuple[str, ...]
    has_aggregate: bool
    has_window: bool
    tree: exp.Expression = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.normalized

    def reference_of(self, column: exp.Column) -> FeaturePath:
        """The feature path a column node of ``tree`` stands for."""
        return self.references[int(_PLACEHOLDER.fullmatch(column.name).group(1))]

    def show(self, node: exp.Expression) -> str:
        """A node of ``tree`` as text, with feature paths in their canonical form."""
        return _PLACEHOLDER.sub(lambda m: self.references[int(m.group(1))].text,
                                node.sql(dialect=ExpressionDialect))


@dataclass(frozen=True, slots=True)
class _Occurrence:
    path: FeaturePath
    start: int  # in the source text
    end: int
    sub_start: int  # in the text handed to sqlglot
    sub_end: int


def parse_expression(text: str) -> DerivedExpr:
    """Parse a derived expression; raise ``RaiseSyntaxError`` with its line and column.

    >>> parse_expression("click_count / NULLIF(impression_count, 0)").normalized
    'click_count / NULLIF(impression_count, 0)'
    """
    if "__raise_ref_" in text:
        raise _error(text, text.index("__raise_ref_"), "names starting __raise_ref_ are reserved")
    limits.check(text, "DERIVED AS expression")
    try:
        return _parsed(text)
    except RecursionError:  # within the limits this is not expected; never let it escape
        raise limits.too_deep("DERIVED AS expression") from None


def _parsed(text: str) -> DerivedExpr:
    substituted, occurrences = _substitute_paths(text)
    tree = _parse_sql(text, substituted, occurrences)
    _reject_non_expressions(text, tree)
    references = _number_references(tree, occurrences)
    functions = _function_names(tree)
    expr = DerivedExpr(
        source=text,
        normalized="",
        references=tuple(references),
        functions=functions,
        has_aggregate=any(name in AGGREGATES for name in functions),
        has_window=tree.find(exp.Window) is not None,
        tree=tree,
    )
    return replace(expr, normalized=expr.show(tree))


def _substitute_paths(text: str) -> tuple[str, list[_Occurrence]]:
    """Replace each qualified or versioned path with a placeholder identifier."""
    pieces: list[str] = []
    occurrences: list[_Occurrence] = []
    pos, length = 0, 0
    while pos < len(text):
        match = _LEX.match(text, pos)
        kind, end = match.lastgroup, match.end()
        if kind == "open":
            what = "string literal" if text[pos] == "'" else "comment"
            raise _error(text, pos, f"unterminated {what}")
        if kind == "name":
            found = _match_reference(text, pos)
            if found and not re.match(r"\s*\(", text[found[0]:]):
                placeholder = f"__raise_ref_{len(occurrences)}__"
                occurrences.append(_Occurrence(found[1], pos, found[0], length,
                                               length + len(placeholder)))
                pieces.append(placeholder)
                length += len(placeholder)
                pos = found[0]
                continue
            word = _WORD.match(text, pos)
            if word is None and text[pos] == '"':
                raise _error(text, pos, "unterminated quoted identifier")
            end = word.end() if word else pos + 1
        pieces.append(text[pos:end])
        length += end - pos
        pos = end
    return "".join(pieces), occurrences


def _parse_sql(text: str, substituted: str, occurrences: list[_Occurrence]) -> exp.Expression:
    if not substituted.strip():
        raise _error(text, 0, "empty expression")
    try:
        trees = [t for t in sqlglot.parse(substituted, dialect=ExpressionDialect) if t]
    except ParseError as error:
        info = error.errors[0] if error.errors else {}
        start = _offset(substituted, info.get("line", 1), info.get("col", 1))
        start -= max(len(info.get("highlight") or ""), 1) - 1
        highlight = info.get("highlight") or ""
        source = _source_offset(start, occurrences)
        near = text[source:source + max(len(highlight), 1)] if highlight else ""
        message = info.get("description") or "invalid expression"
        raise _error(text, source, f"{message}" + (f" near {near!r}" if near else "")) from None
    except SqlglotError as error:
        raise _error(text, 0, f"invalid expression: {error}") from None
    if len(trees) != 1:
        raise _error(text, 0, "a derived feature is one expression, without ';'")
    return trees[0]


def _reject_non_expressions(text: str, tree: exp.Expression) -> None:
    statement = (exp.Query, exp.DDL, exp.DML, exp.Command, exp.Alias, exp.Star)
    if isinstance(tree, statement):
        raise _error(text, 0, "expected an expression, not a statement or alias")
    inner = tree.find(exp.Subquery, exp.Select, exp.Placeholder, exp.Parameter)
    if inner is not None:
        what = "parameters" if isinstance(inner, (exp.Placeholder, exp.Parameter)) else "subqueries"
        raise _error(text, 0, f"{what} are not allowed in a derived feature")


def _number_references(tree: exp.Expression, occurrences: list[_Occurrence]) -> list[FeaturePath]:
    """Rename every column to ``__raise_ref_<i>__``, ``i`` indexing the distinct references."""
    columns = sorted(tree.find_all(exp.Column), key=lambda c: c.this.meta.get("start", 0))
    references: list[FeaturePath] = []
    for column in columns:
        if column.table:
            raise RaiseSyntaxError(
                f"unexpected qualifier {column.sql(dialect=ExpressionDialect)!r}: "
                "a feature path is [[[domain/]project/]group.]feature",
                name=column.name, line=1, column=1,
            )
        placeholder = _PLACEHOLDER.fullmatch(column.name) if not column.this.quoted else None
        path = occurrences[int(placeholder.group(1))].path if placeholder else FeaturePath(
            feature=column.name)
        if path not in references:
            references.append(path)
        column.set("this", exp.to_identifier(f"__raise_ref_{references.index(path)}__"))
    return references


_SYNTAX_FUNCTIONS = {
    exp.Substring: "SUBSTRING", exp.Trim: "TRIM", exp.Extract: "EXTRACT",
    exp.StrPosition: "POSITION",
}


def _function_names(tree: exp.Expression) -> tuple[str, ...]:
    names: list[str] = []
    for node in tree.find_all(exp.Anonymous, *_SYNTAX_FUNCTIONS, bfs=False):
        if isinstance(node, exp.Anonymous):
            node.set("this", node.name.upper())
            name = node.name
        else:
            name = _SYNTAX_FUNCTIONS[type(node)]
        if name not in names:
            names.append(name)
    return tuple(names)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    return sum(len(l) + 1 for l in lines[: line - 1]) + max(column, 1) - 1


def _source_offset(offset: int, occurrences: list[_Occurrence]) -> int:
    """Map an offset in the placeholder text back to the source text."""
    shift = 0
    for occurrence in occurrences:
        if offset < occurrence.sub_start:
            break
        if offset < occurrence.sub_end:
            return occurrence.start
        shift = occurrence.end - occurrence.sub_end
    return max(offset + shift, 0)


def _error(text: str, offset: int, message: str) -> RaiseSyntaxError:
    line, column = _line_column(text, min(offset, len(text)))
    return RaiseSyntaxError(message, line=line, column=column,
                            excerpt=excerpt_at(text, line, column))


# ------------------------------------------------------------------ compiling


def compile_expression(
    expr: DerivedExpr,
    column: Callable[[FeaturePath], exp.Expression],
    *,
    dtype: str | None = None,
) -> str:
    """DataFusion SQL for ``expr``: references replaced by ``column(path)``.

    An aggregate call without OVER becomes a window over the whole group, so
    ``(x - AVG(x)) / STDDEV(x)`` computes per row: ``(x - AVG(x) OVER ()) / ...``.
    With the declared ``dtype`` of a float type, ``/`` divides as floats (DataFusion divides
    integers as integers) and a primitive ``dtype`` casts the result to it.

    >>> e = parse_expression("x - AVG(x)")
    >>> compile_expression(e, lambda p: exp.column(p.name, table="t", quoted=True))
    '"t"."x" - AVG("t"."x") OVER ()'
    """
    float_division = dtype is not None and str(parse_dtype(dtype)) in FLOATS

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return column(expr.reference_of(node)).copy()
        return node

    def rewrite(node: exp.Expression) -> exp.Expression:
        if (isinstance(node, exp.Anonymous) and node.name in AGGREGATES
                and not isinstance(node.parent, exp.Window)):
            return exp.Window(this=node.copy())
        if float_division and isinstance(node, exp.Div):
            node.set("this", exp.cast(node.this, exp.DataType.Type.DOUBLE))
        return node

    tree = expr.tree.copy().transform(substitute).transform(rewrite)
    sql_type = _SQL_TYPES.get(str(parse_dtype(dtype)) if dtype else "")
    if sql_type is not None:
        tree = exp.cast(tree, sql_type)
    return tree.sql(dialect=ExpressionDialect)


#: Raise primitive dtypes and the SQL types DataFusion casts to.
_SQL_TYPES = {
    "int8": "TINYINT", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT",
    "float32": "REAL", "float64": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR",
    "date": "DATE", "timestamp": "TIMESTAMP",
}
