"""Checking a statement against its family's rule, and the helpers rules are written with.

Each family declares one rule per statement class (``raise_.engine.families``): a function
``rule(session, access_control, statement) -> (needs, events)``. DDL and ACL changes need
``admin`` on what they change; creating needs ``admin`` on the nearest existing parent (a new
organization needs nothing: its creator administers it). Statements that read metadata
(DESCRIBE, VALIDATE, SHOW ACL) need the object to be visible. A target that does not exist is
checked (same permission) against its nearest existing parent, so someone who may not act in a
place gets PERMISSION_DENIED there rather than learning what is missing. Listings (SHOW) need
little here: their family's listing filter removes what the principal may not see.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from grammar import ast
from grammar import security_ast as sec
from raise_.engine import names, registry
from raise_.engine.resolve import project_of
from raise_.engine.security.acl import CREATOR_KIND, AccessControl, forget, parents, record_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import Need, check, control
from raise_.engine.security.audit_scope import allow

if TYPE_CHECKING:
    from raise_.engine.session import Session

Rule = Callable[["Session", AccessControl, Any], tuple[list[Need], list[Event]]]


def authorize_statement(session: "Session", statement: Any, rule: Rule) -> None:
    """Refuse ``statement`` unless the principal has everything ``rule`` says it needs;
    otherwise add its audit events to the statement's scope and ``settle`` it. Called inside
    the statement's catalog transaction, just before its handler."""
    ac = control(session)
    needs, events = rule(session, ac, statement)
    allow(session, check(session, ac, needs, events))
    settle(session, events)


def needs_nothing(session: "Session", ac: AccessControl, statement: Any) -> tuple[list[Need], list[Event]]:
    """The rule of a statement anyone may run: a listing that shows only what the principal may
    see (its family's listing filter, or its handler, sees to that), or a statement that acts
    only on the session or the principal's own things."""
    return [], []


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


def exists(session: "Session", path: str) -> bool:
    return record_of(session.catalog, path) is not None


def nearest(session: "Session", path: str) -> str | None:
    return next((p for p in reversed(parents(path)) if exists(session, p)), None)


def on_target(session: "Session", path: str, permission: str) -> list[Need]:
    """``permission`` on ``path``; for a missing path, the same on its nearest existing parent
    (only who could act there learns that it is missing)."""
    if exists(session, path):
        return [Need(permission, path)]
    anchor = nearest(session, path)
    return [Need(permission, anchor)] if anchor else []


def creating(session: "Session", path: str, event: Event) -> tuple[list[Need], list[Event]]:
    """Creating ``path``: admin on the nearest existing parent (nothing for a new organization)."""
    if exists(session, path):
        return [Need("see", path)], []
    anchor = nearest(session, path)
    return ([Need("admin", anchor)] if anchor else []), [event]


def org_admin(org: str | None) -> list[Need]:
    """Admin on ``org``; an organization that does not exist is administered by root only."""
    return [Need("admin", org or "")]
