"""SHOW and DESCRIBE: catalog objects as Arrow tables (schemas in ``results``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import ast
from raise_.engine import derived, names, registry, results
from raise_.engine.resolve import feature_of, group_of, project_of

if TYPE_CHECKING:
    from raise_.engine.session import Session


def namespace_row(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "kind": kind, "path": record["key"]}


def group_row(session: "Session", record: dict[str, Any]) -> dict[str, Any]:
    features = registry.current_features(session.catalog, record.key)
    return {
        **record,
        "project": names.join(*record.project),
        "path": record.key,
        "keys": list(record.key_names),
        "key_types": [k.dtype for k in record.key_columns],
        "timestamp_column": record.timestamp,
        "features": len(features),
        "table_uri": record.uri,
        "feature_columns": [
            {"feature": r.label, "version": r.version, "column": r.column,
             "is_latest": (plain := features.get(r.name)) is not None and plain.key == r.key, "status": r.status}
            for r in registry.versions(session.catalog, record.key)
        ],
        "table_version": table_version(session, record.uri),
    }


def table_version(session: "Session", uri: str) -> int | None:
    """The Delta version of a group's table (None before its first commit): every write makes
    a new one, so clients key what they derive from the data (analysis results) by it."""
    storage = session.engine.storage
    version = storage.local_version(uri)
    if version is None:  # an object store, or a table not created yet
        table = storage.latest(uri)
        version = None if table is None else table.version()
    return version


def feature_row(session: "Session", record: dict[str, Any], latest_key: str | None) -> dict[str, Any]:
    group_key = record.group
    return {
        **record,
        **_broken(session, record),
        "group": group_key.rsplit("/", 1)[-1],
        "qualified_name": f"{group_key}/{record.name}@{record.version}",
        "is_latest": record.key == latest_key,
        "upstream": derived.upstream(session.catalog, record.key),
        "downstream": derived.downstream(session.catalog, record),
    }


def _broken(session: "Session", record: FeatureVersion) -> dict[str, Any]:
    """Status ``broken`` (and why) for a derived version whose upstream does not exist."""
    missing = derived.missing_upstream(session.catalog, record)
    if not missing:
        return {}
    return {"status": "broken", "message": f"upstream {', '.join(repr(m) for m in missing)} does not exist "
            "(deleted, or not created yet); reads fail until it is created again"}


def show_table(session: "Session", stmt: ast.Show) -> pa.Table:
    catalog = session.catalog
    if stmt.kind in ("organizations", "domains", "projects"):
        kind = stmt.kind[:-1]
        depth = names.LEVELS.index(kind)
        parent = _parent(session, stmt.within, depth) if depth else None
        records = registry.list_namespaces(catalog, kind, parent, stmt.tags)
        return results.rows(results.NAMESPACE_SCHEMA, [namespace_row(kind, r) for r in records])
    if stmt.kind == "feature groups":
        project = project_of(session, stmt.within if isinstance(stmt.within, tuple) else None)
        registry.namespace(catalog, project)
        records = registry.list_groups(catalog, project, stmt.tags)
        return results.rows(results.GROUP_SCHEMA, [group_row(session, r) for r in records])
    if stmt.kind == "features":
        groups = [group_of(session, stmt.within)] if isinstance(stmt.within, ast.GroupRef) else \
            registry.list_groups(catalog, project_of(session, stmt.within if isinstance(stmt.within, tuple) else None))
        rows = []
        for group in groups:
            for record in registry.current_features(catalog, group.key).values():
                if registry.has_tags(record, stmt.tags):
                    rows.append(feature_row(session, record, record.key))
        return results.rows(results.FEATURE_SCHEMA, rows)
    return _versions(session, stmt)


def _versions(session: "Session", stmt: ast.Show) -> pa.Table:
    ref = stmt.within
    group = group_of(session, ref.group)
    registry.feature(session.catalog, group.key, ref.name)
    records = registry.versions(session.catalog, group.key, ref.name)
    latest = registry.latest(records)
    rows = [feature_row(session, r, latest and latest.key) for r in records if registry.has_tags(r, stmt.tags)]
    return results.rows(results.FEATURE_SCHEMA, rows)


def _parent(session: "Session", within: Any, depth: int) -> tuple[str, ...]:
    given = within if isinstance(within, tuple) else ()
    if not given and session.project is None:
        return ()
    path = names.complete_path(given, session.project, depth)
    registry.namespace(session.catalog, path)
    return path


def describe_table(session: "Session", stmt: ast.Describe) -> pa.Table:
    if stmt.kind == "feature":
        group, record = feature_of(session, stmt.target)
        latest = registry.latest(registry.versions(session.catalog, group.key, record.name))
        return results.rows(results.FEATURE_SCHEMA, [feature_row(session, record, latest and latest.key)])
    if stmt.kind == "feature group":
        return results.rows(results.GROUP_SCHEMA, [group_row(session, group_of(session, stmt.target))])
    depth = names.LEVELS.index(stmt.kind) + 1
    path = names.complete_path(stmt.target, session.project, depth)
    record = registry.namespace(session.catalog, path)
    return results.rows(results.NAMESPACE_SCHEMA, [namespace_row(stmt.kind, record)])
