"""Recognising a vector top-k query.

The shape is ``SELECT ..., <metric>(embedding, <query>) AS s FROM <group> [WHERE ...] ORDER BY s
<direction> LIMIT k``: one feature group, no joins, grouping, DISTINCT or windows, ORDER BY the
score alone in the metric's direction (``cosine_similarity`` and ``dot``/``dot_product``
descending, ``l2_distance`` ascending), and a literal ``LIMIT``. The query vector is a
constant expression (``[0.1, 0.2]``), a placeholder (``$1``) or a scalar subquery. Anything
else is an ordinary query and DataFusion runs it as written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from grammar.errors import ValidationError

#: SQL metric -> (the vector function that computes it, whether larger scores are closer).
METRICS = {"cosine_similarity": ("cosine_similarity", True), "dot": ("dot", True),
           "dot_product": ("dot", True), "l2_distance": ("l2_distance", False)}
BAD_LIMIT = "RAISE-V600"

_CANDIDATE = re.compile(r"\b(?:dot|dot_product|cosine_similarity|l2_distance)\s*\(", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TopK:
    """One recognised top-k query."""

    tree: exp.Select
    table: exp.Table
    #: Index of the score in the select list (None: ORDER BY a call that is not selected).
    position: int | None
    alias: str
    function: str
    descending: bool
    column: str
    query: exp.Expression
    k: int

    @property
    def time_travel(self) -> bool:
        """``FROM g VERSION|TIMESTAMP AS OF x``: an older snapshot, which no index covers."""
        return self.table.args.get("version") is not None

    @property
    def group_path(self) -> str:
        """The group as the session resolves it: ``name`` or ``org/domain/project/name``."""
        parts = [self.table.catalog, self.table.db, self.table.name]
        return "/".join(p for p in parts if p)


def might_be(sql: str) -> bool:
    """A cheap test run on every query: only these are parsed again."""
    return _CANDIDATE.search(sql) is not None and re.search(r"\blimit\b", sql, re.IGNORECASE) is not None


def recognise(sql: str) -> TopK | None:
    """The top-k query ``sql`` is, else None."""
    if not might_be(sql):
        return None
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or any(tree.args.get(k) for k in ("joins", "group", "having",
                                                                           "distinct", "with", "offset")):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    order, limit = tree.args.get("order"), tree.args.get("limit")
    if source is None or not isinstance(source.this, exp.Table) or order is None or limit is None:
        return None
    if len(order.expressions) != 1 or tree.find(exp.Window) is not None:
        return None
    found = _score(tree, order.expressions[0])
    if found is None:
        return None
    position, alias, call = found
    function, larger_closer = METRICS[call.name.lower()]
    ordered = order.expressions[0]
    if bool(ordered.args.get("desc")) != larger_closer:
        return None  # the farthest rows first: not a nearest-neighbour search
    vector, query = call.expressions
    if not isinstance(vector, exp.Column) or vector.table:
        return None
    return TopK(tree=tree, table=source.this, position=position, alias=alias, function=function,
                descending=larger_closer, column=vector.name, query=query, k=_limit(limit))


def _score(tree: exp.Select, ordered: exp.Ordered):
    """(select position, output name, metric call) of the ORDER BY target, or None."""
    target = ordered.this
    for position, item in enumerate(tree.expressions):
        value = item.this if isinstance(item, exp.Alias) else item
        named = isinstance(target, exp.Column) and not target.table and item.alias_or_name == target.name
        if _is_metric(value) and (named or value == target):
            return position, item.alias_or_name, value
    if _is_metric(target):
        return None, "__raise_score", target
    return None


def _is_metric(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Anonymous) and node.name.lower() in METRICS
            and len(node.expressions) == 2)


def _limit(limit: exp.Limit) -> int:
    value = limit.expression
    number = value.this if isinstance(value, exp.Neg) else value
    if not isinstance(number, exp.Literal) or number.is_string or not number.this.isdigit():
        raise ValidationError(f"a vector search takes a whole number LIMIT, not {value.sql()}",
                              code=BAD_LIMIT, name=value.sql())
    k = -int(number.this) if isinstance(value, exp.Neg) else int(number.this)
    if k <= 0:
        raise ValidationError(f"a vector search returns the k nearest rows: LIMIT {k} must be at least 1",
                              code=BAD_LIMIT, name=str(k))
    return k
