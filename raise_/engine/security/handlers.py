"""The security statement family (``FAMILY``): ACLs, principal groups, grants and the audit log.

Same signature as ``raise_.engine.handlers``: ``handler(session, statement) -> pyarrow.Table``,
run inside the statement's catalog transaction after its rule (``security.rules``) allowed it.
Listings show only what the principal may see: principal groups, grants and alerts through
their listing filters here, audit entries and configurations as the handler reads them.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import security as sec
from grammar.errors import AlreadyExists, NotFound, PermissionDenied, ValidationError
from raise_.engine import results
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule, filtered_by_handler
from raise_.engine.resolve import group_of
from raise_.engine.security import acl, grants, outbox, principals, rules
from raise_.engine.security.authorize import control
from raise_.engine.security.audit_scope import apply_retention, log_of
from raise_.engine.security.checks import needs_nothing, target_path

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

def _actor(session: "Session") -> str:
    return principals.actor(session.principal)


def _existing(session: "Session", target: sec.Target) -> str:
    path = target_path(session, target)
    if acl.record_of(session.catalog, path) is None:
        raise NotFound(f"{target.kind} {path!r} does not exist", name=path)
    return path


# -- ACLs --------------------------------------------------------------------------------------


def set_acl(session: "Session", s: sec.SetAcl) -> pa.Table:
    """Replace the ACL stored at one level."""
    if s.target.kind == "feature" and s.target.path.version:
        raise ValidationError("an ACL covers every version of a feature: name the feature without @version",
                              code="RAISE-V077", name=s.target.path.version)
    path = _existing(session, s.target)
    acl.save(session.catalog, path, acl.StoredAcl(s.readers, s.writers, s.admins, s.inherit, _actor(session)))
    return results.ddl("SET ACL", path, 1)


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


def drop_principal_group(session: "Session", s: sec.DropPrincipalGroup) -> pa.Table:
    if principals.group(session.catalog, s.name) is None:
        if s.if_exists:
            return results.ddl("DROP PRINCIPAL GROUP", s.name, 0)
        _pgroup(session, s.name)
    principals.drop_group(session.catalog, s.name)
    return results.ddl("DROP PRINCIPAL GROUP", s.name, 1)


def show_principal_groups(session: "Session", s: sec.ShowPrincipalGroups) -> pa.Table:
    return results.rows(PRINCIPAL_GROUP_SCHEMA, principals.groups(session.catalog))


def visible_principal_groups(session: "Session", s: sec.ShowPrincipalGroups, table: pa.Table) -> pa.Table:
    """The groups the principal belongs to, owns, or whose organization it administers."""
    ac = control(session)
    keep = [ac.superuser or r["name"] in ac.identities or r["owner"] in ac.identities
            or bool(r["organization"] and ac.allows("admin", r["organization"])) for r in table.to_pylist()]
    return table.filter(pa.array(keep, pa.bool_()))


def alter_principal(session: "Session", s: sec.AlterPrincipal) -> pa.Table:
    """Set the organization a principal belongs to (the organization must exist)."""
    if session.catalog.get("organization", s.organization) is None:
        raise NotFound(f"organization {s.organization!r} does not exist", name=s.organization)
    principals.set_organization(session.catalog, s.principal, s.organization, _actor(session))
    return results.ddl("ALTER PRINCIPAL", s.principal, 1)


# -- external grants ---------------------------------------------------------------------------


def grant(session: "Session", s: sec.GrantAccess) -> pa.Table:
    group = group_of(session, s.group)
    grants.grant(session.catalog, group, s.organization, s.features, s.permission, s.expires, _actor(session))
    return results.ddl("GRANT", group.key, 1)


def revoke(session: "Session", s: sec.RevokeAccess) -> pa.Table:
    """Revoke live grants; rows_affected counts them (0 when there was none)."""
    group = group_of(session, s.group)
    revoked = grants.revoke(session.catalog, group.key, s.organization, s.permission, _actor(session))
    return results.ddl("REVOKE", group.key, len(revoked))


def show_grants(session: "Session", s: sec.ShowGrants) -> pa.Table:
    records = grants.of_group(session.catalog, group_of(session, s.group)["key"]) if s.group else \
        grants.every(session.catalog)
    rows = [{**r, "status": grants.status(r)} for r in records
            if s.organization is None or r["organization"] == s.organization]
    return results.rows(GRANT_SCHEMA, rows)


def visible_grants(session: "Session", s: sec.ShowGrants, table: pa.Table) -> pa.Table:
    """Grants on groups the principal administers, and grants its organization received."""
    ac = control(session)
    keep = [ac.allows("admin", r["group"]) or bool(ac.organization and r["organization"] == ac.organization)
            for r in table.select(["group", "organization"]).to_pylist()]
    return table.filter(pa.array(keep, pa.bool_()))


# -- audit -------------------------------------------------------------------------------------


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


def set_audit_config(session: "Session", s: sec.SetAuditConfig) -> pa.Table:
    """Change an organization's retention, immutability or archive destination; retention
    applies at once."""
    org = _org(session, s.organization)
    log = log_of(session)
    log.set_config(org, retention_days=s.retention_days, immutable=s.immutable,
                   export_destination=s.export_destination, by=_actor(session))
    apply_retention(log, org, force=True)
    return results.ddl("SET AUDIT CONFIG", org, 1)


def show_audit_config(session: "Session", s: sec.ShowAuditConfig) -> pa.Table:
    ac = control(session)
    log = log_of(session)
    if s.organization is not None:
        orgs = [_org(session, s.organization)]
    else:
        orgs = [r["key"] for r in session.catalog.list("organization") if ac.allows("admin", r["key"])]
    configs = [log.config(org) for org in orgs]
    return results.rows(AUDIT_CONFIG_SCHEMA, [asdict(c) for c in configs])


def create_audit_alert(session: "Session", s: sec.CreateAuditAlert) -> pa.Table:
    """An alert owned by its creator; it fires only for entries its owner may see."""
    for address in s.notify:
        principals.check_principal(address, "alert recipient")
    log_of(session).save_alert(s.name, _actor(session), s.filter, s.notify, s.channels)
    return results.ddl("CREATE AUDIT ALERT", s.name, 1)


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


def show_audit_alerts(session: "Session", s: sec.ShowAuditAlerts) -> pa.Table:
    """Audit alerts; ``filter`` is the clause text of SHOW AUDIT."""
    rows = [{**a, "filter": _filter_text(a["filter"])} for a in log_of(session).alerts()]
    return results.rows(ALERT_SCHEMA, rows)


def own_alerts(session: "Session", s: sec.ShowAuditAlerts, table: pa.Table) -> pa.Table:
    """The principal's own alerts (root: all)."""
    if principals.is_superuser(session.principal):
        return table
    actor = _actor(session)
    return table.filter(pa.array([o == actor for o in table.column("owner").to_pylist()], pa.bool_()))


