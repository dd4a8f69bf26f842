"""Authorization rules of the security statements (ACLs, principal groups, grants, audit).

Each rule returns ``(needs, events)`` for one statement (see ``security.checks``); the security
family (``security.handlers``) declares them beside its handlers. Listings that need no right
(SHOW GRANTS, SHOW AUDIT, ...) use ``checks.listing_only``: their handlers show only what the
principal may see.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from grammar import security_ast as sec
from raise_.engine import registry
from raise_.engine.names import split_version
from raise_.engine.security import principals
from raise_.engine.security.acl import AccessControl
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import Need
from raise_.engine.security.checks import exists, group_path, on_target, org_admin, target_path

if TYPE_CHECKING:
    from raise_.engine.session import Session


def set_acl(session, ac, s: sec.SetAcl):
    path = target_path(session, s.target)
    details = {"readers": list(s.readers), "writers": list(s.writers), "admins": list(s.admins),
               "inherit": s.inherit}
    return on_target(session, path, "admin"), [Event("UPDATE_ACL", path, details)]


def show_acl(session, ac, s: sec.ShowAcl):
    return on_target(session, target_path(session, s.target), "see"), []


def create_principal_group(session, ac, s: sec.CreatePrincipalGroup):
    principals.check_group_name(s.name)
    org = principals.email_organization(s.name)
    return org_admin(org), [Event("UPDATE_ACL", s.name, {"members": list(s.members)}, chain=org)]


def _pgroup_needs(session: "Session", ac: AccessControl, name: str) -> list[Need]:
    record = principals.group(session.catalog, name)
    if record is not None and record.get("owner") in ac.identities:
        return []
    return org_admin(principals.email_organization(name))


def alter_principal_group(session, ac, s: sec.AlterPrincipalGroup):
    org = principals.email_organization(s.name)
    event = Event("UPDATE_ACL", s.name, {s.change: list(s.members)}, chain=org or "")
    return _pgroup_needs(session, ac, s.name), [event]


def drop_principal_group(session, ac, s: sec.DropPrincipalGroup):
    org = principals.email_organization(s.name)
    return _pgroup_needs(session, ac, s.name), [Event("UPDATE_ACL", s.name, {"dropped": True}, chain=org or "")]


def alter_principal(session, ac, s: sec.AlterPrincipal):
    event = Event("UPDATE_ACL", s.principal, {"organization": s.organization}, chain=s.organization)
    return org_admin(s.organization), [event]


def grant(session, ac, s: sec.GrantAccess):
    path = group_path(session, s.group)
    details = {"organization": s.organization, "features": list(s.features), "permission": s.permission,
               "expires": s.expires}
    return on_target(session, path, "admin"), [Event("GRANT_EXTERNAL", path, details)]


def revoke(session, ac, s: sec.RevokeAccess):
    path = group_path(session, s.group)
    events = [Event("REVOKE_EXTERNAL", path, {"organization": s.organization, "permission": s.permission})]
    for record in registry.versions(session.catalog, path) if exists(session, path) else ():
        for target in (f"@{path}/{record['name']}", f"@{path}/{record['name']}@{record['version']}"):
            for src, _ in session.catalog.edges_to("lineage", target):
                if src.split("/", 1)[0] == s.organization:
                    events.append(Event("LINEAGE_BREAK", split_version(src)[0], {"upstream": target}))
    return on_target(session, path, "admin"), events


def set_audit_config(session, ac, s: sec.SetAuditConfig):
    org = s.organization or (session.project[0] if session.project else None)
    if org is None:
        return [], []  # the handler asks for an organization
    details = {"retention_days": s.retention_days, "immutable": s.immutable,
               "export_destination": s.export_destination}
    return org_admin(org), [Event("UPDATE_METADATA", org, {"audit_config": details}, chain=org)]


def show_audit_config(session, ac, s: sec.ShowAuditConfig):
    return (org_admin(s.organization) if s.organization else []), []


def verify_audit(session, ac, s: sec.VerifyAudit):
    return (org_admin(s.organization) if s.organization else []), []
