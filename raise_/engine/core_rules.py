"""Authorization rules of the core statements (namespaces, feature groups, features).

Each rule returns ``(needs, events)`` for one statement (see ``security.checks``); the core
family (``raise_.engine.handlers``) declares them beside its handlers. SHOW needs nothing here:
its listing filter shows only what the principal may see.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from grammar import ast
from grammar.dtypes import parse_dtype
from grammar.errors import PermissionDenied
from grammar.expressions import parse_expression
from raise_.engine import derived, registry
from raise_.engine.names import split_version
from raise_.engine.security import grants
from raise_.engine.security.audit import Event
from raise_.engine.security.audit_scope import AccessDenied, deny
from raise_.engine.security.authorize import Need
from raise_.engine.security.checks import creating, exists, feature_path, group_path, kind_path, namespace_path, on_target

if TYPE_CHECKING:
    from raise_.engine.session import Session


def create_namespace(session, ac, s: ast.CreateNamespace):
    path = namespace_path(session, s.path, s.kind)
    return creating(session, path, Event("CREATE", path, {"kind": s.kind}))


def create_group(session, ac, s: ast.CreateFeatureGroup):
    path = group_path(session, s.group)
    return creating(session, path, Event("CREATE", path, {"kind": "feature group"}))


def create_feature(session, ac, s: ast.CreateFeature):
    gpath = group_path(session, s.feature.group)
    if not exists(session, gpath):
        return on_target(session, gpath, "admin"), []
    path = f"{gpath}/{s.feature.name}"
    versions = registry.versions(session.catalog, gpath, s.feature.name)
    latest = registry.latest(versions)
    details = {"dtype": str(parse_dtype(s.dtype)), "derived": s.derived_as is not None}
    if not versions:
        needs, events = [Need("admin", gpath)], [Event("CREATE", path, {**details, "version": s.version or "v1"})]
    elif s.version is not None and s.version not in {v.version for v in versions}:
        needs, events = [Need("admin", path)], [Event("CREATE_VERSION", path, {**details, "version": s.version})]
        if latest is not None and latest.dtype != details["dtype"]:
            events.append(Event("UPDATE_SCHEMA", path, {"from": latest.dtype, "to": details["dtype"]}))
    elif s.conflict == "update":
        needs, events = [Need("admin", path)], [Event("UPDATE_METADATA", path, details)]
        if latest is not None and s.derived_as is not None and s.derived_as != latest.derived_as:
            events.append(Event("UPDATE_DERIVATION", path, {"expression": s.derived_as}))
    else:
        return [Need("see", path)], []
    if s.derived_as is not None:
        needs += _reference_needs(session, gpath, s.derived_as, events)
    return needs, events


def _reference_needs(session: "Session", gpath: str, expression: str, events: list[Event]) -> list[Need]:
    """``read`` on each feature a derived expression references; an ``@org`` reference needs a
    live grant to the group's organization."""
    group = registry.group_at(session.catalog, gpath)
    needs = []
    for path in parse_expression(expression).references:
        if path.external:
            try:
                grants.resolve_external(session.catalog, path, group.project[0])
            except PermissionDenied as error:
                raise deny(session, AccessDenied(error.message, code=error.code, name=path.text,
                                                 events=events)) from None
            continue
        reference = derived.resolve(session.catalog, group, path)
        if reference.exists:
            needs.append(Need("read", split_version(reference.target)[0]))
    return needs


def validate_feature(session, ac, s: ast.ValidateFeature):
    return on_target(session, group_path(session, s.statement.feature.group), "see"), []


def alter_feature(session, ac, s: ast.AlterFeature):
    path = feature_path(session, s.feature)
    detail = {"version": s.feature.version} if s.feature.version else {}
    events = []
    if s.nullable is not None or s.default is not None:
        events.append(Event("UPDATE_SCHEMA", path, {**detail, "nullable": s.nullable, "default": s.default}))
    if any(v is not None for v in (s.description, s.tags, s.owner)) or s.status not in (None, "deprecated"):
        changed = [k for k in ("description", "tags", "owner", "status") if getattr(s, k) is not None]
        events.append(Event("UPDATE_METADATA", path, {**detail, "changed": changed}))
    if s.status == "deprecated":
        events.append(Event("DEPRECATE", path, detail))
    return on_target(session, path, "admin"), events


def deprecate_feature(session, ac, s: ast.DeprecateFeature):
    path = feature_path(session, s.feature)
    detail = {"version": s.feature.version} if s.feature.version else {}
    return on_target(session, path, "admin"), [Event("DEPRECATE", path, detail)]


def drop(session, ac, s: ast.Drop):
    path = kind_path(session, s.kind, s.target)
    if not exists(session, path):
        return ([] if s.if_exists else on_target(session, path, "admin")), []
    detail = {"version": s.target.version} if s.kind == "feature" and s.target.version else {}
    events = [Event("DELETE", path, {**detail, "kind": s.kind, "cascade": s.cascade})]
    if not s.restrict:  # a restricted DROP breaks nothing: it fails instead
        events += [Event("LINEAGE_BREAK", target, {"upstream": path}) for target in _broken(session, s, path)]
    return [Need("admin", path)], events


def _broken(session: "Session", s: ast.Drop, path: str) -> list[str]:
    """Derived features outside what is dropped whose lineage the drop breaks, one path each."""
    catalog = session.catalog
    if s.kind == "feature":
        group_key, _, name = path.rpartition("/")
        doomed = [r for r in registry.versions(catalog, group_key, name) if s.target.version in (None, r.version)]
    elif s.kind == "feature group":
        doomed = registry.versions(catalog, path)
    else:
        return []
    readers = derived.breaks(catalog, doomed)
    return sorted({split_version(src)[0] for src in readers if not src.startswith(path + "/")})


def describe(session, ac, s: ast.Describe):
    path = kind_path(session, s.kind, s.target)
    return on_target(session, path, "see"), []

