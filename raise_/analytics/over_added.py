"""A live table's merge query over the rows a change added, in a small context of its own.

An incremental refresh (``incremental``) runs the analysis's stored query over only the added
rows, read from the Change Data Feed. Run as a statement of the engine's, that query costs
what any statement does (a session, a DataFusion context with Raise's functions, the group's
view compiled and planned) several times over what computing it over a few thousand rows
does. Where the group's view of what the analysis reads is plain (stored columns under their
feature names, cast to their declared types: no derived feature, no pinned version, no
embedding), the same view is a projection of the added rows: a bare DataFusion context holds
the rows under the group's hidden table name and that projection under the group's name.

The query is authorized and audited as any query over the group is: on its optimized plan
(``security.authorize_query``), whose scan of the hidden table names the columns it reads,
in an audit scope of a session of the refreshing principal.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from datafusion import SessionConfig, SessionContext, SQLOptions, col
from datafusion import functions as f

from grammar.dtypes import parse_dtype
from grammar.errors import ExecutionError, RaiseError
from raise_.analytics.spec import Analysis
from raise_.engine import limits, registry, security
from raise_.engine.records import GroupRecord
from raise_.engine.views import arrow_cast_name, hidden_table
from raise_.types import to_arrow

if TYPE_CHECKING:
    from datafusion import Expr

    from raise_.engine.session import Session

__all__ = ["run", "projection"]

_OPTIONS = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
#: The added rows are few: one partition, no repartitioning for the aggregation.
_CONFIG = SessionConfig().with_target_partitions(1)


def projection(session: "Session", group: GroupRecord, analysis: Analysis,
               added: pa.Table) -> list["Expr"] | None:
    """The group's view of what ``analysis`` reads as expressions over the added rows: its key
    and event-time columns, and each feature read as its stored column cast to its dtype, as
    the view casts it (``views``); None where the view is more than that."""
    if any("@" in c for c in analysis.columns()):
        return None
    current = registry.current_features(session.catalog, group.key)
    read = sorted({c for c in analysis.columns()} - set(group.group_columns))
    if any(name not in current for name in read):
        return None
    columns = [col(c) for c in sorted(group.group_columns) if c in added.column_names]
    for name in read:
        record = current[name]
        dtype = parse_dtype(record.dtype)
        if (record.derived_as is not None or record.status == "archived" or dtype.kind == "embedding"
                or record.column not in added.column_names):
            return None
        target = arrow_cast_name(dtype)
        value = col(record.column)
        if target is not None and added.schema.field(record.column).type != to_arrow(dtype):
            value = f.arrow_cast(value, target)
        columns.append(value.alias(name))
    return columns


def run(session: "Session", project: tuple[str, ...], group: GroupRecord, analysis: Analysis,
        added: pa.Table, query: str) -> pa.Table | None:
    """``query`` over ``added`` as the session's principal would run it over the group, or
    None when it needs the engine's own context (see the module doc)."""
    from raise_.engine.session import Session

    columns = projection(session, group, analysis, added)
    if columns is None:
        return None
    ctx = SessionContext(_CONFIG)
    hidden = hidden_table(group)
    ctx.register_record_batches(hidden, [added.to_batches() or [pa.record_batch([], schema=added.schema)]])
    ctx.register_view('"' + group.name.replace('"', '""') + '"', ctx.table(hidden).select(*columns))
    try:
        frame = ctx.sql_with_options(query, _OPTIONS)
    except Exception:  # the query reads what the projection does not hold: the engine's way
        return None
    reader = Session(session.engine, session.principal, project, session.organization)
    deadline = limits.deadline(reader)
    with security.audited(reader):
        security.authorize_query(reader, frame)
        try:
            with limits.cancellable(deadline):
                return frame.to_arrow_table()
        except RaiseError:
            raise
        except Exception as error:
            text = str(error).strip().splitlines()
            raise ExecutionError(f"the live table's merge query failed: {text[0][:500] if text else error}",
                                 name=group.name) from None
