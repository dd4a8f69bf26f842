"""Dashboards: the ``dashboards`` statement family (grammar in ``dashboards.lark``).

A dashboard is a catalog object of a project: parameters (a date range, dropdowns) and charts,
each over an analysis of a group (carried as its JSON form, as in ``CREATE LIVE TABLE``) or over
a live table. Chart types, formats, dates and dropdown defaults are checked here, so SQL
clients and the SDK get the same errors.
``parse_dashboard_statement(render_dashboard_statement(s)) == s``.

>>> s = parse_dashboard_statement("alter dashboard overview add parameter tier dropdown "
...                               "options ('all', 'gold') default 'all'")
>>> render_dashboard_statement(s)
'ALTER DASHBOARD "overview" ADD PARAMETER "tier" DROPDOWN OPTIONS (\\'all\\', \\'gold\\') DEFAULT \\'all\\''
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from lark import Lark, v_args

from grammar import clauses
from grammar.analytics import Conflict, ObjectRef, _conflict, _path, _ref, check_analysis
from grammar.ast import GroupRef
from grammar.errors import ValidationError
from grammar.render import quote_ident, quote_literal

__all__ = [
    "CHART_TYPES", "FORMATS", "Parameter", "CreateDashboard", "AddDashboardParameter", "AddDashboardChart",
    "ShowDashboards", "DescribeDashboard", "RenderDashboard", "PublishDashboard", "DropDashboard",
    "DASHBOARD_STATEMENTS", "check_parameter", "check_chart_type", "check_format",
    "parse_dashboard_statement", "render_dashboard_statement", "EXTENSION",
]

#: The chart types of the spec's table, in its order.
CHART_TYPES = ("line", "bar", "histogram", "scatter", "heatmap", "pie", "area", "table", "metric", "gauge",
               "box", "violin")
FORMATS = ("json", "yaml", "html")
_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class Parameter:
    """A dashboard control. ``date_range``: rows whose date (``column``, or every date column
    of a chart) lies in ``default`` (two ISO dates; empty: the data's whole span);
    ``dropdown``: rows whose ``column`` (default: the column named like the parameter, or
    ending in ``_<name>``) equals the choice, ``default`` its first choice (``all``: no filter)."""

    name: str
    kind: Literal["date_range", "dropdown"]
    label: str | None = None
    options: tuple[str, ...] = ()
    default: tuple[str, ...] = ()
    column: str | None = None


@dataclass(**_frozen)
class CreateDashboard:
    """``CREATE DASHBOARD [project/]name [DESCRIPTION '...']``: an empty dashboard."""

    dashboard: ObjectRef
    description: str | None = None
    conflict: Conflict = "error"


@dataclass(**_frozen)
class AddDashboardParameter:
    """``ALTER DASHBOARD d ADD PARAMETER name DATE RANGE | DROPDOWN OPTIONS (...) ...``."""

    dashboard: ObjectRef
    parameter: Parameter


@dataclass(**_frozen)
class AddDashboardChart:
    """``ALTER DASHBOARD d ADD CHART 'title' AS type ON group ANALYZE 'json' | FROM LIVE TABLE t
    [X col] [Y col | Y (col, ...)]``: exactly one of ``analysis`` (with ``group``) and
    ``live_table`` is set."""

    dashboard: ObjectRef
    title: str
    chart_type: str
    group: GroupRef | None = None
    analysis: str | None = None
    live_table: ObjectRef | None = None
    x: str | None = None
    y: tuple[str, ...] = ()


@dataclass(**_frozen)
class ShowDashboards:
    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class DescribeDashboard:
    dashboard: ObjectRef


@dataclass(**_frozen)
class RenderDashboard:
    """``RENDER DASHBOARD d [FORMAT JSON|YAML|HTML]``: one row with the rendered text, its
    charts computed now with the caller's rights."""

    dashboard: ObjectRef
    format: str = "json"


@dataclass(**_frozen)
class PublishDashboard:
    """``PUBLISH DASHBOARD d``: render it to HTML, store it under the store's home (served by
    ``raise serve --http-port``) and return its URL."""

    dashboard: ObjectRef


@dataclass(**_frozen)
class DropDashboard:
    dashboard: ObjectRef
    if_exists: bool = False


DASHBOARD_STATEMENTS: tuple[type, ...] = (
    CreateDashboard, AddDashboardParameter, AddDashboardChart, ShowDashboards, DescribeDashboard,
    RenderDashboard, PublishDashboard, DropDashboard,
)

_LEADING = re.compile(
    r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:CREATE\s+(?:OR\s+REPLACE\s+)?DASHBOARD|ALTER\s+DASHBOARD|SHOW\s+DASHBOARDS|DESCRIBE\s+DASHBOARD"
    r"|RENDER\s+DASHBOARD|PUBLISH\s+DASHBOARD|DROP\s+DASHBOARD)\b",
    re.IGNORECASE | re.DOTALL,
)
_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "LPAR": "'('",
    "RPAR": "')'", "COMMA": "','", "SLASH": "'/'", "$END": "end of statement",
}


