"""What each Raise statement needs, and the audit events it performs.

DDL and ACL changes need ``admin`` on what they change; creating needs ``admin`` on the nearest
existing parent (a new organization needs nothing: its creator administers it). Statements
that read metadata (DESCRIBE, VALIDATE, SHOW ACL) need the object to be visible. A target that
does not exist is checked (same permission) against its nearest existing parent, so someone
who may not act in a place gets PERMISSION_DENIED there rather than learning what is missing. SHOW listings are
filtered instead (``authorize.filter_result`` and the security handlers).

``RULES`` maps each statement class to a function returning ``(needs, events)``; classes
without a rule (plain SQL is authorized on its plan) need nothing here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from grammar import ast, models
from grammar import security as sec
from grammar.dtypes import parse_dtype
from grammar.errors import PermissionDenied
from grammar.expressions import parse_expression
from raise_.engine import derived, names, registry
from raise_.engine.scope import project_of
from raise_.engine.security import grants, principals
from raise_.engine.security.acl import CREATOR_KIND, AccessControl, forget, parents, record_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import Need, check, control
from raise_.engine.security.scope import AccessDenied, allow, current, deny

if TYPE_CHECKING:
    from raise_.engine.session import Session

Rule = Callable[["Session", AccessControl, Any], tuple[list[Need], list[Event]]]
RULES: dict[type, Rule] = {}


def rule(cls: type) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[cls] = fn
        return fn
    return register


def authorize_statement(session: "Session", statement: Any) -> None:
    """Refuse ``statement`` (a parsed Raise statement) unless the principal may run it;
    otherwise add its audit events to the statement's scope and ``settle`` it. Call it inside
    the statement's catalog transaction, just before its handler."""
    found = RULES.get(type(statement))
    if found is None:
        return
    ac = control(session)
    needs, events = found(session, ac, statement)
    allow(session, check(session, ac, needs, events))
    settle(session, events)
    scope = current()
    if scope is not None:
        scope.authorized.add(id(statement))


def settle(session: "Session", events: list[Event]) -> None:
    """Security bookkeeping of an authorized statement, in its catalog transaction (so a failing
    statement takes it back): the creator administers what it creates; the ACLs, grants and
    creator records of what is deleted go with it, so that an object re-created under the same
    name starts afresh."""
    catalog = session.catalog
    for event in events:
        if event.action == "CREATE" and session.principal is not None:
            catalog.put(CREATOR_KIND, event.resource, {"principal": session.principal})
        elif event.action == "DELETE" and not _keeps_versions(session, event):
            forget(catalog, event.resource)


def _keeps_versions(session: "Session", event: Event) -> bool:
    """A DROP of one version of a feature that has others leaves the feature (and its ACL)."""
    version = event.details.get("version")
    if event.details.get("kind") != "feature" or version is None:
        return False
    group_key, _, name = event.resource.rpartition("/")
    return any(r["version"] != version for r in registry.versions(session.catalog, group_key, name))


# -- paths -------------------------------------------------------------------------------------


def namespace_path(session: "Session", path: tuple[str, ...], kind: str) -> str:
    return names.join(*names.complete_path(tuple(path), session.project, names.LEVELS.index(kind) + 1))


def group_path(session: "Session", ref: ast.GroupRef) -> str:
    return names.join(*project_of(session, ref.project), ref.name)


def feature_path(session: "Session", ref: ast.FeatureRef) -> str:
    return f"{group_path(session, ref.group)}/{ref.name}"


def target_path(session: "Session", target: sec.Target) -> str:
    return kind_path(session, target.kind, target.path)


def kind_path(session: "Session", kind: str, target: Any) -> str:
    """The catalog path of a namespace, group or feature target of the given kind."""
    if kind == "feature group":
        return group_path(session, target)
    if kind == "feature":
        return feature_path(session, target)
    return namespace_path(session, target, kind)


def _exists(session: "Session", path: str) -> bool:
    return record_of(session.catalog, path) is not None


def _nearest(session: "Session", path: str) -> str | None:
    return next((p for p in reversed(parents(path)) if _exists(session, p)), None)


def on_target(session: "Session", path: str, permission: str) -> list[Need]:
    """``permission`` on ``path``; for a missing path, the same on its nearest existing parent
    (only who could act there learns that it is missing)."""
    if _exists(session, path):
        return [Need(permission, path)]
    anchor = _nearest(session, path)
    return [Need(permission, anchor)] if anchor else []


