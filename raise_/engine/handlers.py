"""The core statement family: namespaces, feature groups and features (``FAMILY``).

A handler takes the session and the statement and returns an Arrow table. Catalog changes run
inside the session's statement transaction (opened by the engine), so a handler that fails
half-way leaves the catalog as it was; the one storage side effect (creating a group's empty
Delta table) is undone by the handler when the transaction fails.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import ast
from grammar.dtypes import parse_dtype
from grammar.errors import AlreadyExists, NotFound, ValidationError
from raise_.engine import core_rules, derived, names, registry, results
from raise_.engine.describe import describe_table, show_table
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule, kinds
from raise_.engine.features import (
    alter_feature, create_feature, deprecate_feature, drop_feature, validate_feature,
)
from raise_.engine.resolve import group_of, project_of
from raise_.engine.security.authorize import readable_parts, visible_rows
from raise_.engine.security.checks import needs_nothing
from raise_.types import storage_arrow

if TYPE_CHECKING:
    from raise_.engine.session import Session

def use(session: "Session", stmt: ast.Use) -> pa.Table:
    path = names.complete_path(stmt.path, session.project, 3) if len(stmt.path) < 3 else stmt.path
    session.project = tuple(path)
    return results.ddl("USE", names.join(*path))


def create_namespace(session: "Session", stmt: ast.CreateNamespace) -> pa.Table:
    depth = names.LEVELS.index(stmt.kind) + 1
    path = names.complete_path(stmt.path, session.project, depth)
    _, created = registry.create_namespace(
        session.catalog, path, owner=stmt.owner or session.principal, if_not_exists=stmt.if_not_exists,
        description=stmt.description, tags=stmt.tags,
    )
    return results.ddl(f"CREATE {stmt.kind.upper()}", names.join(*path), int(created))


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
    features = registry.versions(catalog, group.key)
    outside = sorted({
        src for rec in features for src in derived.downstream(catalog, rec)
        if not src.startswith(group.key + "/")
    })
    if outside and not cascade:
        raise ValidationError(
            f"feature group {group.name!r} is read by derived features elsewhere: "
            f"{', '.join(outside)}; drop those first or use CASCADE", code="RAISE-V060", name=group.name,
        )
    for rec in features:
        catalog.delete_edges("lineage", rec.key)
        catalog.delete("feature", rec.key)
    catalog.delete("group", group.key)
    uri = group.uri
    session.after_commit(lambda: session.engine.storage.drop(uri))
    return results.ddl("DROP FEATURE GROUP", group.key, 1)


def _drop_namespace(session: "Session", kind: str, key: str, cascade: bool) -> pa.Table:
    """Drop a namespace; with CASCADE, every object of every family inside it first."""
    catalog = session.catalog
    inside = [(k, r) for k in kinds() if k.within is not None for r in catalog.list(k.name, prefix=key + "/")]
    children_ns = [r for k in ("domain", "project") for r in catalog.list(k, prefix=key + "/")]
    if (inside or children_ns) and not cascade:
        raise ValidationError(
            f"{kind} {key!r} is not empty; use CASCADE to drop it with everything in it",
            code="RAISE-V061", name=key,
        )
    for owner, record in inside:
        owner.drop(session, record)
    for record in children_ns:
        catalog.delete(_kind_of(record["key"]), record["key"])
    catalog.delete(kind, key)
    return results.ddl(f"DROP {kind.upper()}", key, 1)


def _kind_of(key: str) -> str:
    return names.LEVELS[key.count("/")]


def _show_schema(stmt: ast.Show) -> pa.Schema:
    return {"feature groups": results.GROUP_SCHEMA, "features": results.FEATURE_SCHEMA,
            "versions": results.FEATURE_SCHEMA}.get(stmt.kind, results.NAMESPACE_SCHEMA)


def _describe_schema(stmt: ast.Describe) -> pa.Schema:
    return {"feature group": results.GROUP_SCHEMA, "feature": results.FEATURE_SCHEMA}.get(
        stmt.kind, results.NAMESPACE_SCHEMA)


def _ddl(handler, rule) -> Statement:
    return Statement(handler=handler, rule=rule, schema=results.DDL_SCHEMA, listing=acknowledged)


FAMILY = Family(
    name="core",
    statements={
        ast.Use: _ddl(use, needs_nothing),
        ast.CreateNamespace: _ddl(create_namespace, core_rules.create_namespace),
        ast.CreateFeatureGroup: _ddl(create_feature_group, core_rules.create_group),
        ast.CreateFeature: _ddl(create_feature, core_rules.create_feature),
        ast.AlterFeature: _ddl(alter_feature, core_rules.alter_feature),
        ast.DeprecateFeature: _ddl(deprecate_feature, core_rules.deprecate_feature),
        ast.Drop: _ddl(drop, core_rules.drop),
        ast.ValidateFeature: Statement(handler=validate_feature, rule=core_rules.validate_feature,
                                       schema=results.VALIDATION_SCHEMA, listing=checked_by_rule),
        ast.Show: Statement(handler=show_table, rule=needs_nothing, schema=_show_schema, listing=visible_rows),
        ast.Describe: Statement(handler=describe_table, rule=core_rules.describe, schema=_describe_schema,
                                listing=readable_parts),
    },
    kinds=(
        Kind(name="organization"), Kind(name="domain"), Kind(name="project"),
        Kind(name="group", within="project",
             drop=lambda session, group: _drop_group(session, registry.group_at(session.catalog, group["key"]),
                                                     cascade=True)),
        Kind(name="feature"),
    ),
)
