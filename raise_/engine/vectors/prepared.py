"""A top-k search prepared once: ``Session.prepare``, as the SDK's ``group.search`` and a
Flight SQL prepared statement use it.

Per catalog generation (a counter every committed change bumps) and principal, the query is
recognised, its group, embedding and vector index resolved, and its reads planned once (the
keys, the embedding, the selected features and the WHERE's columns, as the exact query would
read them). Each execution then only binds the query vector, checks the caller's read rights
from a decision cached for that generation (made again at the next grant expiry, as LOOKUP
ONLINE's is), records the search's audit entry, brings the index to the table's version
(``index.current``) and searches it. A search of keys and score is answered from the graph
alone; one that selects features or has a WHERE from the query's rows, read once per index
version (``fetch``). A text query (``INFER('model', $1)``) is embedded per execution by a
query of its own, authorized and audited as the model's use.

A WHERE that depends on more than the table (``fetch.accepts``), a subquery or literal query
vector, no index, or a session that says ``SET vector_search = 'exact'`` runs the general way
(``runner``): ``run`` returns None.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from grammar.errors import RaiseError
from raise_.engine.security import audited
from raise_.engine.security.audit import Event
from raise_.engine.security.audit_scope import allow
from raise_.engine.security.authorize import Need, check, control, query_needs
from raise_.engine.security.expiry import next_grant_expiry
from raise_.engine.vectors import candidates, fetch, index, runner, topk as exact
from raise_.engine.vectors.shape import TopK, recognise

if TYPE_CHECKING:
    from raise_.engine.session import Session


@dataclass(frozen=True)
class Resolved:
    """The search resolved at ``generation`` for ``principal`` in ``project``; ``plan`` is None
    when the fast form does not apply there."""

    generation: int
    principal: str | None
    project: tuple[str, ...] | None
    plan: runner.Plan | None = None
    record: dict[str, Any] | None = None
    schema: pa.Schema | None = None
    needs: tuple[Need, ...] = ()
    events: tuple[Event, ...] = ()
    #: When a grant the decision may rest on expires (monotonic clock), else None.
    expires: float | None = None
    #: Keys and score only: answered from the graph without reading rows.
    keys_only: bool = True


class Search:
    """One prepared top-k text; ``run(session, params)`` per execution."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._resolved: Resolved | None = None
        self._allowed: tuple[int, list[Event]] | None = None  # (generation, events) of the last decision
        self._rows: tuple[Resolved, fetch.Rows] | None = None  # the query's rows, read for a resolution

    def run(self, session: "Session", params: tuple) -> pa.Table | None:
        if runner.mode(session) == "exact":
            return None
        generation = session.catalog.generation()
        if generation is None:  # inside a transaction: nothing may be cached
            return None
        resolved = self._resolved
        if (resolved is None or resolved.generation != generation or resolved.principal != session.principal
                or resolved.project != session.project):
            resolved = self._resolved = self._resolve(session, params, generation)
            self._allowed = None
        if resolved.plan is None:
            return None
        plan, topk = resolved.plan, resolved.plan.topk
        session.parameters = params
        with audited(session):
            self._authorize(session, resolved)
            context = None if isinstance(topk.query, exp.Placeholder) else session.query_context(self.sql)
            query = exact.query_vector(context, topk.query, params, topk.column, plan.dim)  # type: ignore[arg-type]
            loaded = index.current(session, resolved.record, plan.group)
            if query is None or index.label_count(loaded) == 0:
                best = exact.search(topk, iter(()), resolved.schema, None, len(plan.keys))
            elif resolved.keys_only:
                best = candidates.from_graph(dataclasses.replace(plan, index=loaded), query, resolved.schema)
            else:
                best = fetch.best(plan, loaded, self._rows_for(session, resolved, loaded), query)
            return exact.finish(topk, best, len(plan.keys))

    def _rows_for(self, session: "Session", resolved: Resolved, loaded: index.Loaded) -> fetch.Rows:
        held = self._rows
        if held is None or held[0] is not resolved or not held[1].covers(loaded):
            held = self._rows = (resolved, fetch.read(session, self.sql, resolved.plan, loaded))
        return held[1]

    def _resolve(self, session: "Session", params: tuple, generation: int) -> Resolved:
        here = Resolved(generation, session.principal, session.project)
        try:
            context = session.query_context(self.sql)
            plan = runner.planned(context, self.sql, params)
            if plan is None or plan.index is None or not fetch.accepts(plan):
                return here
            record = index.for_query(session, plan.group, plan.topk)
            frame = context.dataframe(plan.candidate)
            needs, events = query_needs(session, frame, context)
        except RaiseError:
            return here  # the general path reports it, after its own access check
        schema = pa.schema([f for f in frame.schema() if f.name != exact.VECTOR])
        return dataclasses.replace(here, plan=dataclasses.replace(plan, index=None), record=record, schema=schema,
                                   needs=tuple(needs), events=tuple(events), expires=next_grant_expiry(session),
                                   keys_only=candidates.keys_only(plan))

    def _authorize(self, session: "Session", resolved: Resolved) -> None:
        fresh = resolved.expires is None or time.monotonic() < resolved.expires
        if self._allowed is not None and self._allowed[0] == resolved.generation and fresh:
            allow(session, self._allowed[1])
            return
        events = check(session, control(session), resolved.needs, resolved.events)
        allow(session, events)
        self._allowed = (resolved.generation, events)


def prepare(session: "Session", sql: str):
    """``Search(sql).run`` for a top-k query whose query vector (or text) is a bound parameter,
    else None."""
    topk: TopK | None = recognise(sql)
    if topk is None or not (isinstance(topk.query, exp.Placeholder) or _embedded_text(topk.query)):
        return None
    return Search(sql).run


def _embedded_text(query: exp.Expression) -> bool:
    """``INFER('model', $n)``: a bound text embedded by a registered model."""
    return (isinstance(query, exp.Anonymous) and query.name.upper() == "INFER" and len(query.expressions) == 2
            and isinstance(query.expressions[0], exp.Literal) and query.expressions[0].is_string
            and isinstance(query.expressions[1], exp.Placeholder))
