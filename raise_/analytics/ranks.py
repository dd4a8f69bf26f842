"""A Distribution's histogram and exact percentiles in two light scans instead of a sort.

``PERCENTILE_CONT`` buffers and sorts every value once per percentile. Instead the first query
counts the values per (coarse bin, fine bin) over the feature's range (``FINE_BINS`` equal-width
fine bins), with each fine bin's smallest and largest value. Bins are monotone in the value, so
the cumulative counts say which fine bin holds each order statistic a percentile needs (ranks
``floor(h)`` and ``ceil(h)`` for ``h = (n - 1) * p / 100``); the second query numbers the values
of just those bins in order (``ROW_NUMBER``) and returns the ones at those ranks. The percentile
is then interpolated linearly between them, as ``PERCENTILE_CONT`` and ``numpy.percentile`` do,
so the result is exact, not approximate. The histogram is the coarse bins' counts.

Values that are not finite (NaN, infinity) have no equal-width bins: then ``fallback`` is the
one-query form with ``PERCENTILE_CONT``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from raise_.analytics.spec import PERCENTILES, Distribution

__all__ = ["FINE_BINS", "binned", "finite", "order_statistics", "percentiles", "summaries", "histogram"]

#: Fine bins over the range: at 10M values about 600 per bin are numbered by the second query.
FINE_BINS = 1 << 14


def binned(analysis: Distribution, source: exp.Expression, value: exp.Expression,
           segment: exp.Expression | None, range_: exp.Subquery, bin_of) -> exp.Select:
    """The first query: one row per (segment, coarse bin, fine bin) with its count, smallest
    and largest value, and the range (carried, not rescanned). ``bin_of(bins)`` is the
    equal-width bin expression over the range."""
    alias = lambda e, n: exp.alias_(e, n, quoted=True)  # noqa: E731
    dims = [alias(segment, "segment")] if segment is not None else []
    dims.append(alias(bin_of(analysis.bins), "bin"))
    percentiles = "percentiles" in analysis.metrics
    if percentiles:
        dims.append(alias(bin_of(FINE_BINS), "fine"))
    measures = [alias(exp.Count(this=exp.Star()), "count")]
    if percentiles:
        measures += [alias(exp.Min(this=value.copy()), "vlo"), alias(exp.Max(this=value.copy()), "vhi")]
    measures += [alias(exp.Min(this=exp.column(b, table="range", quoted=True)), b) for b in ("lo", "hi")]
    query = exp.select(*dims, *measures).from_(source).join(range_, join_type="cross")
    query = query.where(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())))
    return query.group_by(*[exp.Literal.number(i + 1) for i in range(len(dims))])


def finite(table: pa.Table) -> bool:
    for name in ("lo", "hi"):
        column = table.column(name)
        if column.null_count == len(column):
            continue
        if pa.types.is_floating(column.type) and not pc.all(pc.is_finite(column.drop_null())).as_py():
            return False
    return True


def _segments(analysis: Distribution, table: pa.Table) -> list[tuple[Any, np.ndarray]]:
    """(segment value, row indices of ``table`` in value order) per segment."""
    if analysis.segment_by is None:
        keys, codes = [None], np.zeros(table.num_rows, dtype=np.int64)
    else:
        encoded = pc.dictionary_encode(table.column("segment")).combine_chunks()
        keys = encoded.dictionary.to_pylist() + [None]
        codes = encoded.indices.fill_null(len(keys) - 1).to_numpy(zero_copy_only=False)
    fine = table.column("fine").to_numpy() if "fine" in table.column_names else np.zeros(table.num_rows)
    bins = table.column("bin").to_numpy()
    order = np.lexsort((bins, fine, codes))
    out = []
    for code in np.unique(codes):
        out.append((keys[code], order[codes[order] == code]))
    return out


def _wanted(n: int) -> list[int]:
    """The 0-based ranks the percentiles interpolate between."""
    ranks = set()
    for p in PERCENTILES:
        h = (n - 1) * p / 100
        ranks.update((math.floor(h), min(math.ceil(h), n - 1)))
    return sorted(ranks)


def order_statistics(analysis: Distribution, table: pa.Table, source: exp.Expression,
                     value: exp.Expression, segment: exp.Expression | None) -> tuple[exp.Select | None, list]:
    """The second query (values at the needed ranks) and what reading it needs: per candidate
    bin (its number ``k``), the segment and the ranks below it. None when no percentile is
    asked for, there are no values, or a value is not finite (see ``fallback``)."""
    if "percentiles" not in analysis.metrics or table.num_rows == 0 or not finite(table):
        return None, []
    counts = table.column("count").to_numpy()
    vlo, vhi = table.column("vlo").to_pylist(), table.column("vhi").to_pylist()
    segments = table.column("segment").to_pylist() if segment is not None else None
    candidates: list[dict[str, Any]] = []
    for key, rows in _segments(analysis, table):
        cumulative = np.cumsum(counts[rows])
        n = int(cumulative[-1])
        for rank in _wanted(n):
            at = int(np.searchsorted(cumulative, rank, side="right"))
            before = int(cumulative[at - 1]) if at else 0
            row = int(rows[at])
            found = next((c for c in candidates if c["row"] == row), None)
            if found is None:
                found = {"row": row, "segment": key, "before": before, "local": set(), "n": n}
                candidates.append(found)
            found["local"].add(rank - before + 1)
    cases, keep = [], []
    for k, candidate in enumerate(candidates):
        row = candidate["row"]
        inside = exp.and_(exp.GTE(this=value.copy(), expression=exp.convert(vlo[row])),
                          exp.LTE(this=value.copy(), expression=exp.convert(vhi[row])))
        if segment is not None:
            inside = exp.and_(inside, exp.NullSafeEQ(this=segment.copy(), expression=exp.convert(segments[row])))
        cases.append((inside, k))
        ranks = exp.In(this=exp.column("rn", quoted=True),
                       expressions=[exp.Literal.number(r) for r in sorted(candidate["local"])])
        keep.append(exp.and_(exp.EQ(this=exp.column("k", quoted=True), expression=exp.Literal.number(k)), ranks))
    case = exp.Case(ifs=[exp.If(this=c, true=exp.Literal.number(k)) for c, k in cases])
    picked = exp.select(exp.alias_(case, "k", quoted=True), exp.alias_(value.copy(), "v", quoted=True))
    picked = picked.from_(source.copy()).where(exp.or_(*[c.copy() for c, _ in cases]))
    order = exp.Order(expressions=[exp.Ordered(this=exp.column("v", quoted=True))])
    number = exp.Window(this=exp.func("ROW_NUMBER"), partition_by=[exp.column("k", quoted=True)], order=order)
    numbered = exp.select(exp.column("k", quoted=True), exp.column("v", quoted=True),
                          exp.alias_(number, "rn", quoted=True)).from_(picked.subquery("picked"))
    query = exp.select(exp.column("k", quoted=True), exp.column("rn", quoted=True), exp.column("v", quoted=True))
    return query.from_(numbered.subquery("numbered")).where(exp.or_(*keep)), candidates


def percentiles(candidates: list[dict[str, Any]], values: pa.Table) -> dict[Any, dict[str, float]]:
    """Each segment's percentiles from the values at the ranks ``order_statistics`` asked for."""
    at: dict[Any, dict[int, float]] = {}
    for k, rn, v in zip(*(values.column(c).to_pylist() for c in ("k", "rn", "v"))):
        candidate = candidates[k]
        at.setdefault(candidate["segment"], {})[candidate["before"] + rn - 1] = v
    out: dict[Any, dict[str, float]] = {}
    for candidate in candidates:
        key, n = candidate["segment"], candidate["n"]
        ranked = at.get(key, {})
        found = {}
        for p in PERCENTILES:
            h = (n - 1) * p / 100
            low, high = ranked[math.floor(h)], ranked[min(math.ceil(h), n - 1)]
            found[f"p{p}"] = float(low + (h - math.floor(h)) * (high - low))
        out[key] = found
    return out


