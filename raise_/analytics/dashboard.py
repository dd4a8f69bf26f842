"""Dashboards as the SDK hands them out; every call is one Raise SQL statement.

>>> from raise_ import Aggregation, Chart, ChartType, DashboardParameter
>>> board = fs.create_dashboard(name="engagement-overview")                    # doctest: +SKIP
>>> board.add_parameter(DashboardParameter.dropdown(name="tier", options=["all", "gold"]))  # doctest: +SKIP
>>> board.add_chart(Chart(title="Revenue by Tier", chart_type=ChartType.BAR,
...                       analysis=Aggregation(feature="revenue", metrics=["sum"], group_by="user_tier"),
...                       x="user_tier", y="sum"))                               # doctest: +SKIP
>>> board.publish()                                                            # doctest: +SKIP
'file:///.../dashboards/acme/mlplatform/recommendation/engagement-overview.html'

``fs.create_dashboard`` sends ``CREATE DASHBOARD``; ``add_parameter`` and ``add_chart``
``ALTER DASHBOARD ... ADD ...`` (a chart's analysis runs over the project's group that has its
features, or ``group=``); ``render(format=)`` sends ``RENDER DASHBOARD`` and returns the text;
``publish()`` ``PUBLISH DASHBOARD`` and returns the page's URL.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from html import escape
from typing import TYPE_CHECKING, Any, Sequence

from grammar import dashboards as g
from grammar.analytics import ObjectRef
from grammar.ast import GroupRef
from grammar.errors import ValidationError
from raise_.analytics.spec import Analysis

if TYPE_CHECKING:
    from raise_.analytics.objects import LiveTable
    from raise_.sdk.context import Executor

__all__ = ["ChartType", "Chart", "DashboardParameter", "Dashboard", "create_dashboard", "list_dashboards"]


class ChartType(str, Enum):
    """The twelve chart types (``ChartType.LINE.value == "line"``)."""

    LINE = "line"
    BAR = "bar"
    HISTOGRAM = "histogram"
    SCATTER = "scatter"
    HEATMAP = "heatmap"
    PIE = "pie"
    AREA = "area"
    TABLE = "table"
    METRIC = "metric"
    GAUGE = "gauge"
    BOX = "box"
    VIOLIN = "violin"


@dataclass(frozen=True)
class DashboardParameter:
    """A control of a dashboard: ``DashboardParameter.date_range(...)`` or ``.dropdown(...)``.

    ``column`` names the data column it filters; by default a date range filters every date
    column of a chart and a dropdown the column named like it (or ending in ``_<name>``: ``tier``
    filters ``user_tier``). A dropdown's ``all`` choice filters nothing."""

    name: str
    type: str
    label: str | None = None
    options: tuple[str, ...] = ()
    default: Any = None
    column: str | None = None

    @classmethod
    def date_range(cls, name: str, label: str | None = None, default: Sequence[str] | None = None,
                   column: str | None = None) -> "DashboardParameter":
        """Two date inputs (``default``: ``("2026-01-01", "2026-01-31")``; none: the data's span)."""
        return cls(name, "date_range", label, (), tuple(default) if default else None, column)

    @classmethod
    def dropdown(cls, name: str, options: Sequence[str], label: str | None = None, default: str | None = None,
                 column: str | None = None) -> "DashboardParameter":
        """A choice among ``options`` (``default``: the first)."""
        if isinstance(options, str):
            raise ValidationError(f"options= takes a list of choices, got the string {options!r}",
                                  code="RAISE-V421", name=name)
        return cls(name, "dropdown", label, tuple(str(o) for o in options), default, column)

    def statement(self, dashboard: ObjectRef) -> g.AddDashboardParameter:
        default = () if self.default is None else ((self.default,) if isinstance(self.default, str)
                                                   else tuple(self.default))
        parameter = g.Parameter(name=self.name, kind=self.type, label=self.label, options=self.options,
                                default=default, column=self.column)
        return g.AddDashboardParameter(dashboard=dashboard, parameter=g.check_parameter(parameter))


