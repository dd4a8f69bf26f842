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

from lark import Lark, v_args

from grammar import ast, clauses, extensions, limits
from grammar.clauses import check_path as _check_path, option as _option, options as _options, positional as _positional
from grammar.errors import RaiseError, RaiseSyntaxError, excerpt_at
from grammar.expressions import parse_expression

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

_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal",
    "DTYPE": "a dtype", "SIGNED_NUMBER": "a number", "EXPR_SLOT": "a DERIVED AS expression",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "SLASH": "'/'", "AT": "'@'",
    "$END": "end of statement", "VALIDATION_LEVEL": "STRICT, STANDARD or PERMISSIVE",
}


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
    return clauses.transform(_lark(), _ToAst(), text, _friendly, described=("EXPR_SLOT",))


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal)


def _lark() -> Lark:
    return clauses.grammar("raise.lark")


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
    start, end = span
    try:
        return parse_expression(piece.text[start:end]).normalized
    except RaiseError as error:
        _shift(error, piece.text, start)
        raise


# ------------------------------------------------------------------ tree -> ast


def _quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_PATH_LIMITS = {"organization": 1, "domain": 2, "project": 3}


@v_args(meta=True)
class _ToAst(clauses.CommonTransformer):
    """Map each grammar rule to an ast node; stateless (one instance may parse many trees)."""

    def show_kind(self, meta, children) -> str:
        return str(children[0]).lower() if children else "feature groups"

    def column_def(self, meta, children) -> ast.ColumnDef:
        return ast.ColumnDef(name=children[0], dtype=children[1])

    # -- options
    def cascade(self, meta, _):
        return _option("cascade", True, meta)

    def restrict(self, meta, _):
        return _option("restrict", True, meta)

    def description(self, meta, children):
        return _option("description", children[0], meta)

    def owner(self, meta, children):
        return _option("owner", children[0], meta)

    def message(self, meta, children):
        return _option("message", children[0], meta)

    def tags(self, meta, children):
        return _option("tags", tuple(children), meta)

    def keys(self, meta, children):
        return _option("keys", tuple(children), meta)

    def timestamp(self, meta, children):
        return _option("timestamp", children[-1], meta)

    def nullable_true(self, meta, _):
        return _option("nullable", True, meta)

    def nullable_false(self, meta, _):
        return _option("nullable", False, meta)

    def default(self, meta, children):
        return _option("default", children[0], meta)

    def version_option(self, meta, children):
        return _option("version", children[0], meta)

    def validation(self, meta, children):
        return _option("validation", str(children[0]).lower(), meta)

    def derived(self, meta, _):
        return _option("derived_as", _EXPR_SLOT, meta)

    def status(self, meta, children):
        value = children[0]
        if value not in ("active", "deprecated", "archived"):
            raise RaiseSyntaxError(
                f"unknown status {value!r}; expected 'active', 'deprecated' or 'archived'",
                name=value, line=meta.line, column=meta.column,
            )
        return _option("status", value, meta)

    # -- literals (canonical text)
    def lit_string(self, meta, children) -> str:
        return _quote_string(children[0])

    def lit_number(self, meta, children) -> str:
        return re.sub(r"\s+", "", str(children[0])).lstrip("+")

    def lit_null(self, meta, _) -> str:
        return "NULL"

    def lit_true(self, meta, _) -> str:
        return "TRUE"

    def lit_false(self, meta, _) -> str:
        return "FALSE"

    def lit_typed(self, meta, children) -> str:
        return f"{str(children[0]).upper()} {_quote_string(children[-1])}"

    # -- statements
    def create_namespace(self, meta, children) -> ast.CreateNamespace:
        kind, path = _positional(children)
        _check_path(path, _PATH_LIMITS[kind], f"a {kind} path", meta)
        return ast.CreateNamespace(kind=kind, path=path, **_options(children))

    def create_group(self, meta, children) -> ast.CreateFeatureGroup:
        (group,) = _positional(children)
        return ast.CreateFeatureGroup(group=group, **_options(children))

    def create_feature(self, meta, children) -> ast.CreateFeature:
        feature, dtype = _positional(children)
        options = _options(children)
        if options.pop("if_not_exists", False):
            if options.get("conflict") == "update":
                raise RaiseSyntaxError("OR REPLACE and IF NOT EXISTS exclude each other",
                                       line=meta.line, column=meta.column)
            options["conflict"] = "skip"
        return ast.CreateFeature(feature=feature, dtype=dtype, **options)

    def validate_feature(self, meta, children) -> ast.ValidateFeature:
        return ast.ValidateFeature(statement=children[0])

    def alter_feature(self, meta, children) -> ast.AlterFeature:
        (feature,) = _positional(children)
        return ast.AlterFeature(feature=feature, **_options(children))

    def deprecate_feature(self, meta, children) -> ast.DeprecateFeature:
        (feature,) = _positional(children)
        return ast.DeprecateFeature(feature=feature, **_options(children))

    def drop_namespace(self, meta, children) -> ast.Drop:
        kind, path = _positional(children)
        _check_path(path, _PATH_LIMITS[kind], f"a {kind} path", meta)
        return ast.Drop(kind=kind, target=path, **_options(children))

    def drop_group(self, meta, children) -> ast.Drop:
        (group,) = _positional(children)
        return ast.Drop(kind="feature group", target=group, **_options(children))

    def drop_feature(self, meta, children) -> ast.Drop:
        (feature,) = _positional(children)
        return ast.Drop(kind="feature", target=feature, **_options(children))

    def use(self, meta, children) -> ast.Use:
        return ast.Use(path=children[0])

    def show_namespaces(self, meta, children) -> ast.Show:
        kind, *within = _positional(children)
        return ast.Show(kind=kind, within=within[0] if within else None, **_options(children))

    def show_features(self, meta, children) -> ast.Show:
        within = _positional(children)
        return ast.Show(kind="features", within=within[0] if within else None,
                        **_options(children))

    def show_versions(self, meta, children) -> ast.Show:
        within = _positional(children)
        return ast.Show(kind="versions", within=within[0] if within else None,
                        **_options(children))

    def describe_namespace(self, meta, children) -> ast.Describe:
        kind, path = children
        _check_path(path, _PATH_LIMITS[kind], f"a {kind} path", meta)
        return ast.Describe(kind=kind, target=path)

    def describe_group(self, meta, children) -> ast.Describe:
        return ast.Describe(kind="feature group", target=children[0])

    def describe_feature(self, meta, children) -> ast.Describe:
        return ast.Describe(kind="feature", target=children[0])
