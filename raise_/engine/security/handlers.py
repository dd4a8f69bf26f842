"""Handlers for the security statements, registered in ``SECURITY_HANDLERS``.

Same signature as ``raise_.engine.handlers``: ``handler(session, statement) -> pyarrow.Table``,
run inside the statement's catalog transaction. Each handler makes sure its statement was
authorized (``statements.authorize_statement``) before it acts, and listings show only what
the principal may see. ``SECURITY_SCHEMAS`` gives each statement's result schema (for
preparing a statement without running it).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

from grammar import security as sec
from grammar.errors import AlreadyExists, NotFound, PermissionDenied, ValidationError
from raise_.engine import results
from raise_.engine.scope import group_of
from raise_.engine.security import acl, grants, outbox, principals
from raise_.engine.security.authorize import control
from raise_.engine.security.scope import apply_retention, current, log_of
from raise_.engine.security.statements import authorize_statement, target_path

if TYPE_CHECKING:
    from raise_.engine.session import Session

_LIST = pa.list_(pa.string())
ACL_SCHEMA = pa.schema([
    ("level", pa.string()), ("path", pa.string()), ("readers", _LIST), ("writers", _LIST), ("admins", _LIST),
    ("inherit", pa.bool_()), ("owners", _LIST), ("explicit", pa.bool_()),
])
PRINCIPAL_GROUP_SCHEMA = pa.schema([
    ("name", pa.string()), ("organization", pa.string()), ("members", _LIST), ("description", pa.string()),
    ("owner", pa.string()), ("created_at", pa.string()),
])
GRANT_SCHEMA = pa.schema([
    ("group", pa.string()), ("organization", pa.string()), ("features", _LIST), ("permission", pa.string()),
    ("expires", pa.string()), ("status", pa.string()), ("granted_by", pa.string()), ("granted_at", pa.string()),
    ("revoked_by", pa.string()), ("revoked_at", pa.string()),
])
AUDIT_CONFIG_SCHEMA = pa.schema([
    ("organization", pa.string()), ("retention_days", pa.int64()), ("immutable", pa.bool_()),
    ("export_destination", pa.string()),
])
ALERT_SCHEMA = pa.schema([
    ("name", pa.string()), ("owner", pa.string()), ("filter", pa.string()), ("notify", _LIST),
    ("channels", _LIST), ("created_at", pa.string()),
])
VERIFY_SCHEMA = pa.schema([
    ("chain", pa.string()), ("entries", pa.int64()), ("valid", pa.bool_()), ("problems", _LIST),
])

Handler = Callable[["Session", Any], pa.Table]
SECURITY_HANDLERS: dict[type, Handler] = {}
SECURITY_SCHEMAS: dict[type, pa.Schema] = {}


def handles(cls: type, schema: pa.Schema = results.DDL_SCHEMA) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        def guarded(session: "Session", statement: Any) -> pa.Table:
            scope = current()
            if scope is None or id(statement) not in scope.authorized:
                authorize_statement(session, statement)
            return fn(session, statement)
        guarded.__doc__, guarded.__name__ = fn.__doc__, fn.__name__
        SECURITY_HANDLERS[cls] = guarded
        SECURITY_SCHEMAS[cls] = schema
        return fn
    return register


def _actor(session: "Session") -> str:
    return principals.actor(session.principal)


def _existing(session: "Session", target: sec.Target) -> str:
    path = target_path(session, target)
    if acl.record_of(session.catalog, path) is None:
        raise NotFound(f"{target.kind} {path!r} does not exist", name=path)
    return path


# -- ACLs --------------------------------------------------------------------------------------


@handles(sec.SetAcl)
def set_acl(session: "Session", s: sec.SetAcl) -> pa.Table:
    """Replace the ACL stored at one level."""
    if s.target.kind == "feature" and s.target.path.version:
        raise ValidationError("an ACL covers every version of a feature: name the feature without @version",
                              code="RAISE-V077", name=s.target.path.version)
    path = _existing(session, s.target)
    acl.save(session.catalog, path, acl.StoredAcl(s.readers, s.writers, s.admins, s.inherit, _actor(session)))
    return results.ddl("SET ACL", path, 1)


@handles(sec.ShowAcl, ACL_SCHEMA)
def show_acl(session: "Session", s: sec.ShowAcl) -> pa.Table:
    """The stored ACL, the effective ACL, or the chain from the organization down."""
    path = _existing(session, s.target)
    ac = control(session)
    links = ac.chain(path)
    if s.mode == "chain":
        rows = [_link_row(link) for link in links]
    elif s.mode == "stored":
        rows = [_link_row(links[-1])]
    else:
        effective = ac.effective(path)
        rows = [{**_link_row(links[-1]), "readers": sorted(effective.readers), "writers": sorted(effective.writers),
                 "admins": sorted(effective.admins)}]
    return results.rows(ACL_SCHEMA, rows)


def _link_row(link: acl.Link) -> dict[str, Any]:
    stored = link.acl or acl.StoredAcl()
    return {"level": link.level, "path": link.path, "readers": list(stored.readers),
            "writers": list(stored.writers), "admins": list(stored.admins), "inherit": stored.inherit,
            "owners": list(link.owners), "explicit": link.acl is not None}


# -- principals --------------------------------------------------------------------------------


@handles(sec.CreatePrincipalGroup)
def create_principal_group(session: "Session", s: sec.CreatePrincipalGroup) -> pa.Table:
    """Create a principal group owned by its creator."""
    principals.check_group_name(s.name)
    if principals.group(session.catalog, s.name) is not None:
        if s.if_not_exists:
            return results.ddl("CREATE PRINCIPAL GROUP", s.name, 0)
        raise AlreadyExists(f"principal group {s.name!r} already exists", name=s.name)
    principals.save_group(session.catalog, s.name, s.members, s.description, _actor(session))
    return results.ddl("CREATE PRINCIPAL GROUP", s.name, 1)


def _pgroup(session: "Session", name: str) -> dict[str, Any]:
    record = principals.group(session.catalog, name)
    if record is None:
        raise NotFound(f"principal group {name!r} does not exist", name=name)
    return record


@handles(sec.AlterPrincipalGroup)
def alter_principal_group(session: "Session", s: sec.AlterPrincipalGroup) -> pa.Table:
    """Add or remove members; rows_affected counts the members that changed."""
    record = _pgroup(session, s.name)
    members = list(record.get("members") or ())
    if s.change == "add":
        changed = [m for m in dict.fromkeys(s.members) if m not in members]
        members += changed
    else:
        changed = [m for m in members if m in s.members]
        members = [m for m in members if m not in s.members]
    principals.save_group(session.catalog, s.name, members, record.get("description"), record.get("owner"))
    return results.ddl("ALTER PRINCIPAL GROUP", s.name, len(changed))


@handles(sec.DropPrincipalGroup)
def drop_principal_group(session: "Session", s: sec.DropPrincipalGroup) -> pa.Table:
    if principals.group(session.catalog, s.name) is None:
        if s.if_exists:
            return results.ddl("DROP PRINCIPAL GROUP", s.name, 0)
        _pgroup(session, s.name)
    principals.drop_group(session.catalog, s.name)
    return results.ddl("DROP PRINCIPAL GROUP", s.name, 1)


@handles(sec.ShowPrincipalGroups, PRINCIPAL_GROUP_SCHEMA)
def show_principal_groups(session: "Session", s: sec.ShowPrincipalGroups) -> pa.Table:
    """The groups the principal belongs to, owns, or whose organization it administers."""
    ac = control(session)
    rows = [r for r in principals.groups(session.catalog)
            if ac.superuser or r["key"] in ac.identities or r.get("owner") in ac.identities
            or (r.get("organization") and ac.allows("admin", r["organization"]))]
    return results.rows(PRINCIPAL_GROUP_SCHEMA, rows)


@handles(sec.AlterPrincipal)
def alter_principal(session: "Session", s: sec.AlterPrincipal) -> pa.Table:
    """Set the organization a principal belongs to (the organization must exist)."""
    if session.catalog.get("organization", s.organization) is None:
        raise NotFound(f"organization {s.organization!r} does not exist", name=s.organization)
    principals.set_organization(session.catalog, s.principal, s.organization, _actor(session))
    return results.ddl("ALTER PRINCIPAL", s.principal, 1)


# -- external grants ---------------------------------------------------------------------------


@handles(sec.GrantAccess)
def grant(session: "Session", s: sec.GrantAccess) -> pa.Table:
    group = group_of(session, s.group)
    grants.grant(session.catalog, group, s.organization, s.features, s.permission, s.expires, _actor(session))
    return results.ddl("GRANT", group["key"], 1)


@handles(sec.RevokeAccess)
def revoke(session: "Session", s: sec.RevokeAccess) -> pa.Table:
    """Revoke live grants; rows_affected counts them (0 when there was none)."""
    group = group_of(session, s.group)
    revoked = grants.revoke(session.catalog, group["key"], s.organization, s.permission, _actor(session))
    return results.ddl("REVOKE", group["key"], len(revoked))


@handles(sec.ShowGrants, GRANT_SCHEMA)
def show_grants(session: "Session", s: sec.ShowGrants) -> pa.Table:
    """Grants on groups the principal administers, and grants its organization received."""
    ac = control(session)
    records = grants.of_group(session.catalog, group_of(session, s.group)["key"]) if s.group else \
        grants.every(session.catalog)
    rows = []
    for record in records:
        if s.organization is not None and record["organization"] != s.organization:
            continue
        if ac.allows("admin", record["group"]) or (ac.organization and record["organization"] == ac.organization):
            rows.append({**record, "status": grants.status(record)})
    return results.rows(GRANT_SCHEMA, rows)


# -- audit -------------------------------------------------------------------------------------


@handles(sec.ShowAudit, outbox.ENTRY_SCHEMA)
def show_audit(session: "Session", s: sec.ShowAudit) -> pa.Table:
    """Audit entries the principal may see, in id order (``AFTER id`` pages through)."""
    ac = control(session)
    entries = log_of(session).entries(s.filter, after=s.after, limit=s.limit, visible=ac.sees_entry)
    return outbox.to_arrow(entries)


def _org(session: "Session", given: str | None) -> str:
    org = given or (session.project[0] if session.project else None)
    if org is None:
        raise ValidationError("name the organization (ON ORGANIZATION o) or USE a project", code="RAISE-V085")
    if session.catalog.get("organization", org) is None:
        raise NotFound(f"organization {org!r} does not exist", name=org)
    return org


@handles(sec.SetAuditConfig)
def set_audit_config(session: "Session", s: sec.SetAuditConfig) -> pa.Table:
    """Change an organization's retention, immutability or archive destination; retention
    applies at once."""
    org = _org(session, s.organization)
    log = log_of(session)
    log.set_config(org, retention_days=s.retention_days, immutable=s.immutable,
                   export_destination=s.export_destination, by=_actor(session))
    apply_retention(log, org, force=True)
    return results.ddl("SET AUDIT CONFIG", org, 1)


@handles(sec.ShowAuditConfig, AUDIT_CONFIG_SCHEMA)
def show_audit_config(session: "Session", s: sec.ShowAuditConfig) -> pa.Table:
    ac = control(session)
    log = log_of(session)
    if s.organization is not None:
        orgs = [_org(session, s.organization)]
    else:
        orgs = [r["key"] for r in session.catalog.list("organization") if ac.allows("admin", r["key"])]
    configs = [log.config(org) for org in orgs]
    return results.rows(AUDIT_CONFIG_SCHEMA, [asdict(c) for c in configs])


@handles(sec.CreateAuditAlert)
def create_audit_alert(session: "Session", s: sec.CreateAuditAlert) -> pa.Table:
    """An alert owned by its creator; it fires only for entries its owner may see."""
    for address in s.notify:
        principals.check_principal(address, "alert recipient")
    log_of(session).save_alert(s.name, _actor(session), s.filter, s.notify, s.channels)
    return results.ddl("CREATE AUDIT ALERT", s.name, 1)


@handles(sec.DropAuditAlert)
def drop_audit_alert(session: "Session", s: sec.DropAuditAlert) -> pa.Table:
    log = log_of(session)
    alert = next((a for a in log.alerts() if a["name"] == s.name), None)
    if alert is None:
        if s.if_exists:
            return results.ddl("DROP AUDIT ALERT", s.name, 0)
        raise NotFound(f"audit alert {s.name!r} does not exist", name=s.name)
    if not principals.is_superuser(session.principal) and alert["owner"] != _actor(session):
        raise PermissionDenied(f"audit alert {s.name!r} belongs to {alert['owner']}", name=s.name)
    log.drop_alert(s.name)
    return results.ddl("DROP AUDIT ALERT", s.name, 1)


@handles(sec.ShowAuditAlerts, ALERT_SCHEMA)
def show_audit_alerts(session: "Session", s: sec.ShowAuditAlerts) -> pa.Table:
    """The principal's own alerts (root: all); ``filter`` is the clause text of SHOW AUDIT."""
    superuser = principals.is_superuser(session.principal)
    rows = [{**a, "filter": _filter_text(a["filter"])} for a in log_of(session).alerts()
            if superuser or a["owner"] == _actor(session)]
    return results.rows(ALERT_SCHEMA, rows)


def _filter_text(chosen: sec.AuditFilter) -> str:
    return sec.render_security_statement(sec.ShowAudit(filter=chosen)).removeprefix("SHOW AUDIT").strip()


@handles(sec.ExportAudit)
def export_audit(session: "Session", s: sec.ExportAudit) -> pa.Table:
    """Write the entries the principal may see to a file; ``object`` names the file written."""
    ac = control(session)
    entries = log_of(session).entries(s.filter, visible=ac.sees_entry)
    written = outbox.export(entries, s.destination, s.format)
    return results.ddl("EXPORT AUDIT", written, len(entries))


@handles(sec.VerifyAudit, VERIFY_SCHEMA)
def verify_audit(session: "Session", s: sec.VerifyAudit) -> pa.Table:
    """Check the hash chains the principal administers (root: all)."""
    ac = control(session)
    reports = log_of(session).verify(s.organization)
    if s.organization is None and not ac.superuser:
        reports = [r for r in reports if r.chain and ac.allows("admin", r.chain)]
    return results.rows(VERIFY_SCHEMA, [{**asdict(r), "problems": list(r.problems)} for r in reports])