# ------------------------------------------------------------------ checks


def check_chart_type(word: str) -> str:
    """A chart type of :data:`CHART_TYPES` (lower case), or RAISE-V420."""
    value = str(word).lower()
    if value not in CHART_TYPES:
        raise ValidationError(f"unknown chart type {word!r}; expected one of {', '.join(CHART_TYPES)}",
                              code="RAISE-V420", name=str(word))
    return value


def check_format(word: str) -> str:
    """``json``, ``yaml`` or ``html``, or RAISE-V422."""
    value = str(word).lower()
    if value not in FORMATS:
        raise ValidationError(f"unknown dashboard format {word!r}; expected one of {', '.join(FORMATS)}",
                              code="RAISE-V422", name=str(word))
    return value


def check_parameter(parameter: Parameter) -> Parameter:
    """A date range defaults to two ISO dates in order; a dropdown has distinct options and a
    default among them (RAISE-V421 otherwise)."""
    def refuse(message: str) -> ValidationError:
        return ValidationError(f"parameter {parameter.name!r}: {message}", code="RAISE-V421", name=parameter.name)

    if parameter.kind == "date_range":
        if parameter.options:
            raise refuse("a date range has no options")
        if parameter.default and len(parameter.default) != 2:
            raise refuse("a date range defaults to two dates (from, to)")
        try:
            bounds = [dt.date.fromisoformat(d) for d in parameter.default]
        except ValueError as error:
            raise refuse(f"{error}; write dates as 'YYYY-MM-DD'") from None
        if bounds and bounds[0] > bounds[1]:
            raise refuse(f"the range starts after it ends ({bounds[0]} > {bounds[1]})")
        return parameter
    if not parameter.options or len(set(parameter.options)) != len(parameter.options):
        raise refuse("a dropdown needs one or more distinct options")
    if len(parameter.default) > 1 or (parameter.default and parameter.default[0] not in parameter.options):
        raise refuse(f"the default must be one of the options {list(parameter.options)}")
    return parameter


# ------------------------------------------------------------------ parsing


def parse_dashboard_statement(text: str):
    """Parse one statement (no ``;``) if it belongs to this family, else return None."""
    if not _LEADING.match(text):
        return None
    return clauses.transform(_lark(), _ToDashboards(), text, _friendly, "dashboard statement")


def _lark() -> Lark:
    return clauses.grammar("dashboards.lark")


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal.strip('"').upper())


def _at(error: ValidationError, meta) -> ValidationError:
    return ValidationError(error.message, code=error.code, name=error.name,
                           line=getattr(meta, "line", 1), column=getattr(meta, "column", 1))