def creating(session: "Session", path: str, event: Event) -> tuple[list[Need], list[Event]]:
    """Creating ``path``: admin on the nearest existing parent (nothing for a new organization)."""
    if _exists(session, path):
        return [Need("see", path)], []
    anchor = _nearest(session, path)
    return ([Need("admin", anchor)] if anchor else []), [event]


# -- core statements ---------------------------------------------------------------------------


@rule(ast.CreateNamespace)
def _create_namespace(session, ac, s: ast.CreateNamespace):
    path = namespace_path(session, s.path, s.kind)
    return creating(session, path, Event("CREATE", path, {"kind": s.kind}))


@rule(ast.CreateFeatureGroup)
def _create_group(session, ac, s: ast.CreateFeatureGroup):
    path = group_path(session, s.group)
    return creating(session, path, Event("CREATE", path, {"kind": "feature group"}))


@rule(ast.CreateFeature)
def _create_feature(session, ac, s: ast.CreateFeature):
    gpath = group_path(session, s.feature.group)
    if not _exists(session, gpath):
        return on_target(session, gpath, "admin"), []
    path = f"{gpath}/{s.feature.name}"
    versions = registry.versions(session.catalog, gpath, s.feature.name)
    latest = registry.latest(versions)
    details = {"dtype": str(parse_dtype(s.dtype)), "derived": s.derived_as is not None}
    if not versions:
        needs, events = [Need("admin", gpath)], [Event("CREATE", path, {**details, "version": s.version or "v1"})]
    elif s.version is not None and s.version not in {v["version"] for v in versions}:
        needs, events = [Need("admin", path)], [Event("CREATE_VERSION", path, {**details, "version": s.version})]
        if latest is not None and latest["dtype"] != details["dtype"]:
            events.append(Event("UPDATE_SCHEMA", path, {"from": latest["dtype"], "to": details["dtype"]}))
    elif s.conflict == "update":
        needs, events = [Need("admin", path)], [Event("UPDATE_METADATA", path, details)]
        if latest is not None and s.derived_as is not None and s.derived_as != latest.get("derived_as"):
            events.append(Event("UPDATE_DERIVATION", path, {"expression": s.derived_as}))
    else:
        return [Need("see", path)], []
    if s.derived_as is not None:
        needs += _reference_needs(session, gpath, s.derived_as, events)
    return needs, events


def _reference_needs(session: "Session", gpath: str, expression: str, events: list[Event]) -> list[Need]:
    """``read`` on each feature a derived expression references; an ``@org`` reference needs a
    live grant to the group's organization."""
    group = session.catalog.get("group", gpath)
    needs = []
    for path in parse_expression(expression).references:
        if path.external:
            try:
                grants.resolve_external(session.catalog, path, group["project"][0])
            except PermissionDenied as error:
                raise deny(session, AccessDenied(error.message, code=error.code, name=path.text,
                                                 events=events)) from None
            continue
        reference = derived.resolve(session.catalog, group, path)
        if reference.exists:
            needs.append(Need("read", reference.target.partition("@")[0]))
    return needs


@rule(ast.ValidateFeature)
def _validate(session, ac, s: ast.ValidateFeature):
    return on_target(session, group_path(session, s.statement.feature.group), "see"), []


@rule(ast.AlterFeature)
def _alter_feature(session, ac, s: ast.AlterFeature):
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


@rule(ast.DeprecateFeature)
def _deprecate(session, ac, s: ast.DeprecateFeature):
    path = feature_path(session, s.feature)
    detail = {"version": s.feature.version} if s.feature.version else {}
    return on_target(session, path, "admin"), [Event("DEPRECATE", path, detail)]


@rule(ast.Drop)
def _drop(session, ac, s: ast.Drop):
    path = kind_path(session, s.kind, s.target)
    if not _exists(session, path):
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
        doomed = [r for r in registry.versions(catalog, group_key, name) if s.target.version in (None, r["version"])]
    elif s.kind == "feature group":
        doomed = registry.versions(catalog, path)
    else:
        return []
    readers = derived.breaks(catalog, doomed)
    return sorted({src.rpartition("@")[0] for src in readers if not src.startswith(path + "/")})


@rule(ast.Describe)
def _describe(session, ac, s: ast.Describe):
    path = kind_path(session, s.kind, s.target)
    return on_target(session, path, "see"), []


# -- security statements -----------------------------------------------------------------------


@rule(sec.SetAcl)
def _set_acl(session, ac, s: sec.SetAcl):
    path = target_path(session, s.target)
    details = {"readers": list(s.readers), "writers": list(s.writers), "admins": list(s.admins),
               "inherit": s.inherit}
    return on_target(session, path, "admin"), [Event("UPDATE_ACL", path, details)]


