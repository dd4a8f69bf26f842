"""Chart data and Plotly figures: a chart's rows become one figure per ``ChartType``.

A chart's data is a table (an analysis result's ``to_dataframe()`` rows, a correlation matrix
with its ``feature`` column, or a live table's rows). ``chart_data`` turns it into JSON-safe
columns and rows (dates as ISO strings); ``figure`` builds the Plotly figure (validated by
``plotly.graph_objects``) and, per trace, which data rows its points are and which trace
attributes hold them (``fields``), so that the HTML page can filter points by row when a
parameter changes without recomputing anything.

Defaults: ``x`` is ``date`` when there is one, else the first non-numeric column; ``y`` the
first numeric column that is not ``x``. Line, area, scatter and bar charts draw one series per
value of the first other text column (``user_tier`` of a grouped windowed aggregation).
Histograms of a ``Distribution`` draw its bins; METRIC and GAUGE show the last row's value.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pandas as pd

__all__ = ["chart_data", "figure", "defaults"]

_CARTESIAN = ("line", "bar", "scatter", "area")


def _value(value: Any) -> Any:
    """A JSON-safe scalar: ISO dates, None for NaN/NaT, Python numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _value(value.item())
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def _type(series: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if pd.api.types.is_bool_dtype(series):
        return "string"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    sample = series.dropna()
    if len(sample) and all(isinstance(v, (dt.date, dt.datetime, pd.Timestamp)) for v in sample.head(20)):
        return "date"
    return "string"


def chart_data(frame: pd.DataFrame) -> dict[str, Any]:
    """``{"columns", "types", "rows"}`` of a chart's table (``types``: date, number, string)."""
    columns = [str(c) for c in frame.columns]
    types = {str(c): _type(frame[c]) for c in frame.columns}
    rows = [[_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return {"columns": columns, "types": types, "rows": rows}


def defaults(data: dict[str, Any], x: str | None, y: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The chart's x column and y columns, filled in where not given."""
    columns, types = data["columns"], data["types"]
    if x is None:
        x = "date" if "date" in columns else next((c for c in columns if types[c] != "number"), None)
    if not y:
        y = tuple(c for c in columns if types[c] == "number" and c != x)[:1]
    return x, list(y)


def _column(data: dict[str, Any], name: str, rows: list[int]) -> list[Any]:
    index = data["columns"].index(name)
    return [data["rows"][r][index] for r in rows]


def _series(data: dict[str, Any], x: str | None) -> list[tuple[Any, list[int]]]:
    """(label, rows) of each series: by the first text column other than x, else one."""
    everything = list(range(len(data["rows"])))
    split = next((c for c in data["columns"] if data["types"][c] == "string" and c != x), None)
    if split is None:
        return [(None, everything)]
    groups: dict[Any, list[int]] = {}
    for r, label in zip(everything, _column(data, split, everything)):
        groups.setdefault(label, []).append(r)
    return sorted(groups.items(), key=lambda item: str(item[0]))


def _cartesian(kind: str, data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    style = {"line": {"type": "scatter", "mode": "lines+markers"}, "scatter": {"type": "scatter", "mode": "markers"},
             "area": {"type": "scatter", "mode": "lines", "stackgroup": "one"}, "bar": {"type": "bar"}}[kind]
    traces = []
    for label, rows in _series(data, x):
        for column in y:
            name = column if label is None else (str(label) if len(y) == 1 else f"{label} {column}")
            xs = _column(data, x, rows) if x else rows
            traces.append(({**style, "name": name, "x": xs, "y": _column(data, column, rows)},
                           {"rows": rows, "fields": ["x", "y"]}))
    return traces


def _histogram(data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    rows = list(range(len(data["rows"])))
    if {"bin_start", "bin_end", "count"} <= set(data["columns"]):
        starts, ends = _column(data, "bin_start", rows), _column(data, "bin_end", rows)
        trace = {"type": "bar", "name": "count", "x": [(a + b) / 2 for a, b in zip(starts, ends)],
                 "y": _column(data, "count", rows), "width": [b - a for a, b in zip(starts, ends)]}
        return [(trace, {"rows": rows, "fields": ["x", "y", "width"]})]
    column = y[0] if y else x
    return [({"type": "histogram", "name": column, "x": _column(data, column, rows)}, {"rows": rows, "fields": ["x"]})]


def _heatmap(data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    rows = list(range(len(data["rows"])))
    numeric = [c for c in data["columns"] if data["types"][c] == "number" and c != x]
    z = [[data["rows"][r][data["columns"].index(c)] for c in numeric] for r in rows]
    labels = _column(data, x, rows) if x else rows
    trace = {"type": "heatmap", "x": numeric, "y": labels, "z": z, "colorscale": "RdBu", "zmid": 0}
    return [(trace, {"rows": rows, "fields": ["y", "z"]})]


def _pie(data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    rows = list(range(len(data["rows"])))
    trace = {"type": "pie", "labels": _column(data, x, rows) if x else rows, "values": _column(data, y[0], rows)}
    return [(trace, {"rows": rows, "fields": ["labels", "values"]})]


def _table(data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    rows = list(range(len(data["rows"])))
    cells = [_column(data, c, rows) for c in data["columns"]]
    trace = {"type": "table", "header": {"values": data["columns"]}, "cells": {"values": cells}}
    return [(trace, {"rows": rows, "fields": ["cells.values"]})]


def _indicator(kind: str, data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    rows = list(range(len(data["rows"])))
    values = _column(data, y[0], rows)
    trace: dict[str, Any] = {"type": "indicator", "mode": "number" if kind == "metric" else "gauge+number",
                             "value": next((v for v in reversed(values) if v is not None), None),
                             "title": {"text": y[0]}}
    if kind == "gauge":
        top = max((abs(v) for v in values if v is not None), default=1.0) or 1.0
        trace["gauge"] = {"axis": {"range": [0, top * 1.2]}}
    return [(trace, {"rows": rows, "fields": ["value"], "values": values})]


def _spread(kind: str, data: dict, x: str | None, y: list[str]) -> list[tuple[dict, dict]]:
    rows = list(range(len(data["rows"])))
    traces = []
    for column in y:
        trace = {"type": kind, "name": column, "y": _column(data, column, rows)}
        if x and data["types"].get(x) != "number":
            trace["x"] = _column(data, x, rows)
        traces.append((trace, {"rows": rows, "fields": ["x", "y"] if "x" in trace else ["y"]}))
    return traces


def figure(chart_type: str, title: str, data: dict[str, Any], x: str | None,
           y: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(Plotly figure as JSON, per-trace row meta) of one chart."""
    import plotly.graph_objects as go

    if chart_type in _CARTESIAN:
        traces = _cartesian(chart_type, data, x, y)
    elif chart_type in ("metric", "gauge"):
        traces = _indicator(chart_type, data, x, y)
    elif chart_type in ("box", "violin"):
        traces = _spread(chart_type, data, x, y)
    else:
        traces = {"histogram": _histogram, "heatmap": _heatmap, "pie": _pie, "table": _table}[chart_type](data, x, y)
    layout = {"title": {"text": title}, "margin": {"l": 50, "r": 20, "t": 50, "b": 40}, "height": 360}
    if chart_type == "bar" and len(traces) > 1:
        layout["barmode"] = "group"
    if chart_type == "heatmap":
        layout["yaxis"] = {"autorange": "reversed"}  # a matrix reads from its top-left corner
    if x and chart_type in _CARTESIAN:
        layout["xaxis"] = {"title": {"text": x}}
    built = json.loads(go.Figure({"data": [t for t, _ in traces], "layout": layout}).to_json())
    built["layout"].pop("template", None)  # the page applies Plotly's default template once
    return built, [meta for _, meta in traces]
