"""The query side of the statement families: what every query asks of them.

INFER (the models family), live tables (analytics) and vector top-k search (vectors) take part
in every query: INFER's functions are registered in a query's context for the models it calls,
a live table the query names becomes one of its tables, and a top-k query is answered by the
vector runner. They are
declared here, apart from their families' statements, so that a plain query (``SELECT 1``)
loads no statement handlers or family grammars; each part imports its implementation when a
query first needs it (INFER: when the text calls it; a live table: when the text names one).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pyarrow as pa

from raise_.engine.families import Family

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext
    from raise_.engine.session import Session

#: ``raise_.analytics.live.KIND`` and the name of a live table's table in a query's context.
LIVE_KIND = "live table"
_LIVE_TABLE = re.compile(r"\A__raise_live\d+\Z")


def infer(ctx: Any, session: "Session") -> Callable[[str], str]:
    """INFER in ``ctx`` (``udfs.infer.register_infer``), set up when a query's text first calls
    it: its ``prepare`` leaves any other text as it is."""
    functions: list[Any] = []

    def prepare(sql: str) -> str:
        if not functions:
            if "infer" not in sql.lower():
                return sql
            from raise_.engine.models import model_lookup
            from udfs.infer.udf import register_infer

            functions.append(register_infer(ctx, model_lookup(session)))
        return functions[0].prepare(sql)
    return prepare


def live_tables(ctx: Any, session: "Session") -> Callable[[str], str]:
    """The live tables a query's text names, registered in ``ctx`` (``live.register_named``)."""
    register: list[Callable[[str], str]] = []

    def rewrite(sql: str) -> str:
        if not register:
            text = sql.lower()
            if not any(r["name"].lower() in text for r in session.catalog.list(LIVE_KIND)):
                return sql
            from raise_.analytics import live

            register.append(live.register_named(ctx, session))
        return register[0](sql)
    return rewrite


def live_reads(session: "Session", table: str) -> list | None:
    """What reading a live table's table needs (``live.table_needs``); None for other tables."""
    if _LIVE_TABLE.match(table.rpartition(".")[2]) is None:
        return None
    from raise_.analytics import live

    return live.table_needs(session, table)


def _vector_search_may_take(sql: str) -> bool:
    """False where the vector runner surely passes: no ``vector_search`` setting, and not the
    ``... ORDER BY ... LIMIT k`` shape of a top-k query (``vectors.shape.might_be``)."""
    text = sql.lower()
    return "vector_search" in text or ("order" in text and "limit" in text)


def vector_top_k(context: "QueryContext", sql: str, params: Sequence[Any] | None) -> pa.Table | None:
    if not _vector_search_may_take(sql):
        return None
    from raise_.engine.vectors.runner import take

    return take(context, sql, params)


def vector_prepare(session: "Session", sql: str):
    if not _vector_search_may_take(sql):
        return None
    from raise_.engine.vectors.prepared import prepare

    return prepare(session, sql)


FAMILY = Family(
    name="queries",
    statements={},
    query_hooks=(infer, live_tables),
    table_reads=(live_reads,),
    query_runners=(vector_top_k,),
    query_preparers=(vector_prepare,),
)
