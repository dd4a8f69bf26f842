"""LOOKUP ONLINE at request time: resolved once, checked and audited on every call.

A lookup costs what the online store costs plus what Raise adds, so Raise adds little:

- ``plan_for``: the group, key and feature records, their Arrow types and the permissions the
  lookup needs are read from the catalog once per (project, group, features) and reused while
  the catalog's generation (a counter every committed change bumps, in any process) is the
  same; a change to a feature, an ACL, a grant or a principal group makes the next call
  resolve again.
- ``authorize``: the access decision is made per call, from a decision cached per principal
  and plan for the same generation (and never past the next grant expiry, which takes effect
  without a catalog change).
- ``event``: one audit entry per lookup, a READ of the group that names every feature read
  (rather than one chained entry per feature).
- ``run_rows``: a prepared lookup bound to many parameter rows (a Flight SQL client's batch
  of keys) runs as one lookup of every row's keys: one read of the store, one check, one
  audit entry naming them all.
- ``run_prepared``: a prepared statement (``Session.prepare``, a Flight SQL prepared
  statement) runs a lookup with these, outside a catalog transaction (it changes nothing), so
  it is parsed once when prepared.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar.dtypes import parse_dtype
from grammar.errors import RaiseError
from grammar.serving import LookupOnline, Parameter
from raise_.engine import names, registry
from raise_.engine.records import FeatureVersion
from raise_.engine.resolve import project_of
from raise_.engine.security import audited
from raise_.engine.security.audit import Event
from raise_.engine.security.audit_scope import allow
from raise_.engine.security.authorize import Need, check, control, upstream_paths
from raise_.engine.security.checks import on_target
from raise_.engine.security.expiry import next_grant_expiry
from raise_.serving import derived as online_derived
from raise_.types import to_arrow

if TYPE_CHECKING:
    from raise_.engine.session import Session

#: Plans and decisions kept per process; past this many, the oldest half is forgotten.
_LIMIT = 4096


@dataclass(frozen=True)
class Plan:
    """What one LOOKUP ONLINE reads, resolved against the catalog at ``generation``."""

    generation: int | None
    path: str
    group: dict[str, Any]
    keys: tuple[str, ...]
    key_types: tuple[pa.DataType, ...]
    labels: tuple[str, ...]
    types: tuple[pa.DataType, ...]
    #: The physical columns read from the online store, and their types.
    fetch: tuple[str, ...]
    fetch_types: tuple[pa.DataType, ...]
    #: Per label: ``("stored", i)`` (``fetch[i]``), ``("derived", None)`` or ``("absent", None)``
    #: (a stored feature the last MATERIALIZE did not copy: NULL).
    sources: tuple[tuple[str, int | None], ...]
    #: The group's view over the looked-up rows, when a derived feature is asked for.
    view: str | None
    needs: tuple[Need, ...]
    upstream: tuple[str, ...]
    #: When a grant the decision may rest on expires (monotonic clock), else None.
    expires: float | None

    def event(self, keys: int) -> Event:
        details: dict[str, Any] = {"online": True, "features": [f"{self.path}/{label}" for label in self.labels],
                                   "keys": keys}
        if self.upstream:
            details["upstream"] = list(self.upstream)
        return Event("READ", self.path, details)


_PLANS: dict[tuple, Plan] = {}
_DECISIONS: dict[tuple, tuple[int, float | None]] = {}


def plan_for(session: "Session", stmt: LookupOnline) -> Plan:
    """The lookup's plan, from the cache while the catalog has not changed since it was made."""
    project = project_of(session, stmt.group.project)
    key = (str(session.catalog.path), project, stmt.group.name, stmt.features)
    generation = session.catalog.generation()
    plan = _PLANS.get(key)
    if plan is None or generation is None or plan.generation != generation:
        plan = _resolve(session, project, stmt, generation)
        if generation is not None:
            _remember(_PLANS, key, plan)
    return plan


def _resolve(session: "Session", project: tuple[str, ...], stmt: LookupOnline, generation: int | None) -> Plan:
    catalog = session.catalog
    group = registry.group(catalog, project, stmt.group.name)
    path = names.join(*project, stmt.group.name)
    records = [_feature(session, group, label) for label in stmt.features]
    held = set((catalog.get("online", group["key"]) or {}).get("columns") or ())
    derived = [label for label, r in zip(stmt.features, records) if r.derived_as is not None]
    wanted = [r for r in records if r.derived_as is None and r.column in held]
    if derived:  # every held stored feature, for the expressions to read
        wanted += [r for r in registry.current_features(catalog, group["key"]).values()
                   if r.derived_as is None and r.column in held and r not in wanted]
    fetch = list(dict.fromkeys(r.column for r in wanted))
    types = {r.column: _arrow(r.dtype) for r in wanted}
    upstream = sorted({p for r in records if r.derived_as is not None for p in upstream_paths(catalog, r)}
                      - {f"{path}/{label.partition('@')[0]}" for label in stmt.features})
    needs = [*on_target(session, path, "see"),
             *(Need("read", f"{path}/{label.partition('@')[0]}") for label in stmt.features),
             *(Need("read", p) for p in upstream)]
    return Plan(generation=generation, path=path, group=group, keys=tuple(k["name"] for k in group["keys"]),
                key_types=tuple(_arrow(k["dtype"]) for k in group["keys"]), labels=stmt.features,
                types=tuple(_arrow(r.dtype) for r in records), fetch=tuple(fetch),
                fetch_types=tuple(types[c] for c in fetch), sources=tuple(_source(r, fetch) for r in records),
                view=online_derived.view_sql(catalog, group, fetch, derived) if derived else None,
                needs=tuple(needs), upstream=tuple(upstream), expires=next_grant_expiry(session))