def summaries(analysis: Distribution, table: pa.Table, found: dict[Any, dict[str, float]]) -> dict[Any, dict]:
    """Each segment's count, histogram and percentiles from the first query's rows."""
    counts, bins = table.column("count").to_numpy(), table.column("bin").to_numpy()
    lo, hi = (table.column(c)[0].as_py() if table.num_rows else None for c in ("lo", "hi"))
    out: dict[Any, dict] = {}
    for key, rows in _segments(analysis, table):
        summary: dict[str, Any] = {"count": int(counts[rows].sum())}
        if "histogram" in analysis.metrics:
            summary["histogram"] = histogram(analysis.bins, lo, hi, np.bincount(
                bins[rows], weights=counts[rows], minlength=analysis.bins).astype(np.int64).tolist())
        if "percentiles" in analysis.metrics:
            summary["percentiles"] = found.get(key) or {f"p{p}": None for p in PERCENTILES}
        out[key] = summary
    return out


def histogram(bins: int, lo: Any, hi: Any, counts: list[int]) -> dict[str, list]:
    if lo is None:
        return {"bin_edges": [], "counts": []}
    lo, hi = float(lo), float(hi)
    if lo == hi:  # numpy.histogram's range for a constant sample
        lo, hi = lo - 0.5, hi + 0.5
    return {"bin_edges": np.linspace(lo, hi, bins + 1).tolist(), "counts": counts}
