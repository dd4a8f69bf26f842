"""Analysis results: the data, where it came from, and every export format.

Every result has ``data`` (plain Python values), ``to_dict()`` (the analysis, the data and
``computed_at`` / ``from_cache`` / ``table_version``), ``to_json()``, ``to_dataframe()``,
``to_csv()`` and ``_repr_html_`` (a table, and an inline SVG chart where one helps).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from html import escape
from typing import Any

import pandas as pd

from raise_.analytics.spec import (
    Aggregation, Analysis, Correlation, Distribution, RecordLookup, StatTest, VersionDiff,
)
from raise_.sdk import html

__all__ = [
    "AnalysisResult", "AggregationResult", "DistributionResult", "CorrelationResult",
    "VersionDiffResult", "StatTestResult", "RecordLookupResult", "result_for",
]

_HTML_ROWS = 50


class AnalysisResult:
    """What ``analyze`` returns; subclasses add the analysis' own attributes."""

    def __init__(self, analysis: Analysis, data: dict[str, Any], *, computed_at: dt.datetime,
                 table_version: int | None, sql: str | None, from_cache: bool = False) -> None:
        self.analysis = analysis
        self._data = data
        self.computed_at = computed_at
        self.table_version = table_version
        self.sql = sql
        self.from_cache = from_cache

    @property
    def data(self) -> dict[str, Any]:
        """The result as plain Python values (what ``to_json`` writes under ``"data"``)."""
        return self._data

    def cached(self) -> "AnalysisResult":
        """This result as served from the cache."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__, from_cache=True)
        return copy

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis.to_dict(), "data": self._data,
                "computed_at": self.computed_at.isoformat(), "from_cache": self.from_cache,
                "table_version": self.table_version}

    def to_json(self, **options: Any) -> str:
        """``to_dict()`` as JSON (timestamps as ISO strings); ``options`` go to ``json.dumps``."""
        return json.dumps(self.to_dict(), default=_json_value, **options)

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows())

    def to_csv(self) -> str:
        return self.to_dataframe().to_csv(index=False)

    def _rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _chart(self) -> str:
        return ""

    def __repr__(self) -> str:
        source = "cache" if self.from_cache else "engine"
        return f"{type(self).__name__}({self.analysis.kind}, computed {self.computed_at:%Y-%m-%d %H:%M:%S} from {source})"

    def _repr_html_(self) -> str:
        frame = self.to_dataframe()
        rows = frame.head(_HTML_ROWS).itertuples(index=False)
        title = f"{type(self).__name__}: {self.analysis.kind} (table version {self.table_version}"
        title += f", {'cached' if self.from_cache else 'computed'} {self.computed_at:%Y-%m-%d %H:%M:%S} UTC)"
        more = f"<div>{len(frame) - _HTML_ROWS} more rows</div>" if len(frame) > _HTML_ROWS else ""
        return html.grid(title, [str(c) for c in frame.columns], rows) + more + self._chart()


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


def _svg_bars(values: list[float], caption: str) -> str:
    """A small bar chart (a histogram or a series), drawn inline: no script, no network."""
    if not values:
        return ""
    top = max(max(values), 1e-12)
    width, height, step = 320, 80, 320 / len(values)
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{height - v / top * height:.1f}" width="{max(step - 1, 0.5):.1f}" '
        f'height="{v / top * height:.1f}" fill="#4c78a8"/>' for i, v in enumerate(values) if v and v > 0)
    return (f'<figure style="margin:4px 0"><svg width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg">{bars}</svg><figcaption style="font-size:11px">'
            f'{escape(caption)}</figcaption></figure>')


class AggregationResult(AnalysisResult):
    """``metrics`` for an ungrouped aggregation; ``rows`` (one per group and window) otherwise."""

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self._data.get("metrics")

    @property
    def rows(self) -> list[dict[str, Any]]:
        rows = self._data.get("rows")
        return rows if rows is not None else [self._data["metrics"]]  # a group_by of no rows has none

    def _rows(self) -> list[dict[str, Any]]:
        return self.rows

    def _chart(self) -> str:
        analysis = self.analysis
        if analysis.window is None or analysis.group_by:
            return ""
        metric = analysis.metrics[0]
        values = [float(r[metric] or 0) for r in self.rows]
        return _svg_bars(values, f"{metric} of {analysis.feature} per {analysis.window} window")


class DistributionResult(AnalysisResult):
    """``histogram`` (``{"bin_edges", "counts"}``) and ``percentiles`` (``{"p50": ...}``); for a
    segmented distribution both are dicts by segment value, and ``segments`` has each part."""

    @property
    def segments(self) -> dict[Any, dict[str, Any]] | None:
        return self._data.get("segments")

    def _part(self, name: str) -> Any:
        if self.segments is None:
            return self._data.get(name)
        return {segment: part.get(name) for segment, part in self.segments.items()}

    @property
    def histogram(self) -> dict[str, Any] | None:
        return self._part("histogram")

    @property
    def percentiles(self) -> dict[str, Any] | None:
        return self._part("percentiles")

    def _rows(self) -> list[dict[str, Any]]:
        parts = self.segments or {None: self._data}
        rows = []
        for segment, part in parts.items():
            lead = {} if self.segments is None else {"segment": segment}
            quantiles = part.get("percentiles") or {}
            histogram = part.get("histogram")
            if histogram is None:
                rows.append({**lead, "count": part["count"], **quantiles})
                continue
            edges = histogram["bin_edges"]
            rows += [{**lead, "bin_start": edges[i], "bin_end": edges[i + 1], "count": c, **quantiles}
                     for i, c in enumerate(histogram["counts"])]
        return rows

    def _chart(self) -> str:
        if self.segments is not None or not self._data.get("histogram"):
            return ""
        return _svg_bars([float(c) for c in self._data["histogram"]["counts"]],
                         f"histogram of {self.analysis.feature}")


class CorrelationResult(AnalysisResult):
    """``correlation_matrix``: ``{feature: {feature: r}}``; ``to_dataframe()`` is the matrix."""

    @property
    def features(self) -> list[str]:
        return self._data["features"]

    @property
    def correlation_matrix(self) -> dict[str, dict[str, float | None]]:
        names, matrix = self.features, self._data["matrix"]
        return {a: {b: matrix[i][j] for j, b in enumerate(names)} for i, a in enumerate(names)}

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame(self._data["matrix"], index=self.features, columns=self.features)

    def to_csv(self) -> str:
        return self.to_dataframe().to_csv(index_label="feature")

    def _repr_html_(self) -> str:
        cells = "".join(
            "<tr><th>" + escape(a) + "</th>" + "".join(
                f'<td style="padding:2px 6px;background:{_shade(v)}">{"" if v is None else f"{v:.3f}"}</td>'
                for v in line) + "</tr>"
            for a, line in zip(self.features, self._data["matrix"]))
        head = "".join(f"<th>{escape(f)}</th>" for f in self.features)
        return (f'<table style="border-collapse:collapse;font-family:monospace;font-size:12px"><caption>'
                f'<b>{escape(self._data["method"])} correlation (n = {self._data["n"]})</b></caption>'
                f"<tr><th></th>{head}</tr>{cells}</table>")


def _shade(value: float | None) -> str:
    if value is None:
        return "#eee"
    strength = int(255 - 155 * min(abs(value), 1))
    return f"rgb(255,{strength},{strength})" if value < 0 else f"rgb({strength},{strength},255)"


class VersionDiffResult(AnalysisResult):
    """``schema_changes`` (``{attribute: {"old", "new"}}``) and ``distribution_drift``
    (``{"psi", "kl_divergence"}``; ``data["binning"]`` and ``data["projection"]`` say how)."""

    @property
    def schema_changes(self) -> dict[str, dict[str, Any]] | None:
        return self._data.get("schema_changes")

    @property
    def distribution_drift(self) -> dict[str, float | None] | None:
        return self._data.get("distribution_drift")

    def _rows(self) -> list[dict[str, Any]]:
        rows = [{"part": "schema", "name": k, "old": v["old"], "new": v["new"], "value": None}
                for k, v in (self.schema_changes or {}).items()]
        rows += [{"part": "distribution", "name": k, "old": None, "new": None, "value": v}
                 for k, v in (self.distribution_drift or {}).items()]
        return rows


class StatTestResult(AnalysisResult):
    """``p_value``, ``statistic``, ``effect_size`` (``effect_size_measure`` names it) and
    ``confidence_interval`` of the difference treatment - control (t-test; None otherwise)."""

    p_value = property(lambda self: self._data["p_value"])
    statistic = property(lambda self: self._data["statistic"])
    effect_size = property(lambda self: self._data["effect_size"])
    effect_size_measure = property(lambda self: self._data["effect_size_measure"])
    confidence_interval = property(lambda self: self._data["confidence_interval"])

    @property
    def significant(self) -> bool:
        """Whether the p-value is below 1 - confidence."""
        return self.p_value < 1 - self._data["confidence"]

    def _rows(self) -> list[dict[str, Any]]:
        interval = self.confidence_interval or [None, None]
        return [{"test": self._data["test"], "statistic": self.statistic, "p_value": self.p_value,
                 "effect_size": self.effect_size, "effect_size_measure": self.effect_size_measure,
                 "ci_low": interval[0], "ci_high": interval[1],
                 "control_n": self._data["control"]["n"], "treatment_n": self._data["treatment"]["n"]}]


class RecordLookupResult(AnalysisResult):
    """``records``: one dict per row, key and event-time columns first."""

    @property
    def records(self) -> list[dict[str, Any]]:
        return self._data["records"]

    def _rows(self) -> list[dict[str, Any]]:
        return self.records


_RESULTS: dict[type, type[AnalysisResult]] = {
    Aggregation: AggregationResult, Distribution: DistributionResult, Correlation: CorrelationResult,
    VersionDiff: VersionDiffResult, StatTest: StatTestResult, RecordLookup: RecordLookupResult,
}


def result_for(analysis: Analysis) -> type[AnalysisResult]:
    return _RESULTS[type(analysis)]

