"""The vector search execution path: which top-k queries it takes and how it answers them.

``take(context, sql, params)`` is the engine's query runner for vector search (see
``families.QueryRunner``). It answers ``SET|SHOW|RESET vector_search``, a top-k query
(``shape``) over an embedding feature, and ``EXPLAIN`` of one; everything else returns None
and DataFusion runs it. A top-k query uses the group's vector index when one covers the
embedding (``index``), unless the session says ``SET vector_search = 'exact'``; otherwise it
streams exactly (``topk``). Either way the rows come from the group's view through the query's
own WHERE, planned, authorized and audited as a query of the embedding, the keys and every
selected feature.
"""
from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pyarrow as pa

from grammar.dtypes import stored_dtype
from grammar.errors import RaiseError, ValidationError
from raise_.engine import names, registry, security
from raise_.engine.vectors import candidates, index, topk as exact
from raise_.engine.vectors.shape import TopK, recognise

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext
    from raise_.engine.session import Session

BAD_SETTING = "RAISE-V603"
MODES = ("auto", "exact")
_SETTING = re.compile(r"^\s*(?:(?P<set>SET)\s+(?:SESSION\s+)?vector_search\s*(?:=|\bTO\b)\s*(?P<value>'[^']*'|\S+)"
                      r"|(?P<reset>RESET)\s+vector_search|(?P<show>SHOW)\s+vector_search)\s*;?\s*$", re.IGNORECASE)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?!ANALYZE\b|VERBOSE\b)", re.IGNORECASE)
#: ``SET vector_search`` per session (sessions come and go with their connections).
_MODE: "weakref.WeakKeyDictionary[Session, str]" = weakref.WeakKeyDictionary()
EXPLAIN_SCHEMA = pa.schema([("plan_type", pa.string()), ("plan", pa.string())])


def mode(session: "Session") -> str:
    return _MODE.get(session, "auto")


@dataclass(frozen=True, slots=True)
class Plan:
    """A top-k query resolved against its group: what runs, and over what."""

    topk: TopK
    group: Any
    dim: int
    keys: tuple[str, ...]
    candidate: str
    params: Sequence[Any] | None
    index: Any = None  # index.Loaded when the index path runs


def take(context: "QueryContext", sql: str, params: Sequence[Any] | None) -> pa.Table | None:
    """The result of ``sql`` when it is vector search's to answer, else None."""
    setting = _SETTING.match(sql)
    if setting is not None:
        return _apply_setting(context.session, setting)
    explain = _EXPLAIN.match(sql)
    plan = planned(context, sql[explain.end():] if explain else sql, params)
    if plan is None:
        return None
    if explain:
        return _explain(context, plan)
    return run(context, plan, params)


def planned(context: "QueryContext", sql: str, params: Sequence[Any] | None) -> Plan | None:
    """The plan of a top-k query over an embedding feature of a group, else None."""
    topk = recognise(sql)
    if topk is None:
        return None
    session = context.session
    try:
        group = registry.group(session.catalog, *names.group_path(topk.group_path, session.project))
    except RaiseError:
        return None  # a temporary table or a typo: DataFusion answers (or reports) it
    dim = embedding_size(context.session, group, topk.column)
    candidate = exact.candidate_sql(topk, group.key_names, params) if dim else None
    if candidate is None:
        return None
    exact_only = mode(context.session) == "exact" or topk.time_travel
    found = None if exact_only else index.usable(context, group, topk)
    return Plan(topk, group, dim, tuple(group.key_names), candidate, params, found)


def embedding_size(session: "Session", group: Any, column: str) -> int | None:
    """The size of ``column`` when it is a fixed-size embedding feature of ``group``."""
    record = registry.current_features(session.catalog, group.key).get(column)
    dtype = stored_dtype(record.dtype) if record is not None else None
    return dtype.size if dtype is not None and dtype.kind == "embedding" else None


def run(context: "QueryContext", plan: Plan, params: Sequence[Any] | None) -> pa.Table:
    query = exact.query_vector(context, plan.topk.query, params, plan.topk.column, plan.dim)
    if plan.index is not None:
        best = candidates.answer(context, plan, query)
    else:
        best = _exact(context, plan, query)
    return exact.finish(plan.topk, best, len(plan.keys))


def _exact(context: "QueryContext", plan: Plan, query: np.ndarray | None) -> pa.Table:
    stream = context.stream(plan.candidate)
    # a NULL query vector is close to nothing: authorized and audited, but no row is read
    batches = stream.batches if query is not None else iter(())
    return exact.search(plan.topk, batches, stream.schema, query, len(plan.keys))


def _explain(context: "QueryContext", plan: Plan) -> pa.Table:
    topk = plan.topk
    order = "DESC" if topk.descending else "ASC"
    if plan.index is not None:
        path = f"vector index {plan.index.describe()}"
    else:
        path = "exact streaming top-k (per-batch partial top-k over the vector kernel, merged)"
    rows = [("vector_search", f"{path}: {topk.function}({topk.column}) {order} LIMIT {topk.k} "
                              f"over {plan.group.name!r}")]
    frame = context.dataframe(plan.candidate)
    security.authorize_query(context.session, frame, context, audit_reads=False)
    rows.append(("logical_plan", frame.optimized_logical_plan().display_indent()))
    rows.append(("physical_plan", frame.execution_plan().display_indent()))
    return pa.table({"plan_type": [r[0] for r in rows], "plan": [r[1] for r in rows]}, schema=EXPLAIN_SCHEMA)


def _apply_setting(session: "Session", statement: re.Match) -> pa.Table:
    if statement.group("set"):
        value = statement.group("value").strip("'").lower()
        if value == "default":
            value = "auto"
        if value not in MODES:
            raise ValidationError(f"vector_search must be one of {', '.join(map(repr, MODES))}, not "
                                  f"{statement.group('value')}", code=BAD_SETTING, name=statement.group("value"))
        _MODE[session] = value
    elif statement.group("reset"):
        _MODE.pop(session, None)
    return pa.table({"vector_search": [mode(session)]})
