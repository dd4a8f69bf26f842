"""Dashboards: catalog objects of a project, their statements and their rules.

A dashboard (kind ``dashboard``, keyed ``<org>/<domain>/<project>/<name>``) holds parameters and
charts; each chart reads an analysis of a group or a live table. Creating one, or adding to it,
needs ``admin`` on its project; adding a chart also needs ``read`` on every feature the chart
reads, so a dashboard never holds what its author could not read. Rendering or publishing
needs to see the project, and computes every chart with the renderer's rights
(``document``). ``PUBLISH`` writes the page to ``<home>/dashboards/<org>/<domain>/<project>/
<name>.html`` and answers its URL: ``http://...`` when the engine serves that folder
(``raise serve --http-port``), else ``file://...``. Dropped with their project by a
``DROP ... CASCADE``.
"""
from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar.dashboards import (
    AddDashboardChart, AddDashboardParameter, CreateDashboard, DescribeDashboard, DropDashboard, PublishDashboard,
    RenderDashboard, ShowDashboards,
)
from grammar.analytics import ObjectRef
from grammar.errors import AlreadyExists, NotFound
from raise_.analytics import inside, live
from raise_.analytics.document import build_document
from raise_.analytics.page import render_document
from raise_.analytics.schema import check
from raise_.engine import names, registry, results
from raise_.engine.resolve import group_of, project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import control
from raise_.engine.security.checks import creating, on_target

if TYPE_CHECKING:
    from raise_.engine.session import Session

KIND = "dashboard"
#: The folder of the store's home that published dashboards go to (and ``--http-port`` serves).
FOLDER = "dashboards"

DASHBOARD_SCHEMA = pa.schema([
    ("project", pa.string()), ("name", pa.string()), ("path", pa.string()), ("description", pa.string()),
    ("owner", pa.string()), ("parameters", pa.list_(pa.string())), ("charts", pa.list_(pa.string())),
    ("groups", pa.list_(pa.string())), ("definition", pa.string()), ("created_at", pa.string()),
    ("updated_at", pa.string()),
])
RENDER_SCHEMA = pa.schema([("dashboard", pa.string()), ("format", pa.string()), ("content", pa.string())])
PUBLISH_SCHEMA = pa.schema([("dashboard", pa.string()), ("url", pa.string()), ("file", pa.string()),
                            ("bytes", pa.int64())])


def _key(session: "Session", ref: ObjectRef) -> tuple[tuple[str, ...], str]:
    project = project_of(session, ref.project)
    return project, names.join(*project, ref.name)


def record_at(session: "Session", ref: ObjectRef) -> dict[str, Any]:
    project, key = _key(session, ref)
    record = session.catalog.get(KIND, key)
    if record is None:
        others = [r["name"] for r in session.catalog.list(KIND, parent=names.join(*project))]
        raise NotFound(f"dashboard {key!r} does not exist" + (f"; dashboards here: {', '.join(others)}" if others
                                                              else "; CREATE DASHBOARD makes one"),
                       code="RAISE-N420", name=ref.name)
    return record


def _put(session: "Session", record: dict[str, Any]) -> None:
    stored = {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}
    session.catalog.put(KIND, names.join(*record["project"], record["name"]), stored,
                        parent=names.join(*record["project"]))


# -- statements ----------------------------------------------------------------------------


def create_dashboard(session: "Session", stmt: CreateDashboard) -> pa.Table:
    project, key = _key(session, stmt.dashboard)
    registry.namespace(session.catalog, project)
    existing = session.catalog.get(KIND, key)
    if existing is not None and stmt.conflict != "update":
        if stmt.conflict == "skip":
            return results.ddl("CREATE DASHBOARD", key, 0)
        raise AlreadyExists(f"dashboard {key!r} already exists; use CREATE OR REPLACE DASHBOARD to start it afresh",
                            code="RAISE-A420", name=stmt.dashboard.name)
    _put(session, {"name": stmt.dashboard.name, "project": list(project), "description": stmt.description,
                   "owner": existing["owner"] if existing else session.principal, "parameters": [], "charts": []})
    return results.ddl("CREATE DASHBOARD", key, 1)


def add_parameter(session: "Session", stmt: AddDashboardParameter) -> pa.Table:
    record = record_at(session, stmt.dashboard)
    p = stmt.parameter
    if any(q["name"] == p.name for q in record["parameters"]):
        raise AlreadyExists(f"dashboard {record['key']!r} already has a parameter {p.name!r}",
                            code="RAISE-A421", name=p.name)
    record["parameters"].append({"name": p.name, "kind": p.kind, "label": p.label, "options": list(p.options),
                                 "default": list(p.default), "column": p.column})
    _put(session, record)
    return results.ddl("ALTER DASHBOARD", record["key"], 1)


def add_chart(session: "Session", stmt: AddDashboardChart) -> pa.Table:
    record = record_at(session, stmt.dashboard)
    if any(c["title"] == stmt.title for c in record["charts"]):
        raise AlreadyExists(f"dashboard {record['key']!r} already has a chart titled {stmt.title!r}",
                            code="RAISE-A421", name=stmt.title)
    chart: dict[str, Any] = {"title": stmt.title, "chart_type": stmt.chart_type, "x": stmt.x, "y": list(stmt.y)}
    if stmt.live_table is not None:
        project, key = _key(session, stmt.live_table)
        found = live.record_at(session, key, stmt.live_table.name)
        chart.update(live_table=[*project, stmt.live_table.name], group=found["group"].split("/"))
    else:
        group = group_of(session, stmt.group)
        analysis = inside.analysis_of(stmt.analysis)
        check(analysis, inside.schema_of(session, tuple(group.project), group.name, session.principal))
        chart.update(group=group.key.split("/"), analysis=stmt.analysis)
    record["charts"].append(chart)
    _put(session, record)
    return results.ddl("ALTER DASHBOARD", record["key"], 1)


