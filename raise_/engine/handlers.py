"""One handler per Raise statement class, registered in ``HANDLERS``.

A handler takes the session and the statement and returns an Arrow table. Catalog changes run
inside the session's statement transaction (opened by the engine), so a handler that fails
half-way leaves the catalog as it was; the one storage side effect (creating a group's empty
Delta table) is undone by the handler when the transaction fails.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

from grammar import ast
from grammar.dtypes import parse_dtype
from grammar.errors import AlreadyExists, NotFound, ValidationError
from raise_.engine import derived, names, registry, results
from raise_.engine.models import MODEL_HANDLERS
from raise_.engine.scope import group_of, project_of
from raise_.engine.describe import describe_table, show_table
from raise_.engine.features import (
    alter_feature, create_feature, deprecate_feature, drop_feature, validate_feature,
)
from raise_.engine.security import SECURITY_HANDLERS
from raise_.types import storage_arrow

if TYPE_CHECKING:
    from raise_.engine.session import Session

Handler = Callable[["Session", Any], pa.Table]
HANDLERS: dict[type, Handler] = {}


def handles(cls: type) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[cls] = fn
        return fn
    return register


@handles(ast.Use)
def use(session: "Session", stmt: ast.Use) -> pa.Table:
    path = names.complete_path(stmt.path, session.project, 3) if len(stmt.path) < 3 else stmt.path
    session.project = tuple(path)
    return results.ddl("USE", names.join(*path))


@handles(ast.CreateNamespace)
def create_namespace(session: "Session", stmt: ast.CreateNamespace) -> pa.Table:
    depth = names.LEVELS.index(stmt.kind) + 1
    path = names.complete_path(stmt.path, session.project, depth)
    _, created = registry.create_namespace(
        session.catalog, path, owner=stmt.owner or session.principal, if_not_exists=stmt.if_not_exists,
        description=stmt.description, tags=stmt.tags,
    )
    return results.ddl(f"CREATE {stmt.kind.upper()}", names.join(*path), int(created))


@handles(ast.CreateFeatureGroup)
def create_feature_group(session: "Session", stmt: ast.CreateFeatureGroup) -> pa.Table:
    catalog = session.catalog
    project = project_of(session, stmt.group.project)
    key = names.join(*project, stmt.group.name)
    if catalog.get("group", key) is not None:
        if stmt.if_not_exists:
            return results.ddl("CREATE FEATURE GROUP", key, 0)
        raise AlreadyExists(f"feature group {key!r} already exists", name=stmt.group.name)
    registry.create_namespace(catalog, project, owner=session.principal, if_not_exists=True, create_parents=True)
    fields, columns = _group_columns(stmt)
    table_id = catalog.next_id("table")
    uri = session.engine.storage.uri_for(table_id)
    record = {
        "name": stmt.group.name, "project": list(project), "id": table_id, "uri": uri,
        "keys": [{"name": c.name, "dtype": c.dtype} for c in stmt.keys],
        "timestamp": stmt.timestamp, "description": stmt.description,
        "tags": list(stmt.tags or ()), "owner": stmt.owner or session.principal, "columns": columns,
    }
    catalog.put("group", key, record, parent=names.join(*project))
    if fields:
        session.engine.storage.create(uri, pa.schema(fields))
        session.on_rollback(lambda: session.engine.storage.drop(uri))
    return results.ddl("CREATE FEATURE GROUP", key, 1)


def _group_columns(stmt: ast.CreateFeatureGroup) -> tuple[list[pa.Field], list[str]]:
    fields: list[pa.Field] = []
    seen: set[str] = set()
    for column in stmt.keys:
        dtype = parse_dtype(column.dtype)
        if dtype.kind not in ("primitive", "string") or dtype.element in ("float16", "float32", "float64"):
            raise ValidationError(
                f"key column {column.name!r} has type {dtype}; keys must be integer, string, "
                "bytes, date or timestamp", code="RAISE-V051", name=column.name,
            )
        fields.append(pa.field(column.name, storage_arrow(dtype), nullable=False))
        seen.add(column.name)
    if stmt.timestamp:
        if stmt.timestamp in seen:
            raise ValidationError(f"column {stmt.timestamp!r} is declared twice", code="RAISE-V052",
                                  name=stmt.timestamp)
        fields.append(pa.field(stmt.timestamp, pa.timestamp("us")))
        seen.add(stmt.timestamp)
    if len(seen) != len(fields):
        dup = next(f.name for i, f in enumerate(fields) if f.name in [g.name for g in fields[:i]])
        raise ValidationError(f"column {dup!r} is declared twice", code="RAISE-V052", name=dup)
    return fields, [f.name for f in fields]


HANDLERS[ast.CreateFeature] = create_feature
HANDLERS[ast.AlterFeature] = alter_feature
HANDLERS[ast.DeprecateFeature] = deprecate_feature
HANDLERS[ast.ValidateFeature] = validate_feature
HANDLERS.update(MODEL_HANDLERS)


@handles(ast.Drop)
def drop(session: "Session", stmt: ast.Drop) -> pa.Table:
    catalog = session.catalog
    try:
        if stmt.kind == "feature":
            return drop_feature(session, stmt)
        if stmt.kind == "feature group":
            return _drop_group(session, group_of(session, stmt.target), stmt.cascade)
        depth = names.LEVELS.index(stmt.kind) + 1
        path = names.complete_path(stmt.target, session.project, depth)
        record = registry.namespace(catalog, path)
    except NotFound:
        if stmt.if_exists:
            return results.ddl(f"DROP {stmt.kind.upper()}", _target_text(stmt.target), 0)
        raise
    return _drop_namespace(session, stmt.kind, record["key"], stmt.cascade)


def _target_text(target: Any) -> str:
    if isinstance(target, tuple):
        return names.join(*target)
    if isinstance(target, ast.GroupRef):
        return target.name
    return f"{target.group.name}.{target.name}"


def _drop_group(session: "Session", group: dict[str, Any], cascade: bool) -> pa.Table:
    catalog = session.catalog
    features = registry.versions(catalog, group["key"])
    outside = sorted({
        src for rec in features for src in derived.downstream(catalog, rec)
        if not src.startswith(group["key"] + "/")
    })
    if outside and not cascade:
        raise ValidationError(
            f"feature group {group['name']!r} is read by derived features elsewhere: "
            f"{', '.join(outside)}; drop those first or use CASCADE", code="RAISE-V060", name=group["name"],
        )
    for rec in features:
        catalog.delete_edges("lineage", rec["key"])
        catalog.delete("feature", rec["key"])
    catalog.delete("group", group["key"])
    uri = group["uri"]
    session.after_commit(lambda: session.engine.storage.drop(uri))
    return results.ddl("DROP FEATURE GROUP", group["key"], 1)


def _drop_namespace(session: "Session", kind: str, key: str, cascade: bool) -> pa.Table:
    catalog = session.catalog
    children = [r for r in catalog.list("group", prefix=key + "/")]
    children_ns = [r for k in ("domain", "project") for r in catalog.list(k, prefix=key + "/")]
    models = catalog.list("model", prefix=key + "/")
    if (children or children_ns or models) and not cascade:
        raise ValidationError(
            f"{kind} {key!r} is not empty; use CASCADE to drop it with everything in it",
            code="RAISE-V061", name=key,
        )
    for group in children:
        _drop_group(session, group, cascade=True)
    for record in models:
        catalog.delete("model", record["key"])
    for record in children_ns:
        catalog.delete(_kind_of(record["key"]), record["key"])
    catalog.delete(kind, key)
    return results.ddl(f"DROP {kind.upper()}", key, 1)


def _kind_of(key: str) -> str:
    return names.LEVELS[key.count("/")]


@handles(ast.Show)
def show(session: "Session", stmt: ast.Show) -> pa.Table:
    return show_table(session, stmt)


@handles(ast.Describe)
def describe(session: "Session", stmt: ast.Describe) -> pa.Table:
    return describe_table(session, stmt)


HANDLERS.update(SECURITY_HANDLERS)
