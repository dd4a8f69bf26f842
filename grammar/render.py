"""Render ``grammar.ast`` statements as canonical Raise SQL.

Keywords are upper-case, every identifier is double-quoted, string literals are quoted with
``''`` doubling, and ``parse(render(s)) == [s]`` for every statement. Dispatch is a table
keyed by statement class.

>>> render(ast.Use(path=("acme", "ml", "rec")))
'USE "acme"/"ml"/"rec"'
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Callable

from grammar import ast, extensions
from grammar.dtypes import parse_dtype
from grammar.errors import ValidationError
from grammar.parser import split_statements

__all__ = ["render", "render_script", "quote_ident", "quote_literal", "RENDERERS"]


def quote_ident(name: str) -> str:
    """``user-signals`` -> ``"user-signals"`` (inner ``"`` doubled)."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"a name must be a non-empty string, got {name!r}", name=repr(name))
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: object) -> str:
    """A SQL literal for a Python value: ``None`` -> ``NULL``, ``"it's"`` -> ``'it''s'``.

    Accepts None, bool, int, finite float, str, ``datetime.datetime`` (``TIMESTAMP '...'``)
    and ``datetime.date`` (``DATE '...'``).
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"no SQL literal for the float {value!r}", name=repr(value))
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP " + quote_literal(value.isoformat(sep=" "))
    if isinstance(value, dt.date):
        return "DATE " + quote_literal(value.isoformat())
    raise ValidationError(f"no SQL literal for a {type(value).__name__}", name=repr(value))


def render(statement: ast.Statement) -> str:
    """Canonical SQL text for one statement (no trailing ``;``)."""
    renderer = RENDERERS.get(type(statement)) or extensions.renderer(type(statement))
    if renderer is None:
        raise ValidationError(f"not a Raise statement: {type(statement).__name__}",
                              name=type(statement).__name__)
    return renderer(statement)


def render_script(statements: list[ast.Statement]) -> str:
    """Statements as one script, each ended by ``;`` (``parse`` gives them back).

    A ``;`` after a trailing ``--`` comment would be commented out, so it goes on a new line.
    """
    lines = []
    for statement in statements:
        text = render(statement)
        lines.append(text + ("\n;" if _ends_in_line_comment(text) else ";"))
    return "\n".join(lines)


def _ends_in_line_comment(text: str) -> bool:
    pieces = split_statements(text)
    tokens = [t for t in pieces[-1].tokens if t.kind != "ws"] if pieces else []
    return bool(tokens) and pieces[-1].text[tokens[-1].start:].startswith("--")


# ------------------------------------------------------------------ names and clauses


def _path(path: tuple[str, ...]) -> str:
    return "/".join(quote_ident(name) for name in path)


def _group(group: ast.GroupRef) -> str:
    return _path((group.project or ()) + (group.name,))


def _feature(feature: ast.FeatureRef) -> str:
    text = _group(feature.group) + "." + quote_ident(feature.name)
    return text + ("@" + quote_ident(feature.version) if feature.version is not None else "")


_TARGETS: dict[type, Callable[[object], str]] = {
    tuple: _path, ast.GroupRef: _group, ast.FeatureRef: _feature,
}


def _target(target: object) -> str:
    return _TARGETS[type(target)](target)


def _tags(tags: tuple[str, ...]) -> str:
    return "TAGS (" + ", ".join(quote_literal(tag) for tag in tags) + ")"


def _described(statement) -> list[str]:
    """DESCRIPTION, TAGS and OWNER clauses of a statement that has them."""
    parts = []
    if statement.description is not None:
        parts.append("DESCRIPTION " + quote_literal(statement.description))
    if statement.tags is not None:
        parts.append(_tags(statement.tags))
    if statement.owner is not None:
        parts.append("OWNER " + quote_literal(statement.owner))
    return parts


def _column_settings(statement) -> list[str]:
    """NULLABLE / NOT NULL and DEFAULT clauses."""
    parts = []
    if statement.nullable is not None:
        parts.append("NULLABLE" if statement.nullable else "NOT NULL")
    if statement.default is not None:
        parts.append("DEFAULT " + statement.default)
    return parts


def _words(*parts: str | None) -> str:
    return " ".join(part for part in parts if part)


# ------------------------------------------------------------------ statements


def _create_namespace(s: ast.CreateNamespace) -> str:
    return _words("CREATE", s.kind.upper(), "IF NOT EXISTS" if s.if_not_exists else None,
                  _path(s.path), *_described(s))


def _create_group(s: ast.CreateFeatureGroup) -> str:
    keys = None
    if s.keys:
        keys = "KEY (" + ", ".join(
            f"{quote_ident(k.name)} {parse_dtype(k.dtype)}" for k in s.keys) + ")"
    timestamp = "TIMESTAMP " + quote_ident(s.timestamp) if s.timestamp is not None else None
    return _words("CREATE FEATURE GROUP", "IF NOT EXISTS" if s.if_not_exists else None,
                  _group(s.group), keys, timestamp, *_described(s))


def _create_feature(s: ast.CreateFeature) -> str:
    head = {"error": "CREATE FEATURE", "skip": "CREATE FEATURE IF NOT EXISTS",
            "update": "CREATE OR REPLACE FEATURE"}[s.conflict]
    return _words(
        head, _feature(s.feature), str(parse_dtype(s.dtype)),
        "VERSION " + quote_ident(s.version) if s.version is not None else None,
        *_described(s), *_column_settings(s),
        "VALIDATION " + s.validation.upper() if s.validation is not None else None,
        # Last: the expression runs to the next option word or the end of the statement.
        "DERIVED AS " + s.derived_as if s.derived_as is not None else None,
    )


def _alter_feature(s: ast.AlterFeature) -> str:
    settings = [*_described(s), *_column_settings(s)]
    if s.status is not None:
        settings.append("STATUS " + quote_literal(s.status))
    if not settings:
        raise ValidationError("ALTER FEATURE needs at least one setting to change",
                              name=s.feature.name)
    return _words("ALTER FEATURE", _feature(s.feature), "SET", *settings)


def _deprecate_feature(s: ast.DeprecateFeature) -> str:
    message = "MESSAGE " + quote_literal(s.message) if s.message is not None else None
    return _words("DEPRECATE FEATURE", _feature(s.feature), message)


def _drop(s: ast.Drop) -> str:
    return _words("DROP", s.kind.upper(), "IF EXISTS" if s.if_exists else None,
                  _target(s.target), "CASCADE" if s.cascade else "RESTRICT" if s.restrict else None)


def _use(s: ast.Use) -> str:
    return "USE " + _path(s.path)


def _show(s: ast.Show) -> str:
    within = None
    if s.within is not None:
        within = ("OF " if s.kind == "versions" else "IN ") + _target(s.within)
    return _words("SHOW", s.kind.upper(), within, _tags(s.tags) if s.tags is not None else None)


def _describe(s: ast.Describe) -> str:
    return _words("DESCRIBE", s.kind.upper(), _target(s.target))


def _validate_feature(s: ast.ValidateFeature) -> str:
    return "VALIDATE " + _create_feature(s.statement)


#: One renderer per statement class.
RENDERERS: dict[type, Callable[[ast.Statement], str]] = {
    ast.CreateNamespace: _create_namespace,
    ast.CreateFeatureGroup: _create_group,
    ast.CreateFeature: _create_feature,
    ast.AlterFeature: _alter_feature,
    ast.DeprecateFeature: _deprecate_feature,
    ast.Drop: _drop,
    ast.Use: _use,
    ast.Show: _show,
    ast.Describe: _describe,
    ast.ValidateFeature: _validate_feature,
    ast.Passthrough: lambda s: s.sql,
}
