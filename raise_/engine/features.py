"""Handlers for feature versions: CREATE FEATURE, ALTER FEATURE, DEPRECATE, DROP FEATURE.

Versions: a plain CREATE makes ``v1`` (or fails if the feature exists, per the conflict rule);
``VERSION vN`` adds a version, typically for a schema change. Each stored version has its own
physical column (``name@vN``), never reused, so dropping and re-creating a feature cannot
resurrect old values.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import ast
from grammar.dtypes import parse_dtype
from grammar.errors import AlreadyExists, TypeMismatch, ValidationError
from raise_.engine import derived, ingest, names, registry, results
from raise_.engine.records import FeatureVersion, GroupRecord
from raise_.engine.resolve import feature_of, group_of

if TYPE_CHECKING:
    from raise_.engine.session import Session

_MUTABLE = ("description", "tags", "owner", "nullable", "default", "validation")


def create_feature(session: "Session", stmt: ast.CreateFeature) -> pa.Table:
    catalog = session.catalog
    group = group_of(session, stmt.feature.group)
    name = stmt.feature.name
    if name in group.group_columns:
        raise AlreadyExists(f"{name!r} is a key or event-time column of {group.name!r}", name=name)
    dtype = str(parse_dtype(stmt.dtype))
    existing = registry.versions(catalog, group.key, name)
    live = registry.latest(existing)
    # a plain CREATE of an existing feature is a conflict; of an archived one, a new version
    version = stmt.version or (None if live is not None else registry.next_version(existing))
    current = live if version is None else next((r for r in existing if r.version == version), None)
    if version is not None:
        names.version_number(version)
    if current is not None:
        return _on_conflict(session, stmt, group, current, dtype)
    report = _check(session, group, name, dtype, stmt)
    previous = registry.latest(existing) or {}
    fields = {
        "name": name, "version": version, "dtype": dtype, "derived_as": report.expression if report else None,
        # a new version keeps the documentation of the one it supersedes unless it says otherwise
        "description": stmt.description if stmt.description is not None else previous.get("description"),
        "tags": stmt.tags if stmt.tags is not None else previous.get("tags"),
        "owner": stmt.owner or previous.get("owner") or session.principal,
        "nullable": stmt.nullable, "default": stmt.default, "validation": stmt.validation,
    }
    column = None if stmt.derived_as else _allocate_column(session, group, f"{name}@{version}")
    record = registry.new_feature_record(group, fields, column)
    key = names.feature_key(group.key, name, version)
    catalog.put("feature", key, record, parent=group.key)
    if report:
        derived.record_lineage(catalog, key, report.references)
    warnings = [f"{w.code}: {w.message}" for w in report.warnings] if report else []
    return results.ddl("CREATE FEATURE", key, 1, warnings)


def _check(session: "Session", group: GroupRecord, name: str, dtype: str, stmt: ast.CreateFeature):
    if stmt.derived_as is None:
        if stmt.default is not None and stmt.default.upper() != "NULL":
            _check_default(stmt.default, dtype, name)
        return None
    report = derived.check(session.catalog, group, name, dtype, stmt.derived_as, stmt.validation or "standard")
    if not report.valid:
        first = report.errors[0]
        others = "; ".join(f"{e.code}: {e.message}" for e in report.errors[1:])
        raise ValidationError(
            f"derived feature {name!r}: {first.message}" + (f" (also: {others})" if others else ""),
            code=first.code, name=first.name or name,
        )
    return report


def _check_default(default: str, dtype: str, name: str) -> None:
    """A DEFAULT must be a value of the feature's type (checked now, not at the first write)."""
    try:
        ingest.default_array(default, parse_dtype(dtype), 1)
    except TypeMismatch as error:
        raise TypeMismatch(f"DEFAULT {default} does not fit feature {name!r} of type {dtype}: "
                           f"{error.message}", code="RAISE-V022", name=name) from None


def _allocate_column(session: "Session", group: GroupRecord, wanted: str) -> str:
    """A physical column name never used before in this group's table."""
    used = set(group.columns)
    column, n = wanted, 1
    while column in used:
        n += 1
        column = f"{wanted}~{n}"
    updated = group.replace(columns=group.columns + (column,))
    session.catalog.put("group", group.key, updated.to_record(), parent=group.project_key)
    return column


