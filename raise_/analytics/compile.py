"""Each analysis as one SQL query over its group's view, built as a sqlglot tree.

The engine runs the query like any other (so ACLs, audit and time travel apply unchanged):
aggregates, windows, histograms and percentiles are computed by DataFusion, and only the
small result comes back. ``compile_analysis(analysis, schema)`` returns the tree, or None for
an analysis that needs no data (a schema-only ``VersionDiff``); ``render`` prints it as the
SQL the engine reads. Output column names are the contract with ``raise_.analytics.finish``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from grammar.dtypes import DType, parse_dtype
from grammar.errors import RaiseSyntaxError, ValidationError
from raise_.analytics import ranks
from raise_.analytics.schema import GroupSchema, is_numeric
from raise_.analytics.spec import (
    PERCENTILES, Aggregation, Analysis, Correlation, Distribution, Duration, RecordLookup, StatTest,
    VersionDiff,
)
from raise_.sdk.compile import QueryDialect

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["compile_analysis", "render", "order_statistics", "sorted_distribution", "partial_sums",
           "shifted_correlation", "DRIFT_BINS", "EPOCH"]

EPOCH = "1970-01-01 00:00:00"
# PSI is conventionally read over ten bins.
DRIFT_BINS = 10


def render(query: exp.Expression) -> str:
    return query.sql(dialect=QueryDialect)


def compile_analysis(analysis: Analysis, schema: GroupSchema) -> exp.Select | None:
    return _COMPILERS[type(analysis)](analysis, schema)


# ------------------------------------------------------------------ helpers


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _source(schema: GroupSchema) -> exp.Table:
    return exp.Table(this=exp.to_identifier(schema.name, quoted=True))


def _double(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, exp.DataType.Type.DOUBLE)


def _ratio(top: exp.Expression, bottom: exp.Expression) -> exp.Expression:
    return exp.Div(this=_double(top), expression=exp.Nullif(this=bottom, expression=exp.Literal.number(0)))


def _interval(duration: Duration) -> exp.Interval:
    return exp.Interval(this=exp.Literal.string(str(duration.count)), unit=exp.Var(this=duration.unit))


def _not_null(*columns: exp.Expression) -> exp.Expression:
    return exp.and_(*(exp.Not(this=exp.Is(this=c, expression=exp.Null())) for c in columns))


def _alias(expression: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(expression, name, quoted=True)


def _subquery(query: exp.Select, name: str) -> exp.Subquery:
    return query.subquery(exp.to_identifier(name, quoted=True))


# ------------------------------------------------------------------ aggregation

_METRICS: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "count": lambda c: exp.Count(this=c),
    "sum": lambda c: exp.Sum(this=c),
    "avg": lambda c: exp.Avg(this=c),
    "min": lambda c: exp.Min(this=c),
    "max": lambda c: exp.Max(this=c),
    "null_rate": lambda c: _ratio(exp.Sub(this=exp.Count(this=exp.Star()), expression=exp.Count(this=c)),
                                  exp.Count(this=exp.Star())),
    "stddev": lambda c: exp.func("STDDEV_SAMP", c),
    "variance": lambda c: exp.func("VAR_SAMP", c),
    "median": lambda c: exp.Median(this=c),
    "distinct_count": lambda c: exp.Count(this=exp.Distinct(expressions=[c])),
}


def _window_start(analysis: Aggregation, schema: GroupSchema) -> exp.Expression:
    origin = exp.cast(exp.Literal.string(EPOCH), exp.DataType.Type.TIMESTAMP)
    return exp.func("DATE_BIN", _interval(analysis.duration), col(schema.timestamp), origin)


def _aggregation(analysis: Aggregation, schema: GroupSchema) -> exp.Select:
    if analysis.rolling:
        return _rolling(analysis, schema)
    feature = col(analysis.feature)
    keys = [col(c) for c in analysis.group_by or ()]
    dims: list[exp.Expression] = [_alias(k, k.name) for k in keys]
    if analysis.window:
        dims.append(_alias(_window_start(analysis, schema), "date"))
    metrics = [_alias(_METRICS[m](feature), m) for m in analysis.metrics]
    query = exp.select(*dims, *metrics).from_(_source(schema))
    if analysis.window:
        query = query.where(_not_null(col(schema.timestamp)))
    if dims:
        positions = [exp.Literal.number(i + 1) for i in range(len(dims))]
        query = query.group_by(*positions).order_by(*positions)
    return query


# Per-window partial aggregates from which each rolling metric is combined exactly.
_PARTS: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "n": lambda c: exp.Count(this=c),
    "rows": lambda c: exp.Count(this=exp.Star()),
    "s": lambda c: exp.Sum(this=c),
    "ss": lambda c: exp.Sum(this=exp.Mul(this=_double(c), expression=_double(c))),
    "lo": lambda c: exp.Min(this=c),
    "hi": lambda c: exp.Max(this=c),
}
_NEEDS = {"count": ("n",), "sum": ("s",), "avg": ("s", "n"), "min": ("lo",), "max": ("hi",),
          "null_rate": ("rows", "n"), "stddev": ("n", "s", "ss"), "variance": ("n", "s", "ss")}


def _rolling(analysis: Aggregation, schema: GroupSchema) -> exp.Select:
    """Windows' partial aggregates, combined over a RANGE frame of the trailing N windows (so
    a window without rows still counts as a period), then the last N windows kept."""
    keys = list(analysis.group_by or ())
    parts = sorted({p for m in analysis.metrics for p in _NEEDS[m]})
    feature = col(analysis.feature)
    inner = exp.select(*[_alias(col(k), k) for k in keys], _alias(_window_start(analysis, schema), "date"),
                       *[_alias(_PARTS[p](feature), p) for p in parts]).from_(_source(schema))
    inner = inner.where(_not_null(col(schema.timestamp)))
    positions = [exp.Literal.number(i + 1) for i in range(len(keys) + 1)]
    inner = inner.group_by(*positions)
    span = analysis.duration.times(analysis.periods - 1)
    spec = exp.WindowSpec(kind="RANGE", start=_interval(span), start_side="PRECEDING", end="CURRENT ROW")
    order = exp.Order(expressions=[exp.Ordered(this=col("date"))])

    def over(part: str) -> exp.Expression:
        function = {"lo": exp.Min, "hi": exp.Max}.get(part, exp.Sum)
        return exp.Window(this=function(this=col(part)), partition_by=[col(k) for k in keys] or None,
                          order=order.copy(), spec=spec.copy())

    last = exp.Window(this=exp.Max(this=col("date")))
    middle = exp.select(*[col(k) for k in keys], col("date"), *[_alias(over(p), p) for p in parts],
                        _alias(last, "last")).from_(_subquery(inner, "windows"))
    first = exp.Sub(this=col("last"), expression=_interval(span))
    outer = exp.select(*[col(k) for k in keys], col("date"), *[_alias(_rolled(m), m) for m in analysis.metrics])
    outer = outer.from_(_subquery(middle, "rolled")).where(exp.GTE(this=col("date"), expression=first))
    return outer.order_by(*[col(k) for k in keys], col("date"))


def partial_sums(analysis: Aggregation, schema: GroupSchema) -> exp.Select:
    """Per group and window, the partials (``_PARTS``) that ``analysis``'s metrics combine
    from: what an ``on_change`` live table keeps beside its rows, so that averages, null
    rates and spreads merge exactly with those of appended rows."""
    keys = list(analysis.group_by or ())
    parts = sorted({p for m in analysis.metrics for p in _NEEDS[m]})
    feature = col(analysis.feature)
    dims: list[exp.Expression] = [_alias(col(k), k) for k in keys]
    if analysis.window:
        dims.append(_alias(_window_start(analysis, schema), "date"))
    query = exp.select(*dims, *[_alias(_PARTS[p](feature), p) for p in parts]).from_(_source(schema))
    if analysis.window:
        query = query.where(_not_null(col(schema.timestamp)))
    if dims:
        query = query.group_by(*[exp.Literal.number(i + 1) for i in range(len(dims))])
    return query


def _rolled(metric: str) -> exp.Expression:
    """A metric over the trailing windows from their summed (or min/max-ed) partials."""
    if metric in ("count", "sum", "min", "max"):
        return col(_NEEDS[metric][0])
    if metric == "avg":
        return _ratio(col("s"), col("n"))
    if metric == "null_rate":
        return _ratio(exp.Sub(this=col("rows"), expression=col("n")), col("rows"))
    # sample variance from count, sum and sum of squares
    spread = exp.Sub(this=col("ss"), expression=exp.Div(
        this=exp.Mul(this=_double(col("s")), expression=_double(col("s"))), expression=_double(col("n"))))
    variance = _ratio(spread, exp.Sub(this=col("n"), expression=exp.Literal.number(1)))
    return variance if metric == "variance" else exp.func("SQRT", variance)


# ------------------------------------------------------------------ distribution


def _bin(value: exp.Expression, lo: exp.Expression, hi: exp.Expression, bins: int,
         finite_only: bool = False) -> exp.Expression:
    """The 0-based equal-width bin of ``value`` in [lo, hi] (the maximum falls in the last bin;
    when lo = hi every value goes to the middle bin, as numpy.histogram does). ``finite_only``:
    a NaN or infinite position goes to the middle bin instead of failing its cast (the caller
    sees the range is not finite and reads the values another way)."""
    width = exp.Nullif(this=exp.Sub(this=hi, expression=lo), expression=exp.Literal.number(0))
    scaled = exp.Mul(this=exp.Div(this=_double(exp.Sub(this=value, expression=lo)), expression=width),
                     expression=exp.Literal.number(bins))
    if finite_only:  # false for NaN as well: Arrow orders NaN above every number
        bounded = exp.LT(this=exp.Abs(this=scaled.copy()), expression=exp.Literal.number("1e18"))
        scaled = exp.Case(ifs=[exp.If(this=bounded, true=scaled)])
    index = exp.cast(exp.Floor(this=scaled), exp.DataType.Type.BIGINT)
    # LEAST skips NULLs, so the constant sample's NULL position is replaced before it
    middle = exp.Coalesce(this=index, expressions=[exp.Literal.number(bins // 2)])
    return exp.Least(this=middle, expressions=[exp.Literal.number(bins - 1)])


def _range(value: exp.Expression, source: exp.Expression) -> exp.Subquery:
    query = exp.select(_alias(exp.Min(this=value), "lo"), _alias(exp.Max(this=value), "hi")).from_(source)
    return _subquery(query, "range")


def _distribution(analysis: Distribution, schema: GroupSchema) -> exp.Select:
    """Counts per coarse and fine bin (``ranks``: the percentiles' ranks are then read from a
    second, small query), ordered by segment."""
    feature = col(analysis.feature, "g")
    segment = col(analysis.segment_by, "g") if analysis.segment_by else None
    source = _source(schema).as_("g", quoted=True)
    query = ranks.binned(analysis, source, feature, segment, _range(col(analysis.feature), _source(schema)),
                         lambda bins: _bin(feature.copy(), col("lo", "range"), col("hi", "range"), bins, True))
    return query.order_by(*[exp.Literal.number(i + 1) for i in range(len(query.args["group"].expressions))])


def order_statistics(analysis: Distribution, schema: GroupSchema, binned: "pa.Table"):
    """The second query of a Distribution with percentiles (see ``ranks.order_statistics``)."""
    segment = col(analysis.segment_by) if analysis.segment_by else None
    return ranks.order_statistics(analysis, binned, _source(schema), col(analysis.feature), segment)


def sorted_distribution(analysis: Distribution, schema: GroupSchema) -> exp.Select:
    """The one-query form: PERCENTILE_CONT of every value (for values that are not finite,
    and the form a peer engine is compared on)."""
    feature = col(analysis.feature)
    segment = [col(analysis.segment_by)] if analysis.segment_by else []
    stats = exp.select(*[_alias(s, "segment") for s in segment], _alias(exp.Count(this=feature), "n"),
                       *[_alias(_percentile(feature, p), f"p{p}") for p in _percentiles(analysis)])
    stats = stats.from_(_source(schema))
    if segment:
        stats = stats.group_by(exp.Literal.number(1))
    if "histogram" not in analysis.metrics:
        return stats.order_by(exp.Literal.number(1)) if segment else stats
    value = col(analysis.feature, "g")
    binned = exp.select(*[_alias(col(analysis.segment_by, "g"), "segment")] * bool(segment),
                        _alias(_bin(value, col("lo", "range"), col("hi", "range"), analysis.bins), "bin"),
                        _alias(exp.Count(this=exp.Star()), "count"),
                        *[_alias(exp.Min(this=col(b, "range")), b) for b in ("lo", "hi")])  # carried, not rescanned
    binned = binned.from_(_source(schema).as_("g", quoted=True)).join(_range(feature, _source(schema)), join_type="cross")
    binned = binned.where(_not_null(value)).group_by(*[exp.Literal.number(i + 1) for i in range(len(segment) + 1)])
    hist, summary = _subquery(binned, "h"), _subquery(stats, "s")
    picked = [col("segment", "h")] * bool(segment) + [col("bin", "h"), col("count", "h")]
    picked += [col(n, "s") for n in ("n", *[f"p{p}" for p in _percentiles(analysis)])]
    picked += [col("lo", "h"), col("hi", "h")]
    query = exp.select(*picked).from_(hist)
    if segment:
        on = exp.NullSafeEQ(this=col("segment", "h"), expression=col("segment", "s"))
        return query.join(summary, on=on, join_type="inner").order_by(col("segment", "h"), col("bin", "h"))
    return query.join(summary, join_type="cross").order_by(col("bin", "h"))


def _percentiles(analysis: Distribution) -> tuple[int, ...]:
    return PERCENTILES if "percentiles" in analysis.metrics else ()


def _percentile(value: exp.Expression, p: int) -> exp.Expression:
    order = exp.Order(expressions=[exp.Ordered(this=value)])
    return exp.WithinGroup(this=exp.PercentileCont(this=exp.Literal.number(p / 100)), expression=order)


# ------------------------------------------------------------------ correlation


def _correlation(analysis: Correlation, schema: GroupSchema) -> exp.Select:
    """Sums of each feature, its square and each pair's product, from which ``finish`` forms
    the coefficients: plain SUMs scan far faster than DataFusion's CORR. Pearson sums the
    values themselves in one pass over the group's rows (no subquery, no join); when a
    feature's mean is so far from zero that the sums of squares would cancel (``finish.
    cancelled``), the runner sends ``shifted_correlation`` instead. Spearman sums the average
    ranks themselves, whose squares stay exact in a double."""
    names = list(analysis.features)
    complete = _not_null(*[col(n) for n in names])
    if analysis.method == "kendall":  # tau-b needs the rows themselves
        return exp.select(*[col(n) for n in names]).from_(_source(schema)).where(complete)
    if analysis.method == "pearson":
        return _moments([_double(col(n)) for n in names]).from_(_source(schema)).where(complete)
    values = [f"x{i}" for i in range(len(names))]
    inner = exp.select(*[_alias(_average_rank(col(n)), v) for n, v in zip(names, values)]).from_(_source(schema))
    return _moments([col(v) for v in values]).from_(_subquery(inner.where(complete), "v"))


def shifted_correlation(analysis: Correlation, schema: GroupSchema) -> exp.Select:
    """Pearson's sums over deviations from one complete row's values (still one pass over
    the rows): the shift keeps the products from cancelling, and the coefficient does not
    depend on it."""
    names = list(analysis.features)
    values = [f"x{i}" for i in range(len(names))]
    shift = exp.select(*[_alias(_double(col(n)), v) for n, v in zip(names, values)])
    shift = shift.from_(_source(schema)).where(_not_null(*[col(n) for n in names])).limit(1)
    inner = exp.select(*[_alias(exp.Sub(this=_double(col(n, "g")), expression=col(v, "shift")), v)
                         for n, v in zip(names, values)])
    inner = inner.from_(_source(schema).as_("g", quoted=True)).join(_subquery(shift, "shift"), join_type="cross")
    inner = inner.where(_not_null(*[col(n, "g") for n in names]))
    return _moments([col(v) for v in values]).from_(_subquery(inner, "v"))


def _moments(values: list[exp.Expression]) -> exp.Select:
    """COUNT(*) as ``n``, each value's SUM as ``"i"`` and each pair's product's as ``"i:j"``."""
    sums = [_alias(exp.Sum(this=v.copy()), str(i)) for i, v in enumerate(values)]
    sums += [_alias(exp.Sum(this=exp.Mul(this=a.copy(), expression=b.copy())), f"{i}:{j}")
             for i, a in enumerate(values) for j, b in enumerate(values) if i <= j]
    return exp.select(_alias(exp.Count(this=exp.Star()), "n"), *sums)


