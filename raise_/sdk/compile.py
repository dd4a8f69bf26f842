"""SDK calls compiled to Raise SQL: ``grammar.ast`` statements and sqlglot SELECTs.

Nothing here joins strings into SQL: statements are dataclasses rendered by
``grammar.render`` (which quotes every identifier and escapes every literal), queries are
sqlglot trees, and a derived expression is parsed and re-printed by ``grammar.expressions``
before it travels, so the text sent is always the canonical form of what the user wrote.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import SqlglotError

from grammar import ast, parse_expression, quote_literal
from grammar.errors import RaiseSyntaxError, ValidationError
from raise_.sdk.dtypes import DTypeLike, dtype_text

__all__ = [
    "IF_EXISTS", "VALIDATION_LEVELS", "group_ref", "feature_ref", "split_feature_path",
    "create_feature", "create_group", "create_namespace", "select", "tags_of",
]

IF_EXISTS = ("error", "skip", "update")
VALIDATION_LEVELS = ("strict", "standard", "permissive")


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}",
                              name=str(value))
    return value


def tags_of(tags: Iterable[str] | None) -> tuple[str, ...] | None:
    """A tag list as the statement field (``None`` when not given)."""
    if tags is None:
        return None
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise ValidationError(f"tags must be a list of strings, got {tags!r}", name=repr(tags))
    return tuple(tags)


def group_ref(project: tuple[str, ...], name: str) -> ast.GroupRef:
    return ast.GroupRef(name=name, project=project)


def feature_ref(project: tuple[str, ...], group: str, name: str, version: str | None = None) -> ast.FeatureRef:
    """``name`` may carry its version (``user_embedding@v1``)."""
    base, at, pinned = name.partition("@")
    if at and version is not None and pinned != version:
        raise ValidationError(f"{name!r} names version {pinned} but version={version!r} was given",
                              name=name)
    return ast.FeatureRef(group=group_ref(project, group), name=base,
                          version=(pinned or None) if at else version)


def split_feature_path(path: str, context: tuple[str, ...]) -> tuple[tuple[str, ...], str, str]:
    """``[[[org/]domain/]project/]group/feature[@v]`` -> (project path, group, feature[@v]).

    Missing leading names come from the store's context (``user-signals/click_count`` in
    ``acme/ml/rec`` is ``acme/ml/rec/user-signals/click_count``).
    """
    parts = path.split("/") if isinstance(path, str) else []
    if not 2 <= len(parts) <= 5 or not all(parts):
        raise ValidationError(
            f"not a feature path: {path!r}; write group/feature, project/group/feature, ... "
            "up to org/domain/project/group/feature (with @vN for a version)", name=str(path),
        )
    given = tuple(parts[:-2])
    missing = 3 - len(given)
    if len(context) < missing:
        raise ValidationError(
            f"{path!r} needs a project: give org/domain/project/group/feature or open the store "
            "with a project (FeatureStore('org/domain/project'))", name=path,
        )
    return tuple(context[:missing]) + given, parts[-2], parts[-1]


def create_feature(
    group: ast.GroupRef,
    name: str,
    dtype: DTypeLike,
    *,
    derived_from: str | None = None,
    version: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    owner: str | None = None,
    nullable: bool | None = None,
    default: Any = None,
    validation: str | None = None,
    if_exists: str = "error",
) -> ast.CreateFeature:
    """The ``CREATE FEATURE`` statement of ``group.create_feature(...)``.

    ``default=None`` means no default. A syntax error in ``derived_from`` is raised here
    (``RaiseSyntaxError`` with line and column) before anything is sent.
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(f"a feature needs a name, got {name!r}", name=repr(name))
    ref = feature_ref(group.project, group.name, name, version)
    if nullable is not None and not isinstance(nullable, bool):
        raise ValidationError(f"nullable must be True or False, got {nullable!r}", name=name)
    return ast.CreateFeature(
        feature=ast.FeatureRef(group=group, name=ref.name),
        dtype=dtype_text(dtype),
        derived_as=_expression(derived_from, name),
        version=ref.version,
        description=description,
        tags=tags_of(tags),
        owner=owner,
        nullable=nullable,
        default=None if default is None else quote_literal(default),
        validation=None if validation is None else _choice(validation, VALIDATION_LEVELS, "validation"),
        conflict=_choice(if_exists, IF_EXISTS, "if_exists"),
    )


