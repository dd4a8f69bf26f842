"""Answering a top-k query from an index: graph candidates, then their rows read and scored.

The query is planned, authorized and audited first as its exact form would be (the keys, the
embedding, every selected feature and the WHERE's columns), so an index answers nobody a
query they could not run. A query of keys and score alone is answered from the graph: the
rows behind its labels are the index's own key file. Any other query reads the candidate rows
through its WHERE (a semi-join on the candidates' keys) and scores them exactly with the
kernel; when the WHERE leaves fewer than k, the graph is asked for more candidates, up to all.
"""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from raise_.engine import security
from raise_.engine.vectors import index, topk as exact

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext
    from raise_.engine.vectors.runner import Plan

#: Candidates asked of the graph for a query with a WHERE or features: k times this, at least.
OVERSAMPLE = 4
_TABLES = itertools.count()


def answer(context: "QueryContext", plan: "Plan", query: np.ndarray | None) -> pa.Table:
    frame = context.dataframe(plan.candidate)
    security.authorize_query(context.session, frame, context)
    loaded, topk, keys = plan.index, plan.topk, plan.keys
    schema = pa.schema([f for f in frame.schema() if f.name != exact.VECTOR])
    size = index.label_count(loaded)
    if query is None or size == 0:
        return exact.search(topk, iter(()), frame.schema(), None, len(keys))
    if keys_only(plan):
        return from_graph(plan, query, schema)
    wanted = min(size, max(OVERSAMPLE * topk.k, topk.k + 16))
    while True:
        labels, _ = nearest(loaded, query, wanted)
        best = _scored(context, plan, query, index.key_rows(loaded, labels))
        if best.num_rows >= topk.k or wanted >= size:
            return best
        wanted = min(size, wanted * OVERSAMPLE)


def nearest(loaded: index.Loaded, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    with loaded.lock:
        found = loaded.graph.search(query, count)
    return np.asarray(found.keys, np.int64), np.asarray(found.distances)


def keys_only(plan: "Plan") -> bool:
    """No WHERE, and every selected column besides the score is a key column."""
    items = [item for i, item in enumerate(plan.topk.tree.expressions) if i != plan.topk.position]
    plain = [item.this if isinstance(item, exp.Alias) else item for item in items]
    return plan.topk.tree.args.get("where") is None and all(
        isinstance(p, exp.Column) and p.name in plan.keys for p in plain)


def from_graph(plan: "Plan", query: np.ndarray, schema: pa.Schema) -> pa.Table:
    loaded, topk = plan.index, plan.topk
    labels, distances = nearest(loaded, query, topk.k)
    rows = index.key_rows(loaded, labels)
    items = [item for i, item in enumerate(topk.tree.expressions) if i != topk.position]
    columns = [rows.column((item.this if isinstance(item, exp.Alias) else item).name).cast(schema.field(i).type)
               for i, item in enumerate(items)]
    columns += [rows.column(k) for k in plan.keys]
    names = [schema.field(i).name for i in range(len(items))] + [exact.key_column(i) for i in range(len(plan.keys))]
    table = pa.Table.from_arrays(columns, names=names) if columns else pa.table({})
    scores = index.distances_to_scores(topk.function, distances)
    badness = -scores if topk.descending else scores
    known = ~np.isnan(badness)  # NaN (no score) never matches
    if not known.all():
        table, badness = table.filter(pa.array(known)), badness[known]
    if table.num_rows == 0:
        return exact.search(topk, iter(()), schema, None, len(plan.keys))
    # the graph's k are the answer: only ordered as Best orders them (ties by key)
    table = table.append_column(exact.SCORE, pa.array(badness, pa.float64()))
    if np.all(badness[1:] > badness[:-1]):
        return table  # already in that order, with no tie for the keys to break
    order = [(exact.SCORE, "ascending")] + [(exact.key_column(i), "ascending") for i in range(len(plan.keys))]
    return table.take(pc.sort_indices(table, sort_keys=order))


def _scored(context: "QueryContext", plan: "Plan", query: np.ndarray, candidates: pa.Table) -> pa.Table:
    """The top-k of the candidate rows that pass the query's WHERE, scored exactly."""
    name = f"__raise_vector_candidates_{next(_TABLES)}"
    context.ctx.register_record_batches(name, [candidates.to_batches() or
                                               [pa.record_batch([], schema=candidates.schema)]])
    try:
        restricted = exact.candidate_sql(plan.topk, plan.keys, plan.params, within=name)
        frame = context.dataframe(restricted)
        reader = pa.RecordBatchReader.from_stream(frame)
        return exact.search(plan.topk, reader, reader.schema, query, len(plan.keys))
    finally:
        context.ctx.deregister_table(name)