def _average_rank(value: exp.Expression) -> exp.Expression:
    """1-based rank with ties sharing their average rank (what scipy.stats.rankdata does)."""
    rank = exp.Window(this=exp.func("RANK"), order=exp.Order(expressions=[exp.Ordered(this=value)]))
    ties = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[value])
    half = exp.Div(this=exp.Sub(this=_double(ties), expression=exp.Literal.number(1)), expression=exp.Literal.number(2))
    return exp.Add(this=_double(rank), expression=half)


# ------------------------------------------------------------------ version diff


def projection(dtype: DType, column: str) -> exp.Expression | None:
    """The scalar a version's distribution is read over: a number itself, an embedding's L2
    norm; None for anything else (compared by its distinct values)."""
    if dtype.kind == "embedding":
        return exp.func("NORM", col(column))
    return _double(col(column)) if is_numeric(dtype) else None


def _version_diff(analysis: VersionDiff, schema: GroupSchema) -> exp.Select | None:
    """Both versions' values in the same DRIFT_BINS equal-width bins over their pooled range."""
    if "distribution" not in analysis.compare:
        return None
    a, b = analysis.columns()
    dtypes = [parse_dtype(schema.version_info(analysis.feature, v).dtype) for v in (analysis.version_a, analysis.version_b)]
    xa, xb = projection(dtypes[0], a), projection(dtypes[1], b)
    if xa is None or xb is None:
        return _categories(schema, a, b)
    bounds = exp.select(_alias(exp.Least(this=exp.Min(this=xa), expressions=[exp.Min(this=xb)]), "lo"),
                        _alias(exp.Greatest(this=exp.Max(this=xa), expressions=[exp.Max(this=xb)]), "hi"))
    bounds = bounds.from_(_source(schema))
    sides = [_binned_side(schema, side, x, bounds) for side, x in ((0, xa), (1, xb))]
    query = exp.select(col("side"), col("bin"), _alias(exp.Count(this=exp.Star()), "count"))
    return query.from_(_subquery(exp.union(*sides, distinct=False), "binned")).group_by(col("side"), col("bin"))


