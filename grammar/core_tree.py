"""The core grammar (``raise.lark``) and its transformer: trees as ``grammar.ast`` statements.

``grammar.parser`` loads this module (and Lark) only for a statement that starts with a core
Raise form, so a script of plain SQL never builds or loads a parser.
"""
from __future__ import annotations

import re

from lark import v_args

from grammar import ast, clauses
from grammar.clauses import check_path as _check_path, option as _option, options as _options, positional as _positional
from grammar.errors import RaiseSyntaxError
from grammar.parser import _EXPR_SLOT

_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal",
    "DTYPE": "a dtype", "SIGNED_NUMBER": "a number", "EXPR_SLOT": "a DERIVED AS expression",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "SLASH": "'/'", "AT": "'@'",
    "$END": "end of statement", "VALIDATION_LEVEL": "STRICT, STANDARD or PERMISSIVE",
}


def parse_statement(text: str) -> ast.Statement:
    """One core statement (its DERIVED AS expression masked by ``grammar.parser``) as ast."""
    return clauses.transform(clauses.grammar("raise.lark"), _ToAst(), text, _friendly, described=("EXPR_SLOT",))


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal)


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
