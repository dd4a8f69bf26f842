"""From the small table an analysis query returns to the result's data.

Only final statistics happen here: a histogram's bin edges, a correlation matrix laid out,
p-values and intervals from ``scipy.stats``. Welch's t-test works from each arm's count, mean
and variance (sufficient statistics computed in SQL); Mann-Whitney, KS and chi-squared work
from each arm's value counts, which for continuous data is the whole sample; Kendall's tau-b
brings the rows back (it has no SQL form that scales). Everything else was computed by the
engine.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from grammar.dtypes import parse_dtype
from grammar.errors import ValidationError
from raise_.analytics import ranks
from raise_.analytics.compile import DRIFT_BINS
from raise_.analytics.schema import GroupSchema
from raise_.analytics.spec import (
    PERCENTILES, Aggregation, Analysis, Correlation, Distribution, RecordLookup, StatTest, VersionDiff,
)
from raise_.lazy import module

stats = module("scipy.stats")  # ~1 s to import: loaded by the first analysis that needs it

__all__ = ["finish", "binned_distribution", "cancelled", "CONDITION", "SCHEMA_ATTRIBUTES", "DRIFT_FLOOR", "drift"]

# What VersionDiff compares between two versions' catalog records.
SCHEMA_ATTRIBUTES = ("dtype", "nullable", "default", "derived_from", "description", "tags",
                     "validation", "status")
# How far sums of squares may exceed the squared deviations before Pearson's raw sums are
# not trusted (digits lost to cancellation: about log10 of it, of a double's 16).
CONDITION = 1e3
# Empty bins get this share so that PSI and KL stay finite.
DRIFT_FLOOR = 1e-6


def finish(analysis: Analysis, schema: GroupSchema, table: pa.Table | None) -> dict[str, Any]:
    return _FINISHERS[type(analysis)](analysis, schema, table)


def _aggregation(analysis: Aggregation, schema: GroupSchema, table: pa.Table) -> dict[str, Any]:
    rows = table.to_pylist()
    if analysis.window is None and not analysis.group_by:
        return {"metrics": {m: rows[0][m] for m in analysis.metrics}}
    return {"rows": rows}


# ------------------------------------------------------------------ distribution


def _distribution(analysis: Distribution, schema: GroupSchema, table: pa.Table) -> dict[str, Any]:
    rows = table.to_pylist()
    by_segment: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        by_segment.setdefault(row.get("segment"), []).append(row)
    parts = {segment: _summary(analysis, group) for segment, group in by_segment.items()}
    if analysis.segment_by is None:
        return parts.get(None) or _summary(analysis, [])
    return {"segments": parts}


def binned_distribution(analysis: Distribution, binned: pa.Table, values: pa.Table | None,
                        candidates: list) -> dict[str, Any]:
    """A Distribution's data from its two queries (``ranks``)."""
    found = ranks.percentiles(candidates, values) if values is not None else {}
    parts = ranks.summaries(analysis, binned, found)
    if analysis.segment_by is None:
        return parts.get(None) or _summary(analysis, [])
    return {"segments": parts}


def _summary(analysis: Distribution, rows: list[dict[str, Any]]) -> dict[str, Any]:
    first = rows[0] if rows else {}
    summary: dict[str, Any] = {"count": first.get("n", 0)}
    if "histogram" in analysis.metrics:
        summary["histogram"] = _histogram(analysis.bins, rows)
    if "percentiles" in analysis.metrics:
        summary["percentiles"] = {f"p{p}": first.get(f"p{p}") for p in PERCENTILES}
    return summary


def _histogram(bins: int, rows: list[dict[str, Any]]) -> dict[str, list]:
    if not rows:
        return ranks.histogram(bins, None, None, [])
    counts = [0] * bins
    for row in rows:
        counts[row["bin"]] = row["count"]
    return ranks.histogram(bins, rows[0]["lo"], rows[0]["hi"], counts)


# ------------------------------------------------------------------ correlation


def _correlation(analysis: Correlation, schema: GroupSchema, table: pa.Table) -> dict[str, Any]:
    names = list(analysis.features)
    matrix = np.eye(len(names))
    if analysis.method == "kendall":
        columns = [table.column(n).to_numpy() for n in names]
        n = table.num_rows
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                matrix[i, j] = matrix[j, i] = stats.kendalltau(columns[i], columns[j]).statistic
    else:
        row = table.to_pylist()[0]
        n = row["n"]
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                matrix[i, j] = matrix[j, i] = _pearson(row, i, j)
    return {"method": analysis.method, "features": names, "n": n,
            "matrix": [[None if math.isnan(v) else float(v) for v in line] for line in matrix]}


