"""``analyze``: check an analysis against its group, answer from the cache when the freshness
allows, otherwise compile it to SQL, run it through the connection and finish the result.

The query travels like any other SQL the SDK sends (embedded or over Flight), so the engine
authorizes every column it reads and audits it; nothing about analyses is trusted on the
client side.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import random
import threading
import weakref
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import ast
from grammar.errors import NotFound, ValidationError
from raise_.analytics import ranks
from raise_.analytics.compile import (
    compile_analysis, order_statistics, render, shifted_correlation, sorted_distribution,
)
from raise_.analytics.finish import binned_distribution, cancelled, finish
from raise_.analytics.freshness import Freshness, ResultCache, as_freshness
from raise_.analytics.results import AnalysisResult, result_for
from raise_.analytics.schema import GroupSchema, check, load_schema
from raise_.analytics.spec import Analysis, Correlation, Distribution, RecordLookup, VersionDiff

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["analyze", "resolve_group"]

_CACHES: "weakref.WeakKeyDictionary[Executor, ResultCache]" = weakref.WeakKeyDictionary()


def cache_of(executor: "Executor") -> ResultCache:
    """The result cache of one connection (results never cross principals)."""
    with executor.lock:
        return _CACHES.setdefault(executor, ResultCache())


def _require(analysis: Any) -> Analysis:
    if not isinstance(analysis, Analysis):
        raise ValidationError(f"analyze() takes an analysis (Aggregation, Distribution, Correlation, "
                              f"VersionDiff, StatTest, RecordLookup), got {analysis!r}",
                              code="RAISE-V400", name=repr(analysis))
    return analysis


def analyze(executor: "Executor", project: tuple[str, ...], group: str, analysis: Analysis,
            freshness: Freshness | None = None) -> AnalysisResult:
    """Run ``analysis`` over ``project/group`` (see ``FeatureGroup.analyze``)."""
    analysis, freshness = _require(analysis), as_freshness(freshness)
    schema = load_schema(executor, project, group)
    check(analysis, schema)
    cache = cache_of(executor)
    key = ResultCache.key("/".join((*project, group)), analysis.to_dict(), schema.table_version,
                          _feature_versions(analysis, schema))
    found = cache.get(key, freshness)
    if found is not None:
        return found
    result = _compute(executor, project, analysis, schema)
    cache.put(key, result)
    return result


def _feature_versions(analysis: Analysis, schema: GroupSchema) -> dict[str, str]:
    names = {c.partition("@")[0] for c in analysis.columns()}
    return {n: schema.features[n].version for n in names if n in schema.features}


def _compute(executor: "Executor", project: tuple[str, ...], analysis: Analysis,
             schema: GroupSchema) -> AnalysisResult:
    runnable = _seeded(analysis)
    text = _sql_of(runnable, schema)
    table = None if text is None else executor.query(project, text)
    if isinstance(runnable, Correlation) and cancelled(runnable, table):
        text = render(shifted_correlation(runnable, schema))
        table = executor.query(project, text)
    if isinstance(runnable, Distribution):
        data, text = _distribution(executor, project, runnable, schema, table, text)
    else:
        data = finish(runnable, schema, table)
    return result_for(analysis)(runnable, data, computed_at=dt.datetime.now(dt.timezone.utc),
                                table_version=schema.table_version, sql=text)


_COMPILED: "collections.OrderedDict[tuple, str | None]" = collections.OrderedDict()
_COMPILED_ENTRIES = 256
_COMPILED_LOCK = threading.Lock()


def _sql_of(analysis: Analysis, schema: GroupSchema) -> str | None:
    """The SQL text of ``analysis`` over ``schema``, compiled once per analysis and group
    shape (building and rendering the expression tree costs more than a small query)."""
    if isinstance(analysis, VersionDiff):  # reads feature versions' records while compiling
        query = compile_analysis(analysis, schema)
        return None if query is None else render(query)
    key = (json.dumps(analysis.to_dict(), sort_keys=True, default=str), schema.project, schema.name,
           schema.keys, schema.timestamp, tuple((n, str(t)) for n, t in schema.dtypes.items()))
    with _COMPILED_LOCK:
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key]
    query = compile_analysis(analysis, schema)
    text = None if query is None else render(query)
    with _COMPILED_LOCK:
        _COMPILED[key] = text
        while len(_COMPILED) > _COMPILED_ENTRIES:
            _COMPILED.popitem(last=False)
    return text


def _distribution(executor: "Executor", project: tuple[str, ...], analysis: Distribution, schema: GroupSchema,
                  binned: pa.Table, text: str) -> tuple[dict[str, Any], str]:
    """The percentiles' order statistics from a second query over the bins that hold them
    (``ranks``), or all of it in one ``PERCENTILE_CONT`` query when a value is not finite
    (a histogram then has no equal-width bins: refused, as numpy.histogram refuses it)."""
    if binned.num_rows and not ranks.finite(binned):
        if "histogram" in analysis.metrics:
            raise ValidationError(f"a histogram of {analysis.feature!r} needs finite values, but its range "
                                  f"[{binned.column('lo')[0]}, {binned.column('hi')[0]}] is not: filter out NaN "
                                  "and infinite values, or ask for metrics=['percentiles'] alone",
                                  code="RAISE-V409", name=analysis.feature)
        text = render(sorted_distribution(analysis, schema))
        return finish(analysis, schema, executor.query(project, text)), text
    second, candidates = order_statistics(analysis, schema, binned)
    values = None
    if second is not None:
        more = render(second)
        values, text = executor.query(project, more), f"{text};\n{more}"
    return binned_distribution(analysis, binned, values, candidates), text


def _seeded(analysis: Analysis) -> Analysis:
    """A sample without a seed draws one, and the result's analysis records it."""
    if isinstance(analysis, RecordLookup) and analysis.sample is not None and analysis.seed is None:
        return dataclasses.replace(analysis, seed=random.SystemRandom().randrange(2 ** 31))
    return analysis


def resolve_group(executor: "Executor", project: tuple[str, ...], analysis: Analysis) -> str:
    """The one group of ``project`` that has every feature ``analysis`` reads (for
    ``fs.analyze(...)`` without ``group=``)."""
    _require(analysis)
    with executor.lock:
        executor.use(project)
        rows = executor.run(ast.Show(kind="features")).to_pylist()
    wanted = {c.partition("@")[0] for c in analysis.columns()}
    known = {r["name"] for r in rows}
    by_group: dict[str, set[str]] = {}
    for row in rows:
        by_group.setdefault(row["group"], set()).add(row["name"])
    features = wanted & known
    candidates = sorted(g for g, names in by_group.items() if features and features <= names)
    if not candidates:
        missing = sorted(wanted - known) or sorted(wanted)
        raise NotFound(f"no feature group of {'/'.join(project)} has {', '.join(map(repr, missing))}",
                       code="RAISE-N400", name=missing[0])
    if len(candidates) > 1:
        raise ValidationError(f"features {sorted(features)} are in several groups ({', '.join(candidates)}); "
                              "pass group= or use group.analyze(...)", code="RAISE-V408", name=candidates[0])
    return candidates[0]