def _arrow(dtype: str) -> pa.DataType:
    return to_arrow(parse_dtype(dtype))


def _source(record: FeatureVersion, fetch: list[str]) -> tuple[str, int | None]:
    if record.derived_as is not None:
        return ("derived", None)
    return ("stored", fetch.index(record.column)) if record.column in fetch else ("absent", None)


def _feature(session: "Session", group: dict[str, Any], label: str) -> FeatureVersion:
    name, _, version = label.partition("@")
    return registry.feature(session.catalog, group["key"], name, version or None)


def rule(session: "Session", stmt: LookupOnline) -> tuple[list[Need], list[Event]]:
    """What the lookup needs: to see the group and read each feature (and what a derived one
    reads); its one audit event. A lookup that does not resolve needs the same of the names
    it gives, so only whom may read there learns what is missing (its handler says it)."""
    try:
        plan = plan_for(session, stmt)
    except RaiseError:
        path = names.join(*project_of(session, stmt.group.project), stmt.group.name)
        labels = [f"{path}/{label}" for label in stmt.features]
        needs = [*on_target(session, path, "see"), *(Need("read", p.partition("@")[0]) for p in labels)]
        return needs, [Event("READ", path, {"online": True, "features": labels, "keys": len(stmt.values)})]
    return list(plan.needs), [plan.event(len(stmt.values))]


def authorize(session: "Session", stmt: LookupOnline, plan: Plan) -> None:
    """Refuse the lookup unless the principal may make it (a decision cached for this principal,
    plan and catalog generation); add its audit event to the statement's scope."""
    event = plan.event(len(stmt.values))
    key = (str(session.catalog.path), session.principal, plan.path, plan.labels)
    known = _DECISIONS.get(key)
    fresh = plan.expires is None or time.monotonic() < plan.expires
    if known is not None and known[0] == plan.generation and fresh:
        allow(session, [event])
        return
    allow(session, check(session, control(session), plan.needs, [event]))
    if plan.generation is not None:
        _remember(_DECISIONS, key, (plan.generation, plan.expires))


def _remember(cache: dict, key: tuple, value: Any) -> None:
    cache[key] = value
    if len(cache) > _LIMIT:
        for old in list(cache)[: _LIMIT // 2]:
            cache.pop(old, None)


def run_prepared(session: "Session", stmt: LookupOnline, params: tuple) -> pa.Table:
    """A prepared LOOKUP ONLINE: checked and audited like any statement, outside a catalog
    transaction. A lookup that does not resolve (an unknown group or feature) runs the general
    way, which reports it only to whom may know (after its access check)."""
    from raise_.serving.statements import lookup

    session.parameters = params
    try:
        plan = plan_for(session, stmt)
    except RaiseError:
        return session.run(stmt, params)
    with audited(session):
        authorize(session, stmt, plan)
        return lookup(session, stmt, plan)


def run_rows(session: "Session", stmt: LookupOnline, rows: list[tuple]) -> pa.Table:
    """A prepared LOOKUP ONLINE bound to ``rows`` (each a set of its parameters): the rows'
    lookups concatenated in order, made as one lookup of all their keys."""
    width = max((len(row) for row in rows), default=0)
    values = tuple(_shifted(value, copy * width) for copy in range(len(rows)) for value in _numbered(stmt.values))
    return run_prepared(session, replace(stmt, values=values), tuple(v for row in rows for v in row))


def _numbered(values: tuple) -> tuple:
    """``values`` with each ``?`` given its ``$n`` (the next position), so copies can be shifted."""
    position = 0

    def number(value: Any) -> Any:
        nonlocal position
        if isinstance(value, tuple):
            return tuple(number(v) for v in value)
        if isinstance(value, Parameter) and value.index is None:
            position += 1
            return Parameter(index=position)
        return value

    return tuple(number(v) for v in values)


def _shifted(value: Any, offset: int) -> Any:
    if isinstance(value, tuple):
        return tuple(_shifted(v, offset) for v in value)
    return Parameter(index=value.index + offset) if isinstance(value, Parameter) else value