def cancelled(analysis: Correlation, table: pa.Table) -> bool:
    """Whether Pearson's sums of raw values lose too many digits: a feature whose sum of
    squares is over CONDITION times its sum of squared deviations (its mean more than ~30
    standard deviations from zero; a constant feature too) cancels in ``sxx = sum(x^2) -
    sum(x)^2 / n``, so the shifted sums are read instead."""
    if analysis.method != "pearson" or table.num_rows == 0:
        return False
    row = table.to_pylist()[0]
    n = row["n"]
    if not n or n < 2:
        return False
    for i in range(len(analysis.features)):
        square, total = row[f"{i}:{i}"], row[str(i)]
        if square > 0 and not square - total * total / n > square / CONDITION:
            return True
    return False


def _pearson(sums: dict[str, Any], i: int, j: int) -> float:
    """r from n, the sums and the sums of products (NaN for a constant feature or n < 2)."""
    n = sums["n"]
    if not n or n < 2:
        return math.nan
    si, sj = sums[str(i)], sums[str(j)]
    sxy = sums[f"{i}:{j}"] - si * sj / n
    sxx, syy = sums[f"{i}:{i}"] - si * si / n, sums[f"{j}:{j}"] - sj * sj / n
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


# ------------------------------------------------------------------ version diff


def _version_diff(analysis: VersionDiff, schema: GroupSchema, table: pa.Table | None) -> dict[str, Any]:
    old = schema.version_info(analysis.feature, analysis.version_a)
    new = schema.version_info(analysis.feature, analysis.version_b)
    data: dict[str, Any] = {"feature": analysis.feature, "version_a": analysis.version_a,
                            "version_b": analysis.version_b}
    if "schema" in analysis.compare:
        data["schema_changes"] = {
            attribute: {"old": _plain(getattr(old, attribute)), "new": _plain(getattr(new, attribute))}
            for attribute in SCHEMA_ATTRIBUTES if getattr(old, attribute) != getattr(new, attribute)
        }
    if table is not None:
        data.update(_drift_data(old.dtype, new.dtype, table))
    return data


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _drift_data(old_dtype: str, new_dtype: str, table: pa.Table) -> dict[str, Any]:
    counts: dict[Any, list[int]] = {}
    for row in table.to_pylist():
        counts.setdefault(row["bin"], [0, 0])[row["side"]] = row["count"]
    categorical = table.schema.field("bin").type == pa.string()
    embedded = "embedding" in (parse_dtype(old_dtype).kind, parse_dtype(new_dtype).kind)
    binning = ("one bin per distinct value" if categorical else
               f"{DRIFT_BINS} equal-width bins over the pooled range of both versions")
    keys = sorted(counts, key=str)
    old, new = np.array([counts[k][0] for k in keys]), np.array([counts[k][1] for k in keys])
    return {"distribution_drift": drift(old, new), "binning": binning,
            "projection": "L2 norm of each vector" if embedded else None,
            "rows": {"old": int(old.sum()), "new": int(new.sum())}}


def drift(old: np.ndarray, new: np.ndarray) -> dict[str, float | None]:
    """PSI = sum((q - p) * ln(q / p)) and KL(new || old) = sum(q * ln(q / p)) over the bins'
    shares p (old) and q (new), each share floored at DRIFT_FLOOR."""
    if old.sum() == 0 or new.sum() == 0:
        return {"psi": None, "kl_divergence": None}
    p = np.maximum(old / old.sum(), DRIFT_FLOOR)
    q = np.maximum(new / new.sum(), DRIFT_FLOOR)
    return {"psi": float(np.sum((q - p) * np.log(q / p))), "kl_divergence": float(stats.entropy(q, p))}


# ------------------------------------------------------------------ statistical tests


def _stat_test(analysis: StatTest, schema: GroupSchema, table: pa.Table) -> dict[str, Any]:
    rows = table.to_pylist()
    arms = {name: [r for r in rows if r["segment"] == getattr(analysis, name)] for name in ("control", "treatment")}
    for name, found in arms.items():
        if not found:
            raise ValidationError(f"no rows with {analysis.segment_by} = {getattr(analysis, name)!r} "
                                  f"(the {name}) and a value of {analysis.feature!r}",
                                  code="RAISE-V407", name=repr(getattr(analysis, name)))
    outcome = _TESTS[analysis.test](analysis, arms["control"], arms["treatment"])
    return {"test": analysis.test, "confidence": analysis.confidence, **outcome}


