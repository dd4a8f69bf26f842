"""Incremental refresh of an ``on_change`` live table from the Delta Change Data Feed.

When every change since the last refresh is an insert (appends), the analysis runs over only
the inserted rows (the CDF rows stand in for the group's table in that one query, authorized
like any other) and the result is merged into the stored rows, per group and window. Counts
and sums add and minima and maxima combine as they are. ``avg``, ``null_rate``, ``stddev``
and ``variance`` merge through partial sums (count, rows, sum, sum of squares) that the live
table keeps in a second Delta table beside its rows (``parts_uri``): the appended rows' partials
are added to the stored ones and the metrics formed again, as a rolling aggregation forms them.
Rolling aggregations, ``median`` and ``distinct_count``, and any update, delete or overwrite
in the feed, are recomputed in full.

A merge costs what the added rows do, not the fixed costs of a statement: the query over the
added rows runs in a small DataFusion context of its own (``over_added``), the feed is read
through the group's DeltaTable kept from the last refresh, and the rows are written through
the live table's DeltaTable kept open (``target``).
"""
from __future__ import annotations

import collections
import itertools
import threading
import weakref
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import DeltaError

from grammar.errors import RaiseError
from raise_.analytics import inside, over_added
from raise_.analytics.compile import partial_sums, render
from raise_.analytics.spec import Aggregation, Analysis
from raise_.engine import registry
from raise_.engine.records import GroupRecord

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["mergeable", "needs_parts", "refresh", "remember", "kept", "write_parts", "parts_uri", "feature_versions",
           "target", "keep_target"]

# How each metric of the stored rows and of the added rows combine (a sum of no values stays
# NULL, as in SQL: ``min_count=1``).
_MERGE = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}
# The partial sums that the other metrics merge through, and how the partials combine.
_BY_PARTS = ("avg", "null_rate", "stddev", "variance")
_PART_MERGE = {"n": "sum", "rows": "sum", "s": "sum", "ss": "sum", "lo": "min", "hi": "max"}
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
# Every entry below is keyed by its store's storage first, so that two stores in one process
# (even over the same directory) never see each other's entries.
_STORES: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
_STORE_IDS = itertools.count()
# Live tables' rows kept in memory by (store, uri, Delta version), the newest few and only small ones.
_KEPT: "collections.OrderedDict[tuple[int, str, int], pa.Table]" = collections.OrderedDict()
_KEPT_ENTRIES = 64
_KEPT_BYTES = 4 << 20
_KEPT_LOCK = threading.Lock()
# Groups' DeltaTables as the last incremental refresh left them, by (store, uri).
_SOURCES: "collections.OrderedDict[tuple[int, str], Any]" = collections.OrderedDict()
# Live tables' DeltaTables as their last write left them, by (store, uri).
_TARGETS: "collections.OrderedDict[tuple[int, str], Any]" = collections.OrderedDict()


def _store(storage: Any) -> int:
    """The number the caches know ``storage``'s store by (never reused in a process)."""
    with _KEPT_LOCK:
        found = _STORES.get(storage)
        if found is None:
            found = _STORES[storage] = next(_STORE_IDS)
        return found


def mergeable(analysis: Analysis) -> bool:
    return (isinstance(analysis, Aggregation) and not analysis.rolling
            and all(m in _MERGE or m in _BY_PARTS for m in analysis.metrics))


def needs_parts(analysis: Analysis) -> bool:
    return mergeable(analysis) and any(m in _BY_PARTS for m in analysis.metrics)


def parts_uri(record: dict[str, Any]) -> str:
    return f"{record['uri']}-parts"


def refresh(session: "Session", record: dict[str, Any], group: GroupRecord, analysis: Analysis,
            version: int | None) -> pa.Table | None:
    """The live table's new rows from the changes since its last refresh, or None when they
    have to be recomputed in full (not mergeable, a feature now resolving to another
    version, stored rows or partials of another source version, anything but inserts)."""
    since, storage = record.get("source_version"), session.engine.storage
    if not mergeable(analysis) or since is None or version is None or version <= since:
        return None
    if record.get("query") is None or record.get("versions") != feature_versions(session, group, analysis):
        return None
    old = _stored_rows(session, record, since)
    parts = _stored_parts(session, record, since) if needs_parts(analysis) else None
    # a column with no value yet has no type to merge values of into: recomputed in full
    if old is None or any(pa.types.is_null(f.type) for f in old.schema) or (needs_parts(analysis) and parts is None):
        return None
    changes = _changes(session, group.uri, since, version, _read_columns(session, group, analysis))
    if changes is None:
        return None
    if pc.unique(changes.column("_change_type")).to_pylist() not in ([], ["insert"]):
        return None
    added = changes.drop_columns([c for c in _CDF_COLUMNS if c in changes.column_names])
    if parts is None:
        return merge(old, _query(session, record, group, analysis, added, record["query"]), analysis)
    new_parts = _query(session, record, group, analysis, added, record["parts_query"])
    if new_parts.num_rows == 0:
        return old
    keys = _keys(analysis)
    both = pa.concat_tables([pa.table(parts.to_pyarrow_table()), new_parts.cast(_part_schema(parts))])
    merged = _combine(both, keys, _PART_MERGE)
    _write_parts(session, record, merged, version)
    return _metrics(merged, analysis, keys).select(old.column_names).cast(old.schema)