def _binned_side(schema: GroupSchema, side: int, value: exp.Expression, bounds: exp.Select) -> exp.Select:
    binned = _bin(value, col("lo", "bounds"), col("hi", "bounds"), DRIFT_BINS)
    query = exp.select(_alias(exp.Literal.number(side), "side"), _alias(binned, "bin")).from_(_source(schema))
    return query.join(_subquery(bounds.copy(), "bounds"), join_type="cross").where(_not_null(value))


def _categories(schema: GroupSchema, a: str, b: str) -> exp.Select:
    def side(number: int, column: str) -> exp.Select:
        return exp.select(_alias(exp.Literal.number(number), "side"), _alias(exp.cast(col(column), "VARCHAR"), "bin"),
                          _alias(exp.Count(this=exp.Star()), "count")).from_(_source(schema)) \
            .where(_not_null(col(column))).group_by(exp.Literal.number(1), exp.Literal.number(2))
    return exp.union(side(0, a), side(1, b), distinct=False)


# ------------------------------------------------------------------ statistical tests


def _stat_test(analysis: StatTest, schema: GroupSchema) -> exp.Select:
    segment, value = col(analysis.segment_by), col(analysis.feature)
    arms = exp.In(this=segment, expressions=[exp.convert(analysis.control), exp.convert(analysis.treatment)])
    where = exp.and_(arms, _not_null(value))
    if analysis.test == "ttest":  # Welch's test needs only each arm's count, mean and variance
        query = exp.select(_alias(segment, "segment"), _alias(exp.Count(this=value), "n"),
                           _alias(exp.Avg(this=_double(value)), "mean"),
                           _alias(exp.func("VAR_SAMP", _double(value)), "variance"))
        return query.from_(_source(schema)).where(where).group_by(exp.Literal.number(1))
    # the other tests need each arm's value counts (the whole sample for continuous data)
    query = exp.select(_alias(segment, "segment"), _alias(value, "value"), _alias(exp.Count(this=exp.Star()), "count"))
    return query.from_(_source(schema)).where(where).group_by(exp.Literal.number(1), exp.Literal.number(2))