def _welch(analysis: StatTest, control: list[dict], treatment: list[dict]) -> dict[str, Any]:
    c, t = control[0], treatment[0]
    if c["n"] < 2 or t["n"] < 2:
        raise ValidationError("a t-test needs at least two values in each segment", code="RAISE-V407",
                              name=analysis.segment_by)
    test = stats.ttest_ind_from_stats(t["mean"], math.sqrt(t["variance"]), t["n"], c["mean"],
                                      math.sqrt(c["variance"]), c["n"], equal_var=False)
    vt, vc = t["variance"] / t["n"], c["variance"] / c["n"]
    se, diff = math.sqrt(vt + vc), t["mean"] - c["mean"]
    df = (vt + vc) ** 2 / (vt ** 2 / (t["n"] - 1) + vc ** 2 / (c["n"] - 1))
    half = stats.t.ppf((1 + analysis.confidence) / 2, df) * se
    pooled = math.sqrt(((t["n"] - 1) * t["variance"] + (c["n"] - 1) * c["variance"]) / (t["n"] + c["n"] - 2))
    return {"statistic": float(test.statistic), "p_value": float(test.pvalue),
            "effect_size": diff / pooled if pooled else None, "effect_size_measure": "cohens_d",
            "difference": diff, "confidence_interval": [float(diff - half), float(diff + half)],
            "control": {"n": c["n"], "mean": c["mean"]}, "treatment": {"n": t["n"], "mean": t["mean"]}}


def _sample(rows: list[dict]) -> np.ndarray:
    return np.repeat(np.array([r["value"] for r in rows], dtype=float), [r["count"] for r in rows])


def _mann_whitney(analysis: StatTest, control: list[dict], treatment: list[dict]) -> dict[str, Any]:
    x, y = _sample(treatment), _sample(control)
    test = stats.mannwhitneyu(x, y, alternative="two-sided")
    return {"statistic": float(test.statistic), "p_value": float(test.pvalue),
            "effect_size": 2 * float(test.statistic) / (len(x) * len(y)) - 1,
            "effect_size_measure": "rank_biserial", "confidence_interval": None,
            "difference": float(np.median(x) - np.median(y)),
            "control": {"n": len(y), "median": float(np.median(y))},
            "treatment": {"n": len(x), "median": float(np.median(x))}}


def _ks(analysis: StatTest, control: list[dict], treatment: list[dict]) -> dict[str, Any]:
    x, y = _sample(treatment), _sample(control)
    test = stats.ks_2samp(x, y)
    return {"statistic": float(test.statistic), "p_value": float(test.pvalue),
            "effect_size": float(test.statistic), "effect_size_measure": "ks_distance",
            "confidence_interval": None, "control": {"n": len(y)}, "treatment": {"n": len(x)}}


def _chi_squared(analysis: StatTest, control: list[dict], treatment: list[dict]) -> dict[str, Any]:
    values = sorted({r["value"] for r in control + treatment}, key=lambda v: (type(v).__name__, v))
    if len(values) < 2:
        raise ValidationError(f"chi_squared needs at least two distinct values of {analysis.feature!r}",
                              code="RAISE-V407", name=analysis.feature)
    table = np.array([[next((r["count"] for r in arm if r["value"] == v), 0) for v in values]
                      for arm in (control, treatment)])
    test = stats.chi2_contingency(table)
    return {"statistic": float(test.statistic), "p_value": float(test.pvalue), "dof": int(test.dof),
            "effect_size": float(stats.contingency.association(table, method="cramer")),
            "effect_size_measure": "cramers_v", "confidence_interval": None,
            "values": values, "control": {"n": int(table[0].sum()), "counts": table[0].tolist()},
            "treatment": {"n": int(table[1].sum()), "counts": table[1].tolist()}}


_TESTS: dict[str, Callable[[StatTest, list[dict], list[dict]], dict[str, Any]]] = {
    "ttest": _welch, "mann_whitney": _mann_whitney, "ks_test": _ks, "chi_squared": _chi_squared,
}


def _record_lookup(analysis: RecordLookup, schema: GroupSchema, table: pa.Table) -> dict[str, Any]:
    return {"records": table.to_pylist(), "seed": analysis.seed}


_FINISHERS: dict[type, Callable[..., dict[str, Any]]] = {
    Aggregation: _aggregation, Distribution: _distribution, Correlation: _correlation,
    VersionDiff: _version_diff, StatTest: _stat_test, RecordLookup: _record_lookup,
}
