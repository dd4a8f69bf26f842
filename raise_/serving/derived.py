"""Derived features at lookup time: computed from the stored values the online store holds.

A derived feature is an expression over features of its group. At lookup its group's view
query (``raise_.engine.views``, the same SQL that computes it in queries, casts included) runs
in DataFusion over the looked-up rows: the key columns, the stored features the online store
holds, and the event time as NULL (the store keeps only the newest row per key, whose time a
lookup does not return). Expressions that read another group's (or another organization's)
features need that group's row for the same key and are refused here; a training set or a
query computes them.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import pyarrow as pa
from datafusion import SessionContext

from grammar.errors import RaiseError, ValidationError
from raise_.engine.catalog import Catalog
from raise_.engine.views import group_view

_ROWS = "__raise_online_rows"
_local = threading.local()


def view_sql(catalog: Catalog, group: dict[str, Any], held: Sequence[str], labels: Sequence[str]) -> str:
    """The view query of ``group`` over the looked-up rows (``held``: the physical columns the
    online store holds); raises what keeps one of the derived ``labels`` from being computed."""

    def stored(target: dict[str, Any]) -> set[str]:
        if target["key"] != group["key"]:
            raise ValidationError(f"a derived feature of {group['name']!r} reads {target['name']!r}: online "
                                  "lookups compute derived features of one group; query it or build a training "
                                  "set instead", code="RAISE-V186", name=target["name"])
        return set(held)

    view = group_view(catalog, group, stored, table=_ROWS, pinned=frozenset(l for l in labels if "@" in l))
    for label in labels:
        if label in view.unavailable:
            raise view.unavailable[label]
    return view.sql


def compute(engine: Any, sql: str, rows: pa.Table, labels: Sequence[str]) -> list[pa.Array]:
    """The ``labels`` columns of the view ``sql`` over ``rows`` (one row per key looked up)."""
    ctx = _context(engine)
    try:
        ctx.deregister_table(_ROWS)
        ctx.register_record_batches(_ROWS, [rows.to_batches() or [pa.record_batch([], schema=rows.schema)]])
        result = ctx.sql(sql).to_arrow_table()
    except RaiseError:
        raise
    except Exception as error:  # DataFusion's errors carry no code: name the failing features
        raise ValidationError(f"derived feature(s) {', '.join(labels)} could not be computed at lookup: {error}",
                              code="RAISE-V187", name=", ".join(labels)) from None
    return [result.column(label).combine_chunks() for label in labels]


def _context(engine: Any) -> SessionContext:
    """One DataFusion context per thread with Raise's SQL functions (a lookup holds no other)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = _local.ctx = SessionContext(engine.config().with_target_partitions(1))
        engine.register_functions(ctx)
    return ctx
