"""Namespaces, feature groups and feature versions as catalog objects.

The statement handlers call these; each function does catalog work only (storage side effects
are the handlers' business), inside the caller's transaction.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from grammar.dtypes import parse_dtype
from grammar.errors import AlreadyExists, NotFound
from raise_.engine import names
from raise_.engine.catalog import Catalog
from raise_.engine.records import FeatureVersion, GroupRecord

NAMESPACE_KINDS = names.LEVELS
STATUSES = ("active", "deprecated", "archived")


def _not_found(what: str, name: str, candidates: Iterable[str]) -> NotFound:
    close = difflib.get_close_matches(name, list(candidates), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return NotFound(f"{what} {name!r} does not exist{hint}", name=name)


def has_tags(record: dict[str, Any], tags: Iterable[str] | None) -> bool:
    return not tags or set(tags) <= set(record.get("tags") or ())


# -- namespaces ------------------------------------------------------------------------------

def namespace(catalog: Catalog, path: tuple[str, ...]) -> dict[str, Any]:
    kind = NAMESPACE_KINDS[len(path) - 1]
    record = catalog.get(kind, names.join(*path))
    if record is None:
        parent = names.join(*path[:-1]) if len(path) > 1 else None
        siblings = [r["name"] for r in catalog.list(kind, parent=parent)]
        raise _not_found(kind, names.join(*path), siblings)
    return record


def create_namespace(
    catalog: Catalog, path: tuple[str, ...], *, owner: str | None, if_not_exists: bool = False,
    description: str | None = None, tags: Iterable[str] | None = None, create_parents: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Create org, domain or project at ``path``; returns (record, created)."""
    kind = NAMESPACE_KINDS[len(path) - 1]
    for name in path:
        names.check_name(name, kind)
    key = names.join(*path)
    existing = catalog.get(kind, key)
    if existing is not None:
        if if_not_exists:
            return existing, False
        raise AlreadyExists(f"{kind} {key!r} already exists", name=key)
    if len(path) > 1:
        if create_parents:
            create_namespace(catalog, path[:-1], owner=owner, if_not_exists=True, create_parents=True)
        else:
            namespace(catalog, path[:-1])
    record = {
        "name": path[-1], "path": key, "description": description,
        "tags": list(tags or ()), "owner": owner,
    }
    catalog.put(kind, key, record, parent=names.join(*path[:-1]) if len(path) > 1 else None)
    return catalog.get(kind, key), True


def list_namespaces(catalog: Catalog, kind: str, parent: tuple[str, ...] | None, tags=None) -> list[dict]:
    records = catalog.list(kind, parent=names.join(*parent) if parent else None)
    return [r for r in records if has_tags(r, tags)]


# -- feature groups --------------------------------------------------------------------------

def group_at(catalog: Catalog, key: str) -> GroupRecord | None:
    """The group with catalog key ``key`` (``org/domain/project/name``), if there is one."""
    record = catalog.get("group", key)
    return GroupRecord.from_record(record) if record is not None else None


def all_groups(catalog: Catalog) -> list[GroupRecord]:
    return list(catalog.memo(("groups",), lambda: tuple(GroupRecord.from_record(r) for r in catalog.list("group"))))


def group(catalog: Catalog, project: tuple[str, ...], name: str) -> GroupRecord:
    key = names.join(*project, name)
    record = group_at(catalog, key)
    if record is None:
        namespace(catalog, project)
        siblings = [r["name"] for r in catalog.list("group", parent=names.join(*project))]
        raise _not_found("feature group", name, siblings)
    return record


def list_groups(catalog: Catalog, project: tuple[str, ...], tags=None) -> list[GroupRecord]:
    return [GroupRecord.from_record(r) for r in catalog.list("group", parent=names.join(*project))
            if has_tags(r, tags)]


# -- features --------------------------------------------------------------------------------

def versions(catalog: Catalog, group_key: str, name: str | None = None) -> list[FeatureVersion]:
    """Every version of every feature of a group (or of one feature), oldest first."""
    def read() -> tuple[FeatureVersion, ...]:
        records = [FeatureVersion.from_record(r) for r in catalog.list("feature", parent=group_key)]
        return tuple(sorted(records, key=lambda r: (r.name, names.version_number(r.version))))

    records = catalog.memo(("versions", group_key), read)
    return [r for r in records if name is None or r.name == name]


def latest(records: list[FeatureVersion]) -> FeatureVersion | None:
    """The version a plain name means: newest active, else newest not archived."""
    for wanted in (("active",), ("active", "deprecated")):
        live = [r for r in records if r.status in wanted]
        if live:
            return max(live, key=lambda r: names.version_number(r.version))
    return None


def current_features(catalog: Catalog, group_key: str) -> dict[str, FeatureVersion]:
    """Feature name -> the version its plain name resolves to."""
    by_name: dict[str, list[FeatureVersion]] = {}
    for record in versions(catalog, group_key):
        by_name.setdefault(record.name, []).append(record)
    return {n: rec for n, recs in by_name.items() if (rec := latest(recs)) is not None}


def feature(catalog: Catalog, group_key: str, name: str, version: str | None = None) -> FeatureVersion:
    records = versions(catalog, group_key, name)
    if version is not None:
        names.version_number(version)
        found = next((r for r in records if r.version == version), None)
        if found is None:
            have = [r.version for r in records]
            raise _not_found(f"version of {name!r} (have {', '.join(have) or 'none'})", version, have)
        return found
    found = latest(records)
    if found is None:
        others = {r.name for r in versions(catalog, group_key)}
        error = _not_found("feature", name, others)
        error.message = error.message.replace(" does not exist", f" does not exist in group {group_key!r}", 1)
        error.args = (error.message,)
        raise error
    return found


def next_version(records: list[FeatureVersion]) -> str:
    return f"v{max((names.version_number(r.version) for r in records), default=0) + 1}"


def new_feature_record(group_rec: GroupRecord, stmt_fields: dict[str, Any], column: str | None) -> dict:
    dtype = str(parse_dtype(stmt_fields["dtype"]))
    return {
        "name": stmt_fields["name"],
        "version": stmt_fields["version"],
        "group": group_rec.key,
        "dtype": dtype,
        "derived_as": stmt_fields.get("derived_as"),
        "column": column,
        "description": stmt_fields.get("description"),
        "tags": list(stmt_fields.get("tags") or ()),
        "owner": stmt_fields.get("owner"),
        "nullable": True if stmt_fields.get("nullable") is None else stmt_fields["nullable"],
        "default": stmt_fields.get("default"),
        "validation": stmt_fields.get("validation") or "standard",
        "status": "active",
        "message": None,
        "references": stmt_fields.get("references", []),
    }