# ------------------------------------------------------------------ record lookup


def condition(text: str) -> exp.Expression:
    """A user's filter as a sqlglot condition (a statement is refused, not run)."""
    try:
        tree = sqlglot.parse_one(text, dialect=QueryDialect)
    except SqlglotError as error:
        raise RaiseSyntaxError(f"invalid filter {text!r}: {error}", name=text, line=1, column=1) from None
    if isinstance(tree, (exp.Query, exp.DDL, exp.DML, exp.Command)):
        raise ValidationError(f"filter must be a condition, not a statement: {text!r}", code="RAISE-V405", name=text)
    return tree


def _record_lookup(analysis: RecordLookup, schema: GroupSchema) -> exp.Select:
    columns = [*schema.leading, *[f for f in analysis.features if f not in schema.leading]]
    query = exp.select(*[col(c) for c in columns]).from_(_source(schema))
    if analysis.filter is not None:
        query = query.where(condition(analysis.filter))
    if analysis.sample is not None:
        query = query.order_by(_shuffle(analysis, schema, columns))
    elif schema.leading:
        query = query.order_by(*[col(c) for c in schema.leading])
    return query.limit(analysis.rows)


def _shuffle(analysis: RecordLookup, schema: GroupSchema, columns: list[str]) -> exp.Expression:
    """A seeded order: the MD5 of each row's identity (its keys and event time, else its
    scalar values) and the seed, so the same seed draws the same rows from the same data."""
    identity = list(schema.leading) or [c for c in columns if schema.dtypes[c].kind in ("primitive", "string")]
    parts: list[exp.Expression] = [exp.cast(col(c), "VARCHAR") for c in identity]
    parts.append(exp.Literal.string(f"|{analysis.seed or 0}"))
    return exp.MD5(this=exp.Concat(expressions=parts))


_COMPILERS: dict[type, Callable[..., exp.Select | None]] = {
    Aggregation: _aggregation, Distribution: _distribution, Correlation: _correlation,
    VersionDiff: _version_diff, StatTest: _stat_test, RecordLookup: _record_lookup,
}
