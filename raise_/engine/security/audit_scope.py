"""The audit scope of one statement: what it does, recorded with how it ended.

The engine runs each statement (and each ingest) inside ``audited(session)``. Authorization
adds the events the statement performs (``Scope.add``); when the statement ends they are
written with outcome ALLOWED, DENIED (it raised ``PermissionDenied``) or ERROR (any other
error). A denial carries the events that were refused (``AccessDenied.events``), so the log
names what was attempted. Writing happens after the statement's catalog transaction has
ended, in the audit log's own database: a rollback never erases a DENIED or ERROR entry.

New entries are matched against audit alerts straight away, and the organization's retention
is applied at most once an hour per process.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from grammar.errors import PermissionDenied
from raise_.engine.security import outbox, principals
from raise_.engine.security.acl import AccessControl
from raise_.engine.security.audit import AuditLog, Entry, Event, log_for

if TYPE_CHECKING:
    from raise_.engine.session import Session

_RETENTION_EVERY_S = 3600.0
_retention_checked: dict[tuple[str, str], float] = {}


class AccessDenied(PermissionDenied):
    """``PermissionDenied`` carrying the audit events that were refused."""

    def __init__(self, message: str, *, events: Iterable[Event] = (), code: str | None = None,
                 name: str | None = None) -> None:
        super().__init__(message, code=code, name=name)
        self.events = list(events)


@dataclass
class Scope:
    """Events of the statement now running for ``session``."""

    session: Any
    events: list[Event] = field(default_factory=list)
    authorized: set[int] = field(default_factory=set)

    def add(self, events: Iterable[Event]) -> None:
        self.events.extend(events)

    def rolled_back(self) -> None:
        """A script ended in ROLLBACK: its changes never happened, its reads did."""
        self.events = [e for e in self.events if e.action in ("READ", "QUERY")]


_CURRENT: ContextVar[Scope | None] = ContextVar("raise_audit_scope", default=None)


def current() -> Scope | None:
    """The scope of the statement running in this context, if any."""
    return _CURRENT.get()


@contextmanager
def audited(session: "Session") -> Iterator[Scope]:
    """Run a statement; afterwards write its events with the outcome. Nested uses (an INSERT
    that ingests, ``USE`` run from the SDK) share the outermost scope."""
    outer = _CURRENT.get()
    if outer is not None and outer.session is session:
        yield outer
        return
    scope = Scope(session)
    token = _CURRENT.set(scope)
    try:
        yield scope
    except PermissionDenied as error:
        refused = getattr(error, "events", None) or scope.events or [_generic(session, error)]
        record(session, refused, "DENIED")
        raise
    except Exception:
        record(session, scope.events, "ERROR")
        raise
    else:
        record(session, scope.events, "ALLOWED")
    finally:
        _CURRENT.reset(token)


def _generic(session: "Session", error: PermissionDenied) -> Event:
    """The event for a denial raised without events (e.g. a derived feature whose external
    grant is gone): in the chain of the organization it names, else of the current project."""
    name = error.name or ""
    if name.startswith("@"):
        chain = name[1:].split("/")[0]
    else:
        chain = name.split("/")[0] if "/" in name else (session.project[0] if session.project else "")
    return Event("QUERY", name, {"reason": error.message}, chain=chain)


def allow(session: "Session", events: Iterable[Event]) -> None:
    """Events a statement performs: added to its scope (written when it ends), or written at
    once as ALLOWED when the caller runs without a scope."""
    scope = current()
    if scope is not None and scope.session is session:
        scope.add(events)
    else:
        record(session, events, "ALLOWED")


def deny(session: "Session", error: AccessDenied) -> AccessDenied:
    """The error to raise for a refusal; written at once when the caller runs without a scope
    (inside one, ``audited`` writes it)."""
    scope = current()
    if scope is None or scope.session is not session:
        record(session, error.events, "DENIED")
    return error


def log_of(session: "Session") -> AuditLog:
    return log_for(session.engine.home)


def record(session: "Session", events: Iterable[Event], outcome: str) -> list[Entry]:
    """Write ``events`` for the session's principal with ``outcome``; deliver matching alerts."""
    events = list(events)
    if not events:
        return []
    log = log_of(session)
    catalog = session.catalog
    org = principals.acting_organization(catalog, session.principal, session.organization)
    entries = log.append(principals.actor(session.principal), org, events, outcome)
    checkers: dict[str, AccessControl] = {}

    def may_see(owner: str, entry: Entry) -> bool:
        checker = checkers.setdefault(owner, AccessControl(catalog, owner))
        return checker.sees_entry(entry)

    outbox.evaluate(log, entries, may_see)
    for chain in {e.chain for e in entries if e.chain}:
        apply_retention(log, chain)
    return entries


def apply_retention(log: AuditLog, org: str, *, force: bool = False) -> int:
    """Archive (to the export destination, if set) and remove entries past retention."""
    key = (str(log.path), org)
    if not force and time.monotonic() - _retention_checked.get(key, -_RETENTION_EVERY_S) < _RETENTION_EVERY_S:
        return 0
    _retention_checked[key] = time.monotonic()
    expired = log.expired(org)
    if not expired:
        return 0
    destination = log.config(org).export_destination
    if destination:
        outbox.export(expired, destination.rstrip("/") + "/", "jsonl")
    return log.prune(org, expired)