def _read_columns(session: "Session", group: GroupRecord, analysis: Analysis) -> list[str] | None:
    """The stored columns the merge query reads (keys, event time, the analysed features'
    columns), or None for all of them when a feature is derived (it reads others)."""
    current = registry.current_features(session.catalog, group.key)
    columns = [current[n].column if n in current else n for n in {c.partition("@")[0] for c in analysis.columns()}]
    if None in columns:
        return None
    return sorted({*group.group_columns, *columns, "_change_type"})


def _changes(session: "Session", uri: str, since: int, version: int,
             columns: list[str] | None) -> pa.Table | None:
    """The Change Data Feed of source versions ``since + 1`` to ``version``, read through a
    DeltaTable kept from the last refresh and moved forward to ``version`` (reading only the
    new log entries, where opening the table replays its whole log); None when the feed no
    longer reaches back (vacuumed) or was never written."""
    key = (_store(session.engine.storage), uri)
    with _KEPT_LOCK:
        source = _SOURCES.pop(key, None)  # one refresh at a time uses a kept table
    try:
        if source is not None:
            source.load_as_version(version)
    except DeltaError:
        source = None
    source = source or session.engine.storage.latest(uri)
    if source is None:
        return None
    if columns is not None:  # a feature's first values may not be written yet
        stored = set(source.schema().to_arrow().names) | {"_change_type"}
        columns = [c for c in columns if c in stored]
    try:
        changes = pa.table(source.load_cdf(starting_version=since + 1, ending_version=version, columns=columns))
    except DeltaError:
        return None
    with _KEPT_LOCK:
        _SOURCES[key] = source
        while len(_SOURCES) > _KEPT_ENTRIES:
            _SOURCES.popitem(last=False)
    return changes


def remember(session: "Session", record: dict[str, Any], group: GroupRecord, analysis: Analysis,
             query: str | None) -> None:
    """After a full recompute: what the next merge runs over the added rows (the analysis's
    query, kept in the record so that a merge compiles nothing) and the feature versions it read."""
    record["query"] = query if mergeable(analysis) else None
    record["versions"] = feature_versions(session, group, analysis)


def feature_versions(session: "Session", group: GroupRecord, analysis: Analysis) -> dict[str, str]:
    """The version each feature ``analysis`` reads resolves to now."""
    current = registry.current_features(session.catalog, group.key)
    read = {c.partition("@")[0] for c in analysis.columns()}
    return {n: current[n].version for n in sorted(read) if n in current}


def _query(session: "Session", record: dict[str, Any], group: GroupRecord, analysis: Analysis,
           added: pa.Table, query: str) -> pa.Table:
    """``query`` as the refreshing principal, over only the added rows of the group: in a
    small context of its own where the group's view is plain (``over_added``), else as a
    statement of the engine's."""
    project = tuple(record["project"])
    found = over_added.run(session, project, group, analysis, added, query)
    if found is not None:
        return found
    return inside.SessionConnection(session, project, session.principal, {group.id: added}).execute(query)


def target(session: "Session", uri: str) -> Any:
    """The live table's DeltaTable to write its rows through: the one kept from its last
    write while that is still the latest version (a write then skips opening the table), else
    opened now; None before the table's first write. Taken: ``keep_target`` puts it back."""
    storage = session.engine.storage
    key = (_store(storage), uri)
    with _KEPT_LOCK:
        table = _TARGETS.pop(key, None)
    version = storage.local_version(uri)
    if table is not None and version is not None and table.version() == version:
        return table
    return storage.latest(uri)


def keep_target(session: "Session", uri: str, table: Any) -> None:
    """After a write through ``table``, whose state moved to the version it committed."""
    if table is None or table.version() != session.engine.storage.local_version(uri):
        return
    key = (_store(session.engine.storage), uri)
    with _KEPT_LOCK:
        _TARGETS[key] = table
        while len(_TARGETS) > _KEPT_ENTRIES:
            _TARGETS.popitem(last=False)


def kept(session: "Session", record: dict[str, Any], table: pa.Table, version: int | None) -> None:
    """After the live table's rows were written: which Delta version of it holds the rows of
    source ``version``, and those rows kept in memory for the next merge (a Delta version
    never changes, so they need no reading back)."""
    storage, uri = session.engine.storage, record["uri"]
    written = storage.local_version(uri)
    if written is None and (latest := storage.latest(uri)) is not None:
        written = latest.version()
    record["rows_at"] = None if written is None else [version, written]
    if written is not None and table.nbytes <= _KEPT_BYTES:
        key = (_store(storage), uri, written)
        with _KEPT_LOCK:
            _KEPT[key] = table
            _KEPT.move_to_end(key)
            while len(_KEPT) > _KEPT_ENTRIES:
                _KEPT.popitem(last=False)


