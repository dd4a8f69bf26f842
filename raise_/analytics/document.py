"""A dashboard's document: its parameters and charts, each chart computed now.

``RENDER DASHBOARD`` and ``PUBLISH DASHBOARD`` build it inside the engine: every chart's
analysis runs as a query of the caller (``inside.run``), and a live table chart reads the live
table (refreshed first when its policy says it is due) with the caller's rights, so a
dashboard shows only what the one who renders it may read. The document is what
``render(format="json")`` returns: ``name``, ``path``, ``description``, ``rendered_at``,
``parameters`` (a date range also has the ``span`` of the charts' dates) and ``charts``, each
with ``title``, ``chart_type``, ``x``, ``y``, ``source``, ``columns``, ``types``, ``rows`` and
its Plotly ``figure``.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlglot import exp

from grammar import render
from grammar.analytics import ObjectRef, RefreshLiveTable
from grammar.errors import ValidationError
from raise_.analytics import charts, inside

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["build_document"]


def build_document(session: "Session", record: dict[str, Any]) -> dict[str, Any]:
    """The document of a dashboard record, every chart computed as ``session``'s principal."""
    built = [_chart(session, record, chart) for chart in record["charts"]]
    parameters = [_parameter(p, built) for p in record["parameters"]]
    return {"name": record["name"], "path": record["key"], "description": record.get("description"),
            "rendered_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "parameters": parameters, "charts": built}


def _parameter(parameter: dict[str, Any], built: list[dict[str, Any]]) -> dict[str, Any]:
    entry = {"name": parameter["name"], "type": parameter["kind"], "label": parameter.get("label"),
             "column": parameter.get("column")}
    if parameter["kind"] == "dropdown":
        default = parameter.get("default") or []
        return {**entry, "options": parameter["options"], "default": default[0] if default else None}
    days = sorted(str(row[chart["columns"].index(c)])[:10] for chart in built for c in chart["columns"]
                  if (c == parameter.get("column") or (parameter.get("column") is None and chart["types"][c] == "date"))
                  for row in chart["rows"] if row[chart["columns"].index(c)] is not None)
    return {**entry, "default": parameter.get("default") or None, "span": [days[0], days[-1]] if days else None}


def _chart(session: "Session", record: dict[str, Any], chart: dict[str, Any]) -> dict[str, Any]:
    if chart.get("live_table") is not None:
        frame, source = _live_rows(session, chart["live_table"]), {"live_table": "/".join(chart["live_table"])}
    else:
        project, group = tuple(chart["group"][:-1]), chart["group"][-1]
        analysis = inside.analysis_of(chart["analysis"])
        result = inside.run(session, project, group, analysis, session.principal)
        frame = inside.as_table(result).to_pandas()
        source = {"group": "/".join(chart["group"]), "analysis": analysis.to_dict()}
    data = charts.chart_data(frame)
    x, y = charts.defaults(data, chart.get("x"), tuple(chart.get("y") or ()))
    _check_columns(chart, data, x, y)
    figure, traces = charts.figure(chart["chart_type"], chart["title"], data, x, y)
    return {"title": chart["title"], "chart_type": chart["chart_type"], "x": x, "y": y, "source": source,
            **data, "figure": figure, "traces": traces}


def _live_rows(session: "Session", path: list[str]) -> pd.DataFrame:
    project, name = tuple(path[:-1]), path[-1]
    connection = inside.SessionConnection(session, project, session.principal)
    connection.execute(render(RefreshLiveTable(table=ObjectRef(name=name, project=project), if_stale=True)))
    query = exp.select(exp.Star()).from_(exp.Table(this=exp.to_identifier(name, quoted=True)))
    return connection.execute(query.sql(dialect="postgres")).to_pandas()


def _check_columns(chart: dict[str, Any], data: dict[str, Any], x: str | None, y: list[str]) -> None:
    """x and y must be columns of the chart's data (RAISE-V424), and a chart that plots values
    needs a numeric y."""
    wanted = [c for c in (x, *y) if c is not None]
    missing = [c for c in wanted if c not in data["columns"]]
    if missing:
        raise ValidationError(f"chart {chart['title']!r}: no column {missing[0]!r} in its data; its columns are "
                              f"{', '.join(data['columns']) or '(none: no rows)'}", code="RAISE-V424",
                              name=missing[0])
    plots_values = chart["chart_type"] not in ("table", "heatmap", "histogram")
    if plots_values and not y and data["rows"]:
        raise ValidationError(f"chart {chart['title']!r}: its data has no numeric column to plot; name one with "
                              "y=", code="RAISE-V424", name=chart["title"])
