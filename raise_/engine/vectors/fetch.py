"""A prepared search that selects features or has a WHERE: its rows read once per index version.

The query's rows (its WHERE over the group's view, its selected features and its keys, without
the embedding) are read through DataFusion once per prepared search, catalog generation,
principal and index version, then reused by every search until one of those changes. Each
search asks the graph for candidates, keeps those whose key is among the rows, in the graph's
order, and asks for more (``OVERSAMPLE`` times as many, up to every vector) while fewer than k
remain. When the WHERE keeps at most ``EXACT_ROWS`` rows, they are read with their embeddings
instead and searched exactly with the kernel: a filter that removes most rows loses no recall.

Only a WHERE whose rows depend on this group's table alone is read once: one with a parameter,
a subquery, a clock or a random function runs the general way (``accepts``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from sqlglot import exp

from raise_.engine.vectors import candidates, index, topk as exact

if TYPE_CHECKING:
    from raise_.engine.session import Session
    from raise_.engine.vectors.runner import Plan

#: A WHERE that keeps at most this many rows is searched exactly over those rows.
EXACT_ROWS = 20_000
OVERSAMPLE = candidates.OVERSAMPLE
_VOLATILE = {"now", "random", "rand", "uuid", "current_timestamp", "current_date", "current_time",
             "localtimestamp", "localtime", "to_timestamp_now"}
_ROW = "__raise_row"
_LABEL = "__raise_label"


def accepts(plan: "Plan") -> bool:
    """Whether the query's rows (all but the score) are fixed by the table's version."""
    tree = plan.topk.tree
    rest = [item for i, item in enumerate(tree.expressions) if i != plan.topk.position]
    where = tree.args.get("where")
    nodes = [*rest, *([where] if where is not None else [])]
    for node in nodes:
        for part in node.walk():
            if isinstance(part, (exp.Placeholder, exp.Subquery, exp.Select, exp.CurrentTimestamp,
                                 exp.CurrentDate, exp.CurrentTime, exp.Rand)):
                return False
            if isinstance(part, (exp.Anonymous, exp.Func)) and part.name.lower() in _VOLATILE:
                return False
    return True


@dataclass(frozen=True)
class Rows:
    """The query's rows at index ``version`` (over ``labels`` labels): ``table`` holds the
    selected columns and the keys as ``topk.key_column(i)``; ``position`` the row of each label
    (-1: the WHERE drops it); ``vectors`` the rows with their embeddings when few pass."""

    version: int
    labels: int
    table: pa.Table
    position: np.ndarray | None = None
    vectors: pa.Table | None = None

    def covers(self, loaded: index.Loaded) -> bool:
        return self.version == loaded.version and self.labels == loaded.keys.num_rows


def read(session: "Session", sql: str, plan: "Plan", loaded: index.Loaded) -> Rows:
    """The rows of ``plan``'s query at ``loaded``'s version, mapped to its labels."""
    context = session.query_context(sql)
    text = exact.candidate_sql(plan.topk, plan.keys, plan.params, vector=False)
    table = context.dataframe(text).to_arrow_table()
    version, labels = loaded.version, loaded.keys.num_rows
    if table.num_rows <= EXACT_ROWS:
        with_vectors = context.dataframe(exact.candidate_sql(plan.topk, plan.keys, plan.params)).to_arrow_table()
        return Rows(version, labels, table, vectors=with_vectors)
    return Rows(version, labels, table, position=_positions(loaded.keys, table, plan.keys))


def _positions(keys: pa.Table, table: pa.Table, names: tuple[str, ...]) -> np.ndarray:
    """The row of ``table`` holding each label's key, -1 where none does."""
    own = table.select([exact.key_column(i) for i in range(len(names))]).rename_columns(list(names))
    own = own.cast(keys.schema).append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    labelled = keys.append_column(_LABEL, pa.array(np.arange(keys.num_rows, dtype=np.int64)))
    joined = labelled.join(own, keys=list(names), join_type="inner")
    position = np.full(keys.num_rows, -1, np.int64)
    position[joined.column(_LABEL).to_numpy()] = joined.column(_ROW).to_numpy()
    return position


def best(plan: "Plan", loaded: index.Loaded, rows: Rows, query: np.ndarray) -> pa.Table:
    """The top-k of ``rows`` for ``query``, as ``topk.Best.table``."""
    topk, keys = plan.topk, len(plan.keys)
    if rows.vectors is not None:
        return exact.search(topk, rows.vectors.to_batches(), rows.vectors.schema, query, keys)
    size, passing = index.label_count(loaded), int(np.count_nonzero(rows.position >= 0))
    empty = exact.search(topk, iter(()), rows.table.schema, None, keys)
    if passing == 0 or size == 0:
        return empty
    wanted = min(size, max(OVERSAMPLE * topk.k, topk.k + 16, math.ceil(2 * topk.k * size / passing)))
    while True:
        labels, distances = candidates.nearest(loaded, query, wanted)
        inside = labels < rows.position.size
        labels, distances = labels[inside], distances[inside]
        found = rows.position[labels]
        keep = found >= 0
        if np.count_nonzero(keep) >= topk.k or wanted >= size:
            break
        wanted = min(size, wanted * OVERSAMPLE)
    if not keep.any():
        return empty
    scores = index.distances_to_scores(topk.function, distances[keep])
    chosen = exact.Best(topk.k, keys)
    chosen.add(rows.table.take(pa.array(found[keep])), -scores if topk.descending else scores)
    return chosen.table()