def show_dashboards(session: "Session", stmt: ShowDashboards) -> pa.Table:
    if stmt.within is None and session.project is None:
        found = session.catalog.list(KIND)
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        found = session.catalog.list(KIND, parent=names.join(*project))
    return results.rows(DASHBOARD_SCHEMA, [_row(r) for r in found])


def describe_dashboard(session: "Session", stmt: DescribeDashboard) -> pa.Table:
    return results.rows(DASHBOARD_SCHEMA, [_row(record_at(session, stmt.dashboard))])


def render_dashboard(session: "Session", stmt: RenderDashboard) -> pa.Table:
    record = record_at(session, stmt.dashboard)
    content = render_document(build_document(session, record), stmt.format)
    return results.rows(RENDER_SCHEMA, [{"dashboard": record["key"], "format": stmt.format, "content": content}])


def publish_dashboard(session: "Session", stmt: PublishDashboard) -> pa.Table:
    record = record_at(session, stmt.dashboard)
    page = render_document(build_document(session, record), "html").encode("utf-8")
    relative = Path(*record["project"], record["name"] + ".html")
    target = Path(session.engine.home) / FOLDER / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(page)
    partial.replace(target)  # readers never see half a page
    base = getattr(session.engine, "dashboard_url", None)
    url = (base.rstrip("/") + "/" + urllib.parse.quote(relative.as_posix())) if base else target.resolve().as_uri()
    return results.rows(PUBLISH_SCHEMA, [{"dashboard": record["key"], "url": url, "file": str(target),
                                          "bytes": len(page)}])


def drop_dashboard(session: "Session", stmt: DropDashboard) -> pa.Table:
    _, key = _key(session, stmt.dashboard)
    record = session.catalog.get(KIND, key)
    if record is None:
        if stmt.if_exists:
            return results.ddl("DROP DASHBOARD", key, 0)
        record_at(session, stmt.dashboard)
    drop_record(session, record)
    return results.ddl("DROP DASHBOARD", key, 1)


def drop_record(session: "Session", record: dict[str, Any]) -> None:
    """Remove a dashboard; its published page goes once the statement has committed."""
    session.catalog.delete(KIND, record["key"])
    page = Path(session.engine.home) / FOLDER / Path(*record["project"], record["name"] + ".html")
    session.after_commit(lambda: page.unlink(missing_ok=True))


def _row(record: dict[str, Any]) -> dict[str, Any]:
    definition = {"parameters": record["parameters"], "charts": record["charts"]}
    return {**record, "project": names.join(*record["project"]), "path": record["key"],
            "parameters": [p["name"] for p in record["parameters"]],
            "charts": [c["title"] for c in record["charts"]],
            "groups": sorted({"/".join(c["group"]) for c in record["charts"]}),
            "definition": json.dumps(definition, sort_keys=True)}


# -- authorization -------------------------------------------------------------------------


def _paths(session: "Session", ref: ObjectRef) -> tuple[str, str]:
    """(project path, audit resource) of a dashboard; ``dashboard:`` keeps it apart from groups."""
    project = names.join(*project_of(session, ref.project))
    return project, f"{project}/dashboard:{ref.name}"


def create_rule(session, ac, s: CreateDashboard):
    _, resource = _paths(session, s.dashboard)
    return creating(session, resource, Event("CREATE", resource, {"kind": KIND}))


def add_parameter_rule(session, ac, s: AddDashboardParameter):
    project, resource = _paths(session, s.dashboard)
    return on_target(session, project, "admin"), [Event("UPDATE_METADATA", resource,
                                                        {"kind": KIND, "parameter": s.parameter.name})]


def add_chart_rule(session, ac, s: AddDashboardChart):
    """Admin on the project, and ``read`` on every feature the chart reads."""
    project, resource = _paths(session, s.dashboard)
    needs = on_target(session, project, "admin")
    if s.live_table is not None:
        _, key = _key(session, s.live_table)
        found = session.catalog.get(live.KIND, key)
        reads = [] if found is None else [(found["group"], found["features"])]
    else:
        group = names.join(*project_of(session, s.group.project), s.group.name)
        features = sorted({c.partition("@")[0] for c in inside.analysis_of(s.analysis).columns()})
        reads = [(group, features)]
    for group, features in reads:
        needs += on_target(session, group, "see")
        for feature in features:
            needs += on_target(session, f"{group}/{feature}", "read")
    return needs, [Event("UPDATE_METADATA", resource, {"kind": KIND, "chart": s.title})]


def read_rule(session, ac, s: RenderDashboard | PublishDashboard):
    """Seeing the project; each chart's own queries need ``read`` on what it reads."""
    project, resource = _paths(session, s.dashboard)
    details = {"kind": KIND, "format": getattr(s, "format", "html")}
    if isinstance(s, PublishDashboard):
        details["published"] = True
    return on_target(session, project, "see"), [Event("READ", resource, details)]


def describe_rule(session, ac, s: DescribeDashboard):
    return on_target(session, _paths(session, s.dashboard)[0], "see"), []


def drop_rule(session, ac, s: DropDashboard):
    project, resource = _paths(session, s.dashboard)
    return on_target(session, project, "admin"), [Event("DELETE", resource, {"kind": KIND})]


def visible_dashboards(session: "Session", statement: ShowDashboards, table: pa.Table) -> pa.Table:
    """SHOW DASHBOARDS without the dashboards of projects, or over groups, the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    keep = [ac.visible(project) and all(ac.visible(g) for g in groups)
            for project, groups in zip(table.column("project").to_pylist(), table.column("groups").to_pylist())]
    return table.filter(pa.array(keep, pa.bool_()))

