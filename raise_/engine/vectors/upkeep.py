"""Keeping an index at the table's version: the Change Data Feed applied to the graph.

Per key only its last change since the covered version counts: an insert or an update's new
row adds the vector (replacing the one the key had), a delete or a NULL embedding removes it.
A table overwritten since, or whose feed cannot be read, is indexed again from scratch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raise_.engine.storage import last_per_key
from raise_.engine.vectors import index

if TYPE_CHECKING:
    from raise_.engine.session import Session

_REWRITES = ("overwrite", "create or replace table", "replace table")


def catch_up(session: "Session", loaded: index.Loaded, group: Any, latest: int) -> index.Loaded:
    """``loaded`` brought to table version ``latest`` and saved there."""
    changes = _changes(session, loaded, group, latest)
    if changes is None:
        record = index.build(session, {**loaded.record, "version": loaded.version}, group)
        index.store(session, record)
        return index._load(record)
    _apply(loaded, changes, list(group.key_names))
    return index.save_version(session, loaded, latest)


def _changes(session: "Session", loaded: index.Loaded, group: Any, latest: int) -> pa.Table | None:
    """The last change per key after the covered version, or None when only a rebuild will do."""
    table = session.engine.storage.open(group.uri)
    for entry in table.history():
        version = entry.get("version")
        mode = str((entry.get("operationParameters") or {}).get("mode", "")).lower()
        if version is not None and version > loaded.version and (
                mode in _REWRITES or str(entry.get("operation", "")).lower() in _REWRITES):
            return None
    try:
        feed = pa.table(table.load_cdf(starting_version=loaded.version + 1, ending_version=latest))
    except Exception:  # noqa: BLE001 - a vacuumed or disabled feed: rebuild instead
        return None
    column = loaded.record["column"]
    if column not in feed.column_names:
        return feed.slice(0, 0) if feed.num_rows == 0 else None
    feed = _without_views(feed.select([*group.key_names, column, "_change_type", "_commit_version"]))
    feed = feed.filter(pc.not_equal(feed.column("_change_type"), "update_preimage"))
    feed = feed.take(pc.sort_indices(feed, sort_keys=[("_commit_version", "ascending")]))
    return last_per_key(feed.drop_columns(["_commit_version"]), tuple(group.key_names))


def _without_views(table: pa.Table) -> pa.Table:
    """String and binary view columns (how the feed reads them) as plain ones, which every
    compute kernel takes."""
    plain = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
    return table.cast(pa.schema([f.with_type(plain.get(f.type, f.type)) for f in table.schema]))


def _apply(loaded: index.Loaded, changes: pa.Table, keys: list[str]) -> None:
    if changes.num_rows == 0:
        return
    record = loaded.record
    column = changes.column(record["column"])
    kinds = changes.column("_change_type").to_pylist()
    key_values = list(zip(*(changes.column(k).to_pylist() for k in keys)))
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    labels = np.zeros(len(key_values), np.int64)
    fresh: list[int] = []
    for i, key in enumerate(key_values):
        label = loaded.label_of(key)
        if label is not None and loaded.graph.contains(label):
            loaded.graph.remove(label)
        if kinds[i] == "delete" or not valid[i]:
            continue
        if label is None:
            label = loaded.keys.num_rows + len(fresh)
            loaded.lookup[key] = label
            fresh.append(i)
        labels[i] = label
    if fresh:
        loaded.keys = pa.concat_tables([loaded.keys, changes.select(keys).take(pa.array(fresh)).cast(loaded.keys.schema)])
    adding = np.flatnonzero([kinds[i] != "delete" and valid[i] for i in range(len(kinds))])
    if adding.size:
        _, block = index.vectors_of(column.take(pa.array(adding)), record["dim"])
        loaded.graph.add(labels[adding].astype(np.uint64), block)