def _stored_rows(session: "Session", record: dict[str, Any], since: int) -> pa.Table | None:
    """The live table's rows as of source version ``since`` (None if the table holds no such
    rows: a statement that failed after writing them left a newer Delta version behind)."""
    at = record.get("rows_at")
    if not at or at[0] != since:
        return None
    key = (_store(session.engine.storage), record["uri"], at[1])
    with _KEPT_LOCK:
        found = _KEPT.get(key)
    if found is not None:
        return found
    try:
        return pa.table(session.engine.storage.open(record["uri"], as_of=at[1]).to_pyarrow_table())
    except (DeltaError, RaiseError):
        return None


def write_parts(session: "Session", record: dict[str, Any], group: GroupRecord, analysis: Analysis,
                version: int | None) -> None:
    """After a full recompute: the partial sums of the whole table, and the query that
    forms those of added rows, for the next merge."""
    project = tuple(record["project"])
    schema = inside.schema_of(session, project, group.name, session.principal)
    record["parts_query"] = render(partial_sums(analysis, schema))
    parts = inside.SessionConnection(session, project, session.principal).execute(record["parts_query"])
    _write_parts(session, record, parts, version)


def _stored_parts(session: "Session", record: dict[str, Any], since: int) -> Any:
    """The partial sums as of the group's version ``since`` (None if none were kept for it).
    The record names the parts table's Delta version it wrote, so a refresh whose statement
    failed after writing them cannot be merged twice."""
    at = record.get("parts_at")
    if not at or at[0] != since:
        return None
    try:
        return session.engine.storage.open(parts_uri(record), as_of=at[1])
    except (DeltaError, RaiseError):
        return None


def _write_parts(session: "Session", record: dict[str, Any], table: pa.Table, version: int | None) -> None:
    storage, uri = session.engine.storage, parts_uri(record)
    if storage.latest(uri) is None:
        session.on_rollback(lambda: storage.drop(uri))
    storage.write(uri, table, "overwrite", ())
    record["parts_at"] = [version, storage.latest(uri).version()]


def _part_schema(parts: Any) -> pa.Schema:
    return pa.schema(parts.schema().to_arrow())


def _keys(analysis: Aggregation) -> list[str]:
    return [*(analysis.group_by or ()), *(["date"] if analysis.window else [])]


def _combine(both: pa.Table, keys: list[str], how: dict[str, str]) -> pa.Table:
    """Rows of equal keys combined column by column (``how``), ordered as the query orders
    them: by the keys, NULLs last."""
    values = [c for c in both.column_names if c not in keys]
    merged = both.group_by(keys, use_threads=False).aggregate(
        [(c, how[c], pc.ScalarAggregateOptions(min_count=1)) for c in values])
    merged = merged.rename_columns([*keys, *values])
    if keys:
        merged = merged.sort_by([(k, "ascending", "at_end") for k in keys])
    return merged.select(both.column_names)


def _metrics(parts: pa.Table, analysis: Aggregation, keys: list[str]) -> pa.Table:
    """Each metric from the partials, with the formulas of a rolling aggregation (NULL where
    SQL's is: an average of no values, a sample variance of fewer than two)."""
    n = pc.cast(parts.column("n"), pa.float64()) if "n" in parts.column_names else None

    def ratio(top: pa.ChunkedArray, bottom: pa.ChunkedArray) -> pa.ChunkedArray:
        bottom = pc.cast(bottom, pa.float64())
        return pc.if_else(pc.equal(bottom, 0.0), None, pc.divide(pc.cast(top, pa.float64()), bottom))

    def variance() -> pa.ChunkedArray:
        s = pc.cast(parts.column("s"), pa.float64())
        spread = pc.max_element_wise(pc.subtract(pc.cast(parts.column("ss"), pa.float64()),
                                                 ratio(pc.multiply(s, s), n)), 0.0)
        return pc.if_else(pc.less(n, 2.0), None, pc.divide(spread, pc.subtract(n, 1.0)))

    formulas = {
        "count": lambda: parts.column("n"), "sum": lambda: parts.column("s"),
        "min": lambda: parts.column("lo"), "max": lambda: parts.column("hi"),
        "avg": lambda: ratio(parts.column("s"), parts.column("n")),
        "null_rate": lambda: ratio(pc.subtract(parts.column("rows"), parts.column("n")), parts.column("rows")),
        "variance": variance, "stddev": lambda: pc.sqrt(variance()),
    }
    columns = {k: parts.column(k) for k in keys}
    columns.update({m: formulas[m]() for m in analysis.metrics})
    return pa.table(columns)


def merge(old: pa.Table, new: pa.Table, analysis: Aggregation) -> pa.Table:
    """Stored rows and the rows of the added data combined per group and window, in Arrow
    (so the merge costs what the result's rows do, not the table's)."""
    if new.num_columns == 0:
        return old
    both = pa.concat_tables([old, new.select(old.column_names).cast(old.schema)])
    merged = _combine(both, _keys(analysis), {m: _MERGE[m] for m in analysis.metrics})
    return merged.select(old.column_names).cast(old.schema)
