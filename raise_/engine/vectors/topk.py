"""Exact top-k: the k closest rows by streaming the candidates through the vector kernel.

The query's own WHERE runs in DataFusion over the group's view, which hands over, batch by
batch, the selected columns, the key columns and the embedding. Each batch is scored by the
Numba kernel (``udfs.vector``) and only its best rows are kept (``numpy.argpartition``, every
row tied with the k-th kept too, so ties are decided by key and not by batch order); the
survivors are merged at the end. Nothing is sorted but k-sized slices, and the embedding is
never copied. NULL embeddings (and undefined scores, such as the cosine of a zero vector)
never match.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from grammar.errors import ValidationError
from udfs import vector as kernels

from raise_.engine.vectors.shape import TopK

if TYPE_CHECKING:
    from raise_.engine.query import QueryContext

VECTOR = "__raise_vector"
SCORE = "__raise_score"
BAD_DIMENSION = "RAISE-V601"
BAD_QUERY = "RAISE-V602"


def key_column(i: int) -> str:
    return f"__raise_key_{i}"


def with_parameters(node: exp.Expression, params: Sequence[Any] | None) -> exp.Expression | None:
    """``node`` (changed in place) with each ``$n`` replaced by its bound value as a literal; None
    when a value is not a plain number, string, boolean, NULL or list of those (DataFusion then
    runs the query)."""
    values = list(params or ())
    literals = {}
    for placeholder in node.find_all(exp.Placeholder):
        index = int(placeholder.name) - 1 if placeholder.name.isdigit() else -1
        if not 0 <= index < len(values) or (literal := _literal(values[index])) is None:
            return None
        literals[placeholder.name] = literal
    if not literals:
        return node
    return node.transform(lambda n: literals[n.name].copy() if isinstance(n, exp.Placeholder) else n, copy=False)


def _literal(value: Any) -> exp.Expression | None:
    if isinstance(value, pa.Scalar):
        value = value.as_py()
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return exp.Literal.number(repr(float(value)) if isinstance(value, (float, np.floating)) else int(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_literal(v) for v in value]
        return None if any(i is None for i in items) else exp.Array(expressions=items)
    return None


def query_vector(context: "QueryContext", query: exp.Expression, params: Sequence[Any] | None,
                 column: str, dim: int) -> np.ndarray | None:
    """The query vector as float32 (None: a NULL query, which matches nothing). A subquery is
    planned, authorized and audited like any query; another constant is evaluated by DataFusion."""
    value = _constant(context, query, params)
    if value is None:
        return None
    if not isinstance(value, (list, tuple, np.ndarray)) or not _numbers(value):
        raise ValidationError(f"the query vector must be a list of numbers, got {value!r:.80}",
                              code=BAD_QUERY, name=query.sql("duckdb"))
    if len(value) != dim:
        raise ValidationError(f"the query vector has {len(value)} dimension(s) but {column!r} has {dim}",
                              code=BAD_DIMENSION, name=column)
    return np.asarray(value, dtype=np.float32)


def _numbers(value: list | tuple | np.ndarray) -> bool:
    """Whether every item is a number (not NULL, text, a boolean or a list)."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fiu"
    try:  # Arrow's type inference checks the items in C, where a loop here would cost more
        inferred = pa.array(value)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False
    return inferred.null_count == 0 and (pa.types.is_floating(inferred.type) or pa.types.is_integer(inferred.type)
                                         or pa.types.is_null(inferred.type) and len(value) == 0)


def _constant(context: "QueryContext", query: exp.Expression, params: Sequence[Any] | None) -> Any:
    if isinstance(query, exp.Placeholder) and query.name.isdigit() and int(query.name) <= len(params or ()):
        value = params[int(query.name) - 1]
        return value.as_py() if isinstance(value, pa.Scalar) else value
    if isinstance(query, exp.Array) and all(isinstance(v, exp.Literal) and not v.is_string for v in query.expressions):
        return [float(v.this) for v in query.expressions]
    bound = with_parameters(query.copy(), params)
    if bound is None:
        raise ValidationError("the query vector's parameters must be numbers, strings or lists of numbers",
                              code=BAD_QUERY, name=query.sql("duckdb"))
    if isinstance(bound, exp.Subquery):
        result = context.run(bound.this.sql("duckdb"))
        if result.num_rows > 1 or result.num_columns != 1:
            raise ValidationError(f"the query vector's subquery must return one value, it returned "
                                  f"{result.num_rows} row(s) of {result.num_columns} column(s)",
                                  code=BAD_QUERY, name=query.sql("duckdb"))
        return result.column(0)[0].as_py() if result.num_rows else None
    # INFER('model', 'text') and other expressions: a query of their own, authorized and audited
    return context.run(exp.select(bound.as_("q")).sql("duckdb")).column(0)[0].as_py()