def _expression(text: str | None, name: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValidationError(f"derived_from of {name!r} must be a SQL expression string", name=name)
    try:
        return parse_expression(text.strip()).normalized
    except RaiseSyntaxError as error:
        error.name = error.name or name
        raise


def create_group(
    project: tuple[str, ...],
    name: str,
    *,
    key_columns: Sequence[str] | dict[str, DTypeLike] | None = None,
    timestamp_column: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    owner: str | None = None,
    if_exists: str = "error",
) -> ast.CreateFeatureGroup:
    """``CREATE FEATURE GROUP``; ``key_columns`` is ``{"user_id": "int64"}`` or a list of names
    (each ``int64``)."""
    _choice(if_exists, ("error", "skip"), "if_exists")
    if isinstance(key_columns, str):
        raise ValidationError("key_columns is a list of names or a dict of name to dtype",
                              name=key_columns)
    keys = key_columns if isinstance(key_columns, dict) else {k: "int64" for k in key_columns or ()}
    return ast.CreateFeatureGroup(
        group=group_ref(project, name),
        keys=tuple(ast.ColumnDef(name=k, dtype=dtype_text(t)) for k, t in keys.items()),
        timestamp=timestamp_column,
        if_not_exists=if_exists == "skip",
        description=description,
        tags=tags_of(tags),
        owner=owner,
    )


def create_namespace(kind: str, path: tuple[str, ...], *, description: str | None = None,
                     tags: Iterable[str] | None = None, owner: str | None = None,
                     if_exists: str = "error") -> ast.CreateNamespace:
    _choice(if_exists, ("error", "skip"), "if_exists")
    return ast.CreateNamespace(kind=kind, path=path, if_not_exists=if_exists == "skip",
                               description=description, tags=tags_of(tags), owner=owner)


# ------------------------------------------------------------------ queries


class QueryDialect(Postgres):
    """DataFusion's SQL as the Raise engine reads it: Postgres quoting, and time travel
    written the Delta way (``"g" VERSION AS OF 3``, not ``FOR VERSION AS OF``)."""

    class Generator(Postgres.Generator):
        def version_sql(self, expression: exp.Version) -> str:
            return f"{expression.name} {expression.text('kind')} {self.sql(expression, 'expression')}"


def select(group: str, columns: Sequence[str] | None, *, as_of: int | str | dt.datetime | None = None,
           filter: str | None = None) -> str:
    """``SELECT cols FROM "group" [VERSION|TIMESTAMP AS OF x] [WHERE filter]``."""
    table = exp.Table(this=exp.to_identifier(group, quoted=True))
    if as_of is not None:
        table.set("version", _as_of(as_of))
    projection = [exp.column(c, quoted=True) for c in columns] if columns else [exp.Star()]
    query = exp.select(*projection).from_(table)
    if filter is not None:
        query = query.where(_condition(filter))
    return query.sql(dialect=QueryDialect)


def _as_of(value: int | str | dt.datetime) -> exp.Version:
    if isinstance(value, bool) or not isinstance(value, (int, str, dt.datetime)):
        raise ValidationError(f"as_of is a table version (int) or a timestamp, got {value!r}",
                              name=repr(value))
    if isinstance(value, int):
        if value < 0:
            raise ValidationError(f"table versions start at 0, got {value}", name=str(value))
        return exp.Version(this="VERSION", kind="AS OF", expression=exp.Literal.number(value))
    stamp = value if isinstance(value, dt.datetime) else _timestamp(value)
    text = stamp.isoformat(sep=" ", timespec="microseconds" if stamp.microsecond else "seconds")
    return exp.Version(this="TIMESTAMP", kind="AS OF", expression=exp.Literal.string(text))


def _timestamp(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"as_of {text!r} is not an ISO timestamp such as '2026-01-01 00:00:00'",
                              name=text) from None


def _condition(text: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("filter is a SQL condition such as \"click_count > 10\"", name=repr(text))
    try:
        tree = sqlglot.parse_one(text, dialect=QueryDialect)
    except SqlglotError as error:
        raise RaiseSyntaxError(f"invalid filter {text!r}: {error}", name=text, line=1, column=1) from None
    if isinstance(tree, (exp.Query, exp.DDL, exp.DML, exp.Command)):
        raise ValidationError(f"filter must be a condition, not a statement: {text!r}", name=text)
    return tree
