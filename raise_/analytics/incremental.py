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

import pandas as pd
import pyarrow as pa
from deltalake.exceptions import DeltaError

from raise_.analytics import inside
from raise_.analytics.spec import Aggregation, Analysis
from raise_.engine.records import GroupRecord

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["mergeable", "refresh"]

def _sum(values: pd.Series) -> Any:
    return values.sum(min_count=1)  # as SQL: the sum of no values is NULL


_MERGE = {"count": "sum", "sum": _sum, "min": "min", "max": "max"}
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
    """Stored rows and the rows of the added data combined per group and window."""
    if new.num_columns == 0:
        return old
    keys = [*(analysis.group_by or ()), *(["date"] if analysis.window else [])]
    both = pd.concat([old.to_pandas(), new.to_pandas()], ignore_index=True)
    how = {m: _MERGE[m] for m in analysis.metrics}
    if keys:
        merged = both.groupby(keys, dropna=False, sort=True).agg(how).reset_index()
    else:
        merged = both.agg(how).to_frame().T
    return pa.Table.from_pandas(merged[list(old.column_names)], preserve_index=False).cast(old.schema)