def candidate_sql(topk: TopK, keys: Sequence[str], params: Sequence[Any] | None,
                  within: str | None = None, *, vector: bool = True) -> str | None:
    """The query without ORDER BY/LIMIT, the score replaced by the embedding (``vector=False``:
    left out) and the keys added; ``within``: only rows whose keys are in that table (each key
    column matched on its own)."""
    # the score (which holds the query vector) goes before the parameters are bound
    pruned = topk.tree.copy()
    pruned.set("expressions", [item for i, item in enumerate(pruned.expressions) if i != topk.position])
    tree = with_parameters(pruned, params)
    if tree is None:
        return None
    for k in keys if within else ():
        tree = tree.where(exp.column(k, quoted=True).isin(
            query=exp.select(exp.column(k, quoted=True)).from_(exp.table_(within, quoted=True))))
    items = list(tree.expressions)
    if vector:
        items.append(exp.column(topk.column, quoted=True).as_(VECTOR))
    items.extend(exp.column(k, quoted=True).as_(key_column(i)) for i, k in enumerate(keys))
    tree.set("expressions", items)
    tree.set("order", None)
    tree.set("limit", None)
    return tree.sql("duckdb")


class Best:
    """The k best rows seen so far, kept as small tables; ``badness`` is smaller for closer."""

    def __init__(self, k: int, keys: int) -> None:
        self.k, self.keys = k, keys
        self.parts: list[pa.Table] = []
        self.held = 0
        self.threshold = np.inf

    def add(self, rows: pa.Table, badness: np.ndarray) -> None:
        keep = np.flatnonzero(badness <= self.threshold)  # NaN (no score) never passes
        if keep.size > self.k:
            kth = np.partition(badness[keep], self.k - 1)[self.k - 1]
            keep = keep[badness[keep] <= kth]
        if keep.size == 0:
            return
        part = rows.take(pa.array(keep)).append_column(SCORE, pa.array(badness[keep], pa.float64()))
        self.parts.append(part)
        self.held += part.num_rows
        if self.held >= 4 * self.k:
            self.parts = [self.table()]
            self.held = self.parts[0].num_rows
        if self.held >= self.k:
            self.threshold = min(self.threshold, float(np.partition(
                np.concatenate([p.column(SCORE).to_numpy() for p in self.parts]), self.k - 1)[self.k - 1]))

    def table(self) -> pa.Table:
        """The best k rows, closest first, ties in key order."""
        merged = pa.concat_tables(self.parts)
        order = [(SCORE, "ascending")] + [(key_column(i), "ascending") for i in range(self.keys)]
        return merged.take(pc.sort_indices(merged, sort_keys=order)[: self.k])


def badness(topk: TopK, vectors: pa.Array | pa.ChunkedArray, query: np.ndarray) -> np.ndarray:
    """The metric of each row as 'smaller is closer' float64; NaN where there is no score."""
    scores = kernels.evaluate(kernels.BY_NAME[topk.function], vectors, query)
    values = scores.to_numpy(zero_copy_only=False) if scores.null_count else scores.to_numpy()
    values = np.asarray(values, dtype=np.float64)
    return -values if topk.descending else values


def search(topk: TopK, batches: Iterable[pa.RecordBatch], schema: pa.Schema, query: np.ndarray | None,
           keys: int) -> pa.Table:
    """The top-k rows of ``batches`` (candidate rows of ``schema``), as ``Best.table``."""
    best = Best(topk.k, keys)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        vectors = batch.column(VECTOR)
        rows = pa.Table.from_batches([batch.drop_columns([VECTOR])])
        chosen = _contenders(topk, vectors, query, best)
        if chosen is None:
            best.add(rows, badness(topk, vectors, query))
        elif chosen.size:
            best.add(rows.take(pa.array(chosen)), badness(topk, vectors.take(pa.array(chosen)), query))
    if not best.parts:
        empty = pa.schema([f for f in schema if f.name != VECTOR])
        return empty.empty_table().append_column(SCORE, pa.array([], pa.float64()))
    return best.table()


def _contenders(topk: TopK, vectors: pa.Array, query: np.ndarray, best: Best) -> np.ndarray | None:
    """The rows of a batch that may be among the k best, by the fused float32 first pass
    (``udfs.vector.ranked``): every row whose best case, within its error bound, beats the
    k-th best worst case. Only those are scored exactly, so the answer is the exact one.
    None: the first pass does not apply, score every row."""
    function = kernels.BY_NAME[topk.function]
    if function.name == "cosine_similarity" and not np.any(query):
        return np.zeros(0, np.int64)  # the cosine with a zero vector is undefined: no row matches
    first = kernels.ranked(function, vectors, query)
    if first is None:
        return None
    approx, bound = first
    if topk.descending:
        approx = -approx
    lower, upper = approx - bound, approx + bound
    known = np.flatnonzero(~np.isnan(upper))
    cut = best.threshold
    if known.size >= topk.k:
        cut = min(cut, float(np.partition(upper[known], topk.k - 1)[topk.k - 1]))
    return np.flatnonzero(lower <= cut)


def finish(topk: TopK, best: pa.Table, keys: int) -> pa.Table:
    """The result in the query's own columns: the score (back in its sign) where it was selected."""
    score = pc.negate(best.column(SCORE)) if topk.descending else best.column(SCORE)
    hidden = {SCORE, *(key_column(i) for i in range(keys))}
    columns = [(name, best.column(name)) for name in best.column_names if name not in hidden]
    if topk.position is not None:
        columns.insert(topk.position, (topk.alias, score))
    return pa.Table.from_arrays([c for _, c in columns], names=[n for n, _ in columns])