@dataclass(frozen=True)
class Chart:
    """One chart: ``title``, its data (``analysis=`` an analysis, or ``live_table=`` a live table
    of the project, by name or object), ``chart_type`` and the columns it plots (``x``, ``y``:
    one name or several; defaults in :mod:`raise_.analytics.charts`). ``group=`` names the
    analysis' group when several groups of the project have its features."""

    title: str
    analysis: Analysis | None = None
    live_table: "str | LiveTable | None" = None
    chart_type: ChartType | str = ChartType.TABLE
    x: str | None = None
    y: str | Sequence[str] | None = None
    group: str | None = None
    _type: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if (self.analysis is None) == (self.live_table is None):
            raise ValidationError(f"chart {self.title!r} takes exactly one of analysis= and live_table=",
                                  code="RAISE-V423", name=self.title)
        if self.analysis is not None and not isinstance(self.analysis, Analysis):
            raise ValidationError(f"chart {self.title!r}: analysis= takes an analysis (Aggregation, "
                                  f"Distribution, ...), got {self.analysis!r}", code="RAISE-V423", name=self.title)
        kind = self.chart_type.value if isinstance(self.chart_type, ChartType) else str(self.chart_type)
        object.__setattr__(self, "_type", g.check_chart_type(kind))

    def columns(self) -> tuple[str, ...]:
        if self.y is None:
            return ()
        return (self.y,) if isinstance(self.y, str) else tuple(self.y)

    def statement(self, executor: "Executor", dashboard: ObjectRef) -> g.AddDashboardChart:
        common = dict(dashboard=dashboard, title=self.title, chart_type=self._type, x=self.x, y=self.columns())
        project = dashboard.project
        if self.live_table is not None:
            name = self.live_table if isinstance(self.live_table, str) else self.live_table.name
            return g.AddDashboardChart(live_table=ObjectRef(name=name, project=project), **common)
        from raise_.analytics.runner import resolve_group

        group = self.group or resolve_group(executor, project, self.analysis)
        return g.AddDashboardChart(group=GroupRef(name=group, project=project),
                                   analysis=json.dumps(self.analysis.to_dict(), sort_keys=True), **common)


class Dashboard:
    """A dashboard of a project: ``add_parameter``, ``add_chart``, ``render``, ``publish``."""

    def __init__(self, executor: "Executor", project: tuple[str, ...], name: str) -> None:
        self._executor, self._project, self.name = executor, project, name
        self._ref = ObjectRef(name=name, project=project)

    def __repr__(self) -> str:
        return f"Dashboard({'/'.join((*self._project, self.name))!r})"

    def describe(self) -> dict[str, Any]:
        """The catalog record (``DESCRIBE DASHBOARD``); ``definition`` holds its parameters and charts."""
        return self._executor.run(g.DescribeDashboard(dashboard=self._ref)).to_pylist()[0]

    @property
    def description(self) -> str | None:
        return self.describe()["description"]

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return json.loads(self.describe()["definition"])["parameters"]

    @property
    def charts(self) -> list[dict[str, Any]]:
        return json.loads(self.describe()["definition"])["charts"]

    def add_parameter(self, parameter: DashboardParameter) -> "Dashboard":
        if not isinstance(parameter, DashboardParameter):
            raise ValidationError(f"add_parameter() takes a DashboardParameter, got {parameter!r}",
                                  code="RAISE-V421", name=repr(parameter))
        self._executor.run(parameter.statement(self._ref))
        return self

    def add_chart(self, chart: Chart) -> "Dashboard":
        if not isinstance(chart, Chart):
            raise ValidationError(f"add_chart() takes a Chart, got {chart!r}", code="RAISE-V423", name=repr(chart))
        self._executor.run(chart.statement(self._executor, self._ref))
        return self

    def render(self, format: str = "json") -> str:
        """The dashboard with every chart computed now: a JSON or YAML document, or one HTML page
        that works offline (plotly.js embedded, the parameters as controls)."""
        statement = g.RenderDashboard(dashboard=self._ref, format=g.check_format(format))
        return self._executor.run(statement).to_pylist()[0]["content"]

    def publish(self) -> str:
        """Render the HTML page into the store (served by ``raise serve --http-port``) and
        return its URL (``http://...`` when served, else ``file://...``)."""
        return self._executor.run(g.PublishDashboard(dashboard=self._ref)).to_pylist()[0]["url"]

    def delete(self) -> None:
        self._executor.run(g.DropDashboard(dashboard=self._ref))

    def _repr_html_(self) -> str:
        record = self.describe()
        items = "".join(f"<li>{escape(c['title'])} ({escape(c['chart_type'])})</li>"
                        for c in json.loads(record["definition"])["charts"])
        controls = ", ".join(escape(p) for p in record["parameters"]) or "none"
        return (f"<div><b>Dashboard {escape(record['path'])}</b><div>{escape(record['description'] or '')}</div>"
                f"<div>parameters: {controls}</div><ul>{items}</ul></div>")


def create_dashboard(executor: "Executor", project: tuple[str, ...], name: str,
                     description: str | None = None) -> Dashboard:
    executor.run(g.CreateDashboard(dashboard=ObjectRef(name=name, project=project), description=description))
    return Dashboard(executor, project, name)


def list_dashboards(executor: "Executor", project: tuple[str, ...]) -> list[Dashboard]:
    rows = executor.run(g.ShowDashboards(within=project)).to_pylist()
    return [Dashboard(executor, tuple(r["project"].split("/")), r["name"]) for r in rows]