def _on_conflict(session: "Session", stmt: ast.CreateFeature, group: GroupRecord, current: FeatureVersion,
                 dtype: str) -> pa.Table:
    key = current.key
    if stmt.conflict == "skip":
        return results.ddl("CREATE FEATURE", key, 0)
    if stmt.conflict == "error":
        raise AlreadyExists(
            f"feature {current.name!r} already exists in {group.name!r} as {current.version}; "
            "use IF NOT EXISTS to keep it, OR REPLACE to update it, or VERSION vN for a new version",
            name=current.name,
        )
    if dtype != current.dtype:
        raise ValidationError(
            f"changing {current.name!r} from {current.dtype} to {dtype} is a schema change: "
            f"create a new version (VERSION {registry.next_version(registry.versions(session.catalog, group.key, current.name))})",
            code="RAISE-V023", name=current.name,
        )
    report = _check(session, group, current.name, dtype, stmt)
    updated = current.to_record()
    for field in _MUTABLE:
        value = getattr(stmt, field)
        if value is not None:
            updated[field] = list(value) if field == "tags" else value
    if report is not None:
        updated["derived_as"] = report.expression
        derived.record_lineage(session.catalog, key, report.references)
    session.catalog.put("feature", key, updated, parent=group.key)
    warnings = [f"{w.code}: {w.message}" for w in report.warnings] if report else []
    return results.ddl("CREATE OR REPLACE FEATURE", key, 1, warnings)


def alter_feature(session: "Session", stmt: ast.AlterFeature) -> pa.Table:
    group, record = feature_of(session, stmt.feature)
    changes = {k: v for k, v in asdict(stmt).items() if k != "feature" and v is not None}
    if not changes:
        raise ValidationError("ALTER FEATURE needs at least one SET clause", code="RAISE-V024",
                              name=record.name)
    if "default" in changes and changes["default"].upper() != "NULL":
        _check_default(changes["default"], record.dtype, record.name)
    updated = record.to_record()
    for field, value in changes.items():
        updated[field] = list(value) if field == "tags" else value
    if changes.get("status") == "active":
        updated["message"] = None
    session.catalog.put("feature", record.key, updated, parent=group.key)
    return results.ddl("ALTER FEATURE", record.key, 1)


def deprecate_feature(session: "Session", stmt: ast.DeprecateFeature) -> pa.Table:
    group, record = feature_of(session, stmt.feature)
    updated = dict(record.to_record(), status="deprecated", message=stmt.message)
    session.catalog.put("feature", record.key, updated, parent=group.key)
    return results.ddl("DEPRECATE FEATURE", record.key, 1)


def drop_feature(session: "Session", stmt: ast.Drop) -> pa.Table:
    """Drop one version (``g.f@v1``) or every version of a feature.

    Derived features that read it become ``broken`` (their reads fail naming it) until it is
    created again; the result warns of each. ``RESTRICT`` refuses instead while any would break.
    """
    ref: ast.FeatureRef = stmt.target
    group = group_of(session, ref.group)
    if ref.version:
        doomed = [registry.feature(session.catalog, group.key, ref.name, ref.version)]
    else:
        registry.feature(session.catalog, group.key, ref.name)
        doomed = registry.versions(session.catalog, group.key, ref.name)
    broken = derived.breaks(session.catalog, doomed)
    if broken and stmt.restrict:
        raise ValidationError(
            f"feature {ref.name!r} is read by {', '.join(broken)}; drop those first, or drop without "
            "RESTRICT to leave them broken until it is re-created", code="RAISE-V060", name=ref.name,
        )
    for record in doomed:
        session.catalog.delete_edges("lineage", record.key)
        session.catalog.delete("feature", record.key)
    warnings = [f"RAISE-V063: derived feature {key!r} reads {ref.name!r} and is broken until it is "
                "created again" for key in broken]
    return results.ddl("DROP FEATURE", f"{group.key}/{ref.name}", len(doomed), warnings)


def validate_feature(session: "Session", stmt: ast.ValidateFeature) -> pa.Table:
    """The checks CREATE FEATURE would run, as one row; nothing is created."""
    create = stmt.statement
    group = group_of(session, create.feature.group)
    name = create.feature.name
    dtype = str(parse_dtype(create.dtype))
    issues = lambda items: [asdict(i) for i in items]  # noqa: E731
    if create.derived_as is None:
        existing = registry.versions(session.catalog, group.key, name)
        clash = [r for r in existing if create.version in (None, r.version)]
        errors = [derived.Issue("RAISE-A001", f"feature {name!r} already exists", name)] if (
            clash and create.conflict == "error") else []
        row = {"valid": not errors, "inferred_type": dtype, "references": [], "errors": issues(errors),
               "warnings": []}
        return results.rows(results.VALIDATION_SCHEMA, [row])
    report = derived.check(session.catalog, group, name, dtype, create.derived_as, create.validation or "standard")
    row = {
        "valid": report.valid, "inferred_type": report.inferred_type,
        "references": [asdict(r) for r in report.references],
        "errors": issues(report.errors), "warnings": issues(report.warnings),
    }
    return results.rows(results.VALIDATION_SCHEMA, [row])
