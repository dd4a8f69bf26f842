"""Vector search from the SDK: ``group.search``, ``fs.search``, ``feature.create_index``.

A search is one top-k query, built with sqlglot and sent through the connection like every
SDK call (so it runs the same in-process and over Flight, where the query vector travels as
a bound parameter of a prepared statement)::

    SELECT "item_id", "category", cosine_similarity("item_embedding", $1) AS "score"
    FROM "item-signals" WHERE category = 'shoes' ORDER BY "score" DESC LIMIT 10

The engine answers it from the feature's vector index when one exists, else exactly. A text
query is embedded by the model registered with the feature's index (``WITH (model =
'minilm')``), inside the same query: ``cosine_similarity("item_embedding", INFER('minilm', $1))``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pyarrow as pa
from sqlglot import exp

from grammar import render
from grammar.errors import ValidationError
from grammar.vectors import CreateVectorIndex, ShowVectorIndexes
from raise_.sdk import html
from raise_.sdk.compile import QueryDialect, _condition, group_ref

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

#: ``metric=`` -> (SQL function, whether larger is closer).
METRICS = {"cosine": ("cosine_similarity", True), "dot": ("dot", True), "l2": ("l2_distance", False)}
SCORE = "score"
NO_MODEL = "RAISE-V607"
BAD_SEARCH = "RAISE-V608"


@dataclass(frozen=True)
class SearchResult:
    """The nearest rows, closest first: ``keys``, ``scores`` and the requested features."""

    table: pa.Table
    key_columns: tuple[str, ...]
    metric: str

    @property
    def keys(self) -> list[Any]:
        """Each row's key (a tuple for a group with several key columns)."""
        columns = [self.table.column(k).to_pylist() for k in self.key_columns]
        return columns[0] if len(columns) == 1 else list(zip(*columns))

    @property
    def scores(self) -> np.ndarray:
        return self.table.column(SCORE).to_numpy()

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self):
        return self.table.to_pandas()

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        return f"SearchResult({self.table.num_rows} rows, metric={self.metric!r}, columns={self.table.column_names})"

    def _repr_html_(self) -> str:
        rows = [[row[c] for c in self.table.column_names] for row in self.table.to_pylist()]
        return html.grid(f"{self.table.num_rows} nearest rows ({self.metric})", self.table.column_names, rows)


def dotted_path(path: str) -> str:
    """``items.emb`` and ``rec/items.emb`` as the slash paths ``split_feature_path`` reads."""
    head, _, last = path.rpartition("/") if isinstance(path, str) else ("", "", path)
    if isinstance(last, str) and "." in last:
        group, _, feature = last.rpartition(".")
        return "/".join(p for p in (head, group, feature) if p)
    return path


def search_sql(*, group: str, keys: Sequence[str], feature: str, metric: str, top_k: int,
               features: Sequence[str] = (), filter: str | None = None, model: str | None = None) -> str:
    """The top-k query of a search; ``$1`` is the query vector (or text, with ``model``)."""
    if metric not in METRICS:
        raise ValidationError(f"unknown metric {metric!r}; metrics: {', '.join(METRICS)}", code="RAISE-V605",
                              name=str(metric))
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
        raise ValidationError(f"top_k is the number of rows to return, at least 1, not {top_k!r}",
                              code="RAISE-V600", name=repr(top_k))
    return _search_text(group, tuple(keys), feature, metric, top_k, tuple(features), filter, model)


@functools.lru_cache(maxsize=256)
def _search_text(group: str, keys: tuple[str, ...], feature: str, metric: str, top_k: int,
                 features: tuple[str, ...], filter: str | None, model: str | None) -> str:
    """The text of a search (the same text each time, so the prepared statement is reused)."""
    function, larger_closer = METRICS[metric]
    query: exp.Expression = exp.Parameter(this=exp.Literal.number(1))
    if model is not None:
        query = exp.Anonymous(this="INFER", expressions=[exp.Literal.string(model), query])
    score = exp.Anonymous(this=function, expressions=[exp.column(feature, quoted=True), query])
    columns = [exp.column(c, quoted=True) for c in dict.fromkeys([*keys, *features])]
    tree = exp.select(*columns, score.as_(SCORE, quoted=True)).from_(exp.table_(group, quoted=True))
    if filter is not None:
        tree = tree.where(_condition(filter))
    tree = tree.order_by(exp.Ordered(this=exp.column(SCORE, quoted=True), desc=larger_closer)).limit(top_k)
    return tree.sql(dialect=QueryDialect)


def index_of(executor: "Executor", project: tuple[str, ...], group: str, feature: str) -> dict[str, Any]:
    """The SHOW VECTOR INDEXES row of ``feature``'s index (empty: none), asked as a prepared
    statement: the engine answers it again only after a catalog change."""
    table = executor.send_prepared(render(ShowVectorIndexes(within=group_ref(project, group))), [])
    return next((r for r in table.to_pylist() if r["feature"] == feature), {})


def query_value(query: Any, model: str | None, feature: str) -> Any:
    """The bound value for ``$1``: a list of floats, or the text for the feature's model."""
    if isinstance(query, str):
        if model is None:
            raise ValidationError(f"{feature!r} has no model to embed a text query with (create its index "
                                  "WITH (model = '...')); pass the query as a vector", code=NO_MODEL, name=feature)
        return query
    if isinstance(query, pa.Scalar):
        query = query.as_py()
    elif isinstance(query, (pa.Array, pa.ChunkedArray)):
        query = query.to_pylist()
    values = np.asarray(query, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValidationError(f"query is one vector (a list or 1-D array of numbers) or a text, got shape "
                              f"{values.shape}", code=BAD_SEARCH, name="query")
    return values.tolist()


def create_index(executor: "Executor", project: tuple[str, ...], group: str, feature: str, *, metric: str,
                 method: str, name: str | None, params: dict[str, Any]) -> pa.Table:
    options = (("metric", metric), *((k, v) for k, v in params.items()))
    return executor.run(CreateVectorIndex(group=group_ref(project, group), feature=feature, name=name,
                                          method=method.lower(), options=options))