@v_args(meta=True)
class _ToDashboards(clauses.CommonTransformer):
    """Map each rule of ``dashboards.lark`` to a statement dataclass (stateless)."""

    def ref(self, meta, names) -> ObjectRef:
        clauses.check_path(tuple(names), 4, "a dashboard or live table reference", meta)
        return ObjectRef(name=names[-1], project=tuple(names[:-1]) or None)

    def description(self, meta, children):
        return clauses.option("description", children[0], meta)

    def strings(self, meta, children) -> tuple[str, ...]:
        return tuple(children)

    def date_range(self, meta, _):
        return clauses.option("kind", ("date_range", ()), meta)

    def dropdown(self, meta, children):
        return clauses.option("kind", ("dropdown", children[0]), meta)

    def label(self, meta, children):
        return clauses.option("label", children[0], meta)

    def column(self, meta, children):
        return clauses.option("column", children[0], meta)

    def default(self, meta, children):
        return clauses.option("default", children[0], meta)

    def analysis_source(self, meta, children):
        try:
            return clauses.option("source", {"group": children[0], "analysis": check_analysis(children[1])}, meta)
        except ValidationError as error:
            raise _at(error, meta) from None

    def live_source(self, meta, children):
        return clauses.option("source", {"live_table": children[0]}, meta)

    def x(self, meta, children):
        return clauses.option("x", children[0], meta)

    def y(self, meta, children):
        return clauses.option("y", tuple(children), meta)

    def create_dashboard(self, meta, children) -> CreateDashboard:
        (ref,) = clauses.positional(children)
        return CreateDashboard(dashboard=ref, **_conflict(clauses.options(children), meta))

    def add_parameter(self, meta, children) -> AddDashboardParameter:
        ref, name = clauses.positional(children)
        options = clauses.options(children)
        kind, choices = options.pop("kind")
        try:
            parameter = check_parameter(Parameter(name=name, kind=kind, options=choices, **options))
        except ValidationError as error:
            raise _at(error, meta) from None
        return AddDashboardParameter(dashboard=ref, parameter=parameter)

    def add_chart(self, meta, children) -> AddDashboardChart:
        ref, title, word = clauses.positional(children)
        try:
            chart_type = check_chart_type(str(word))
        except ValidationError as error:
            raise _at(error, word) from None
        options = clauses.options(children)
        return AddDashboardChart(dashboard=ref, title=title, chart_type=chart_type, **options.pop("source"),
                                 **options)

    def show_dashboards(self, meta, children) -> ShowDashboards:
        return ShowDashboards(within=children[0] if children else None)

    def describe_dashboard(self, meta, children) -> DescribeDashboard:
        return DescribeDashboard(dashboard=children[0])

    def render_dashboard(self, meta, children) -> RenderDashboard:
        if len(children) == 1:
            return RenderDashboard(dashboard=children[0])
        try:
            return RenderDashboard(dashboard=children[0], format=check_format(str(children[1])))
        except ValidationError as error:
            raise _at(error, children[1]) from None

    def publish_dashboard(self, meta, children) -> PublishDashboard:
        return PublishDashboard(dashboard=children[0])

    def drop_dashboard(self, meta, children) -> DropDashboard:
        (ref,) = clauses.positional(children)
        return DropDashboard(dashboard=ref, **clauses.options(children))


# ------------------------------------------------------------------ rendering


def _strings(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(quote_literal(v) for v in values) + ")"


def _create(s: CreateDashboard) -> str:
    text = "CREATE OR REPLACE DASHBOARD " if s.conflict == "update" else "CREATE DASHBOARD "
    text += ("IF NOT EXISTS " if s.conflict == "skip" else "") + _ref(s.dashboard)
    return text + ("" if s.description is None else " DESCRIPTION " + quote_literal(s.description))


def _add_parameter(s: AddDashboardParameter) -> str:
    p = s.parameter
    parts = ["ALTER DASHBOARD", _ref(s.dashboard), "ADD PARAMETER", quote_ident(p.name)]
    parts.append("DATE RANGE" if p.kind == "date_range" else "DROPDOWN OPTIONS " + _strings(p.options))
    if p.label is not None:
        parts += ["LABEL", quote_literal(p.label)]
    if p.column is not None:
        parts += ["COLUMN", quote_ident(p.column)]
    if p.default:
        parts += ["DEFAULT", _strings(p.default) if p.kind == "date_range" else quote_literal(p.default[0])]
    return " ".join(parts)


def _add_chart(s: AddDashboardChart) -> str:
    parts = ["ALTER DASHBOARD", _ref(s.dashboard), "ADD CHART", quote_literal(s.title), "AS", s.chart_type.upper()]
    if s.live_table is not None:
        parts += ["FROM LIVE TABLE", _ref(s.live_table)]
    else:
        parts += ["ON", _ref(s.group), "ANALYZE", quote_literal(s.analysis)]
    if s.x is not None:
        parts += ["X", quote_ident(s.x)]
    if s.y:
        parts += ["Y", "(" + ", ".join(quote_ident(c) for c in s.y) + ")"]
    return " ".join(parts)


_RENDERERS = {
    CreateDashboard: _create,
    AddDashboardParameter: _add_parameter,
    AddDashboardChart: _add_chart,
    ShowDashboards: lambda s: "SHOW DASHBOARDS" + _path(s.within),
    DescribeDashboard: lambda s: "DESCRIBE DASHBOARD " + _ref(s.dashboard),
    RenderDashboard: lambda s: "RENDER DASHBOARD " + _ref(s.dashboard) + " FORMAT " + s.format.upper(),
    PublishDashboard: lambda s: "PUBLISH DASHBOARD " + _ref(s.dashboard),
    DropDashboard: lambda s: "DROP DASHBOARD " + ("IF EXISTS " if s.if_exists else "") + _ref(s.dashboard),
}


def render_dashboard_statement(stmt) -> str:
    """Canonical Raise SQL for a dashboard statement (quoted names, escaped literals)."""
    renderer = _RENDERERS.get(type(stmt))
    if renderer is None:
        raise ValidationError(f"not a dashboard statement: {type(stmt).__name__}")
    return renderer(stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_dashboard_statement, dict(_RENDERERS))
