"""Incremental refresh of an ``on_change`` live table from the Delta Change Data Feed.

When every change since the last refresh is an insert (appends), the analysis runs over only
the inserted rows (the CDF rows stand in for the group's table in that one query, authorized
like any other) and the result is merged into the stored rows: counts and sums add, minima and
maxima combine, per group and window. That covers aggregations whose metrics are all of
``count``, ``sum``, ``min`` and ``max`` and that do not roll; anything else, and any update,
delete or overwrite in the feed, is recomputed in full.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import DeltaError

from raise_.analytics import inside
from raise_.analytics.spec import Aggregation, Analysis
from raise_.engine.records import GroupRecord

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["mergeable", "refresh"]

# How each metric of the stored rows and of the added rows combine (a sum of no values stays
# NULL, as in SQL: ``min_count=1``).
_MERGE = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


def mergeable(analysis: Analysis) -> bool:
    return (isinstance(analysis, Aggregation) and not analysis.rolling
            and all(m in _MERGE for m in analysis.metrics))


def refresh(session: "Session", record: dict[str, Any], group: GroupRecord, analysis: Analysis,
            version: int | None) -> pa.Table | None:
    """The live table's new rows from the changes since its last refresh, or None when they
    have to be recomputed in full."""
    since, storage = record.get("source_version"), session.engine.storage
    if not mergeable(analysis) or since is None or version is None or version <= since:
        return None
    stored, source = storage.latest(record["uri"]), storage.latest(group.uri)
    if stored is None or source is None:
        return None
    try:
        changes = pa.table(source.load_cdf(starting_version=since + 1, ending_version=version))
    except DeltaError:  # the feed no longer reaches back (vacuumed) or was never written
        return None
    if set(changes.column("_change_type").to_pylist()) - {"insert"}:
        return None
    added = changes.drop_columns(list(_CDF_COLUMNS))
    result = inside.run(session, tuple(record["project"]), group.name, analysis, session.principal,
                        changed_rows={group.id: added})
    return merge(pa.table(stored.to_pyarrow_table()), inside.as_table(result), analysis)


def merge(old: pa.Table, new: pa.Table, analysis: Aggregation) -> pa.Table:
    """Stored rows and the rows of the added data combined per group and window, in Arrow
    (so the merge costs what the result's rows do, not the table's)."""
    if new.num_columns == 0:
        return old
    keys = [*(analysis.group_by or ()), *(["date"] if analysis.window else [])]
    both = pa.concat_tables([old, new.select(old.column_names).cast(old.schema)])
    merged = both.group_by(keys, use_threads=False).aggregate(
        [(m, _MERGE[m], pc.ScalarAggregateOptions(min_count=1)) for m in analysis.metrics])
    merged = merged.rename_columns([*keys, *analysis.metrics])
    if keys:  # as the query orders them: by the keys, NULLs last
        merged = merged.sort_by([(k, "ascending", "at_end") for k in keys])
    return merged.select(old.column_names).cast(old.schema)