@rule(sec.ShowAcl)
def _show_acl(session, ac, s: sec.ShowAcl):
    return on_target(session, target_path(session, s.target), "see"), []


def _org_admin(org: str | None) -> list[Need]:
    """Admin on ``org``; an organization that does not exist is administered by root only."""
    return [Need("admin", org or "")]


@rule(sec.CreatePrincipalGroup)
def _create_pgroup(session, ac, s: sec.CreatePrincipalGroup):
    principals.check_group_name(s.name)
    org = principals.email_organization(s.name)
    return _org_admin(org), [Event("UPDATE_ACL", s.name, {"members": list(s.members)}, chain=org)]


def _pgroup_needs(session: "Session", ac: AccessControl, name: str) -> list[Need]:
    record = principals.group(session.catalog, name)
    if record is not None and record.get("owner") in ac.identities:
        return []
    return _org_admin(principals.email_organization(name))


@rule(sec.AlterPrincipalGroup)
def _alter_pgroup(session, ac, s: sec.AlterPrincipalGroup):
    org = principals.email_organization(s.name)
    event = Event("UPDATE_ACL", s.name, {s.change: list(s.members)}, chain=org or "")
    return _pgroup_needs(session, ac, s.name), [event]


@rule(sec.DropPrincipalGroup)
def _drop_pgroup(session, ac, s: sec.DropPrincipalGroup):
    org = principals.email_organization(s.name)
    return _pgroup_needs(session, ac, s.name), [Event("UPDATE_ACL", s.name, {"dropped": True}, chain=org or "")]


@rule(sec.AlterPrincipal)
def _alter_principal(session, ac, s: sec.AlterPrincipal):
    event = Event("UPDATE_ACL", s.principal, {"organization": s.organization}, chain=s.organization)
    return _org_admin(s.organization), [event]


@rule(sec.GrantAccess)
def _grant(session, ac, s: sec.GrantAccess):
    path = group_path(session, s.group)
    details = {"organization": s.organization, "features": list(s.features), "permission": s.permission,
               "expires": s.expires}
    return on_target(session, path, "admin"), [Event("GRANT_EXTERNAL", path, details)]


@rule(sec.RevokeAccess)
def _revoke(session, ac, s: sec.RevokeAccess):
    path = group_path(session, s.group)
    events = [Event("REVOKE_EXTERNAL", path, {"organization": s.organization, "permission": s.permission})]
    for record in registry.versions(session.catalog, path) if _exists(session, path) else ():
        for target in (f"@{path}/{record['name']}", f"@{path}/{record['name']}@{record['version']}"):
            for src, _ in session.catalog.edges_to("lineage", target):
                if src.split("/", 1)[0] == s.organization:
                    events.append(Event("LINEAGE_BREAK", src.rpartition("@")[0], {"upstream": target}))
    return on_target(session, path, "admin"), events


@rule(sec.SetAuditConfig)
def _set_audit_config(session, ac, s: sec.SetAuditConfig):
    org = s.organization or (session.project[0] if session.project else None)
    if org is None:
        return [], []  # the handler asks for an organization
    details = {"retention_days": s.retention_days, "immutable": s.immutable,
               "export_destination": s.export_destination}
    return _org_admin(org), [Event("UPDATE_METADATA", org, {"audit_config": details}, chain=org)]


@rule(sec.ShowAuditConfig)
def _show_audit_config(session, ac, s: sec.ShowAuditConfig):
    return (_org_admin(s.organization) if s.organization else []), []


@rule(sec.VerifyAudit)
def _verify_audit(session, ac, s: sec.VerifyAudit):
    return (_org_admin(s.organization) if s.organization else []), []


# -- models (grammar.models): registered per project, administered with it ----------------------


def _model_path(session: "Session", ref: models.ModelRef) -> tuple[str, str]:
    """(project path, audit resource) of a model; ``model:`` keeps it apart from group paths."""
    project = names.join(*project_of(session, ref.project))
    return project, f"{project}/model:{ref.name}"


@rule(models.CreateModel)
def _create_model(session, ac, s: models.CreateModel):
    _, resource = _model_path(session, s.model)
    return creating(session, resource, Event("CREATE", resource, {"kind": "model", "framework": s.framework}))


@rule(models.DropModel)
def _drop_model(session, ac, s: models.DropModel):
    project, resource = _model_path(session, s.model)
    return on_target(session, project, "admin"), [Event("DELETE", resource, {"kind": "model"})]


@rule(models.DescribeModel)
def _describe_model(session, ac, s: models.DescribeModel):
    return on_target(session, _model_path(session, s.model)[0], "see"), []