def _filter_text(chosen: sec.AuditFilter) -> str:
    return sec.render_security_statement(sec.ShowAudit(filter=chosen)).removeprefix("SHOW AUDIT").strip()


def export_audit(session: "Session", s: sec.ExportAudit) -> pa.Table:
    """Write the entries the principal may see to a file; ``object`` names the file written."""
    ac = control(session)
    entries = log_of(session).entries(s.filter, visible=ac.sees_entry)
    written = outbox.export(entries, s.destination, s.format)
    return results.ddl("EXPORT AUDIT", written, len(entries))


def verify_audit(session: "Session", s: sec.VerifyAudit) -> pa.Table:
    """Check the hash chains the principal administers (root: all)."""
    ac = control(session)
    reports = log_of(session).verify(s.organization)
    if s.organization is None and not ac.superuser:
        reports = [r for r in reports if r.chain and ac.allows("admin", r.chain)]
    return results.rows(VERIFY_SCHEMA, [{**asdict(r), "problems": list(r.problems)} for r in reports])


def _ddl(handler, rule) -> Statement:
    return Statement(handler=handler, rule=rule, schema=results.DDL_SCHEMA, listing=acknowledged)


FAMILY = Family(
    name="security",
    statements={
        sec.SetAcl: _ddl(set_acl, rules.set_acl),
        sec.ShowAcl: Statement(handler=show_acl, rule=rules.show_acl, schema=ACL_SCHEMA, listing=checked_by_rule),
        sec.CreatePrincipalGroup: _ddl(create_principal_group, rules.create_principal_group),
        sec.AlterPrincipalGroup: _ddl(alter_principal_group, rules.alter_principal_group),
        sec.DropPrincipalGroup: _ddl(drop_principal_group, rules.drop_principal_group),
        sec.ShowPrincipalGroups: Statement(handler=show_principal_groups, rule=needs_nothing,
                                           schema=PRINCIPAL_GROUP_SCHEMA, listing=visible_principal_groups),
        sec.AlterPrincipal: _ddl(alter_principal, rules.alter_principal),
        sec.GrantAccess: _ddl(grant, rules.grant),
        sec.RevokeAccess: _ddl(revoke, rules.revoke),
        sec.ShowGrants: Statement(handler=show_grants, rule=needs_nothing, schema=GRANT_SCHEMA,
                                  listing=visible_grants),
        sec.ShowAudit: Statement(handler=show_audit, rule=needs_nothing, schema=outbox.ENTRY_SCHEMA,
                                 listing=filtered_by_handler),
        sec.SetAuditConfig: _ddl(set_audit_config, rules.set_audit_config),
        sec.ShowAuditConfig: Statement(handler=show_audit_config, rule=rules.show_audit_config,
                                       schema=AUDIT_CONFIG_SCHEMA, listing=filtered_by_handler),
        # An alert fires only for entries its owner may see; only the owner (or root) drops it.
        sec.CreateAuditAlert: _ddl(create_audit_alert, needs_nothing),
        sec.DropAuditAlert: _ddl(drop_audit_alert, needs_nothing),
        sec.ShowAuditAlerts: Statement(handler=show_audit_alerts, rule=needs_nothing, schema=ALERT_SCHEMA,
                                       listing=own_alerts),
        # Writes only the entries the principal may see.
        sec.ExportAudit: _ddl(export_audit, needs_nothing),
        sec.VerifyAudit: Statement(handler=verify_audit, rule=rules.verify_audit, schema=VERIFY_SCHEMA,
                                   listing=filtered_by_handler),
    },
    kinds=(
        Kind(name=acl.KIND), Kind(name=acl.CREATOR_KIND), Kind(name=grants.KIND),
        Kind(name=principals.GROUP_KIND), Kind(name=principals.PRINCIPAL_KIND),
    ),
)
