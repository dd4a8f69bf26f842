"""Analytics alerts: an analysis checked on an interval against a condition.

An alert is a catalog object of kind ``analytics alert`` in its group's project. ``CHECK
ALERTS`` (``raise alerts check`` from cron or CI) evaluates every alert that is due (its
``check_interval`` has passed since its last check; ``FORCE``: all), running its analysis with
the rights of the alert's owner, so an alert watches only what its owner may read. When the
condition starts to hold (the alert goes from ``ok`` or ``pending`` to ``firing``) one JSON
message per channel is written to ``<home>/outbox/<channel>/``, the outbox audit alerts use;
while it keeps holding no new message is sent. Checks that fired or failed are kept
(``SHOW FIRINGS OF ALERT a``, the newest 100), and each firing is in the audit log
(``UPDATE_METADATA`` of ``<project>/alert:<name>`` with ``{"status": "firing", "value", ...}``).

The value a condition compares: an ``Aggregation``'s first metric (grouped or windowed: each
row's, and the condition holds if it holds for any row); a ``StatTest``'s ``p_value``; a
``VersionDiff``'s ``psi`` (``KL_DIVERGENCE_GREATER_THAN``: ``kl_divergence``); a
``RecordLookup``'s number of records. Distributions and correlations have no single value and
are refused.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar.analytics import CheckAlerts, CreateAlert, DropAlert, ObjectRef, ShowAlerts, ShowFirings
from grammar.errors import AlreadyExists, NotFound, RaiseError, ValidationError
from raise_.analytics import inside
from raise_.analytics.results import AnalysisResult
from raise_.analytics.schema import check
from raise_.analytics.spec import Aggregation, Analysis, RecordLookup, StatTest, VersionDiff, parse_duration
from raise_.engine import names, registry, results
from raise_.engine.resolve import group_of, project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.audit_scope import allow
from raise_.engine.security.authorize import control
from raise_.engine.security.checks import creating, on_target
from raise_.engine.security.outbox import outbox

if TYPE_CHECKING:
    from raise_.engine.session import Session

KIND = "analytics alert"
HISTORY = 100
_KINDS = (Aggregation, StatTest, VersionDiff, RecordLookup)
#: Conditions that only one kind of analysis has a value for.
_ONLY = {"PSI_GREATER_THAN": VersionDiff, "KL_DIVERGENCE_GREATER_THAN": VersionDiff,
         "P_VALUE_LESS_THAN": StatTest}
_TIME = pa.timestamp("us", tz="UTC")

ALERT_SCHEMA = pa.schema([
    ("project", pa.string()), ("name", pa.string()), ("path", pa.string()), ("group", pa.string()),
    ("analysis", pa.string()), ("condition", pa.string()), ("values", pa.list_(pa.float64())),
    ("notify", pa.list_(pa.string())), ("channels", pa.list_(pa.string())),
    ("check_interval", pa.string()), ("owner", pa.string()), ("status", pa.string()),
    ("last_checked", _TIME), ("last_value", pa.float64()), ("last_error", pa.string()),
    ("created_at", pa.string()), ("updated_at", pa.string()),
])
CHECK_SCHEMA = pa.schema([
    ("alert", pa.string()), ("id", pa.int64()), ("checked_at", _TIME), ("status", pa.string()),
    ("value", pa.float64()), ("fired", pa.bool_()), ("messages", pa.int64()), ("error", pa.string()),
])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- conditions ----------------------------------------------------------------------------


def check_fits(analysis: Analysis, condition: str) -> None:
    """Refuse an analysis that has no value for ``condition`` (RAISE-V414)."""
    if not isinstance(analysis, _KINDS):
        raise ValidationError(f"an alert compares one value, and a {type(analysis).__name__} has none; "
                              "use an Aggregation, StatTest, VersionDiff or RecordLookup",
                              code="RAISE-V414", name=type(analysis).__name__)
    wanted = _ONLY.get(condition)
    if wanted is not None and not isinstance(analysis, wanted):
        raise ValidationError(f"{condition} compares a {wanted.__name__}'s result, not a "
                              f"{type(analysis).__name__}'s", code="RAISE-V414", name=condition)
    if isinstance(analysis, VersionDiff) and "distribution" not in analysis.compare:
        raise ValidationError("an alert on a VersionDiff compares its distribution drift; "
                              "add 'distribution' to compare=", code="RAISE-V414", name=condition)


def values_of(result: AnalysisResult, condition: str) -> list[float]:
    """The values of ``result`` that ``condition`` compares (NULLs left out)."""
    analysis = result.analysis
    if isinstance(analysis, Aggregation):
        metric = analysis.metrics[0]
        found = [result.metrics[metric]] if result.metrics is not None else [r[metric] for r in result.rows]
    elif isinstance(analysis, StatTest):
        found = [result.p_value]
    elif isinstance(analysis, VersionDiff):
        drift = result.distribution_drift or {}
        found = [drift.get("kl_divergence" if condition == "KL_DIVERGENCE_GREATER_THAN" else "psi")]
    else:
        found = [len(result.records)]
    return [float(v) for v in found if v is not None and not (isinstance(v, float) and math.isnan(v))]


def holds(condition: str, bounds: tuple[float, ...], value: float) -> bool:
    first = bounds[0]
    if condition in ("GREATER_THAN", "PSI_GREATER_THAN", "KL_DIVERGENCE_GREATER_THAN"):
        return value > first
    if condition in ("LESS_THAN", "P_VALUE_LESS_THAN"):
        return value < first
    if condition == "EQUALS":
        return math.isclose(value, first, rel_tol=1e-9, abs_tol=1e-12)
    if condition == "NOT_EQUALS":
        return not math.isclose(value, first, rel_tol=1e-9, abs_tol=1e-12)
    inside_range = bounds[0] <= value <= bounds[1]
    return inside_range if condition == "BETWEEN" else not inside_range


# -- statements ----------------------------------------------------------------------------


def _key(session: "Session", ref: ObjectRef) -> str:
    return names.join(*project_of(session, ref.project), ref.name)


def record_at(session: "Session", key: str, name: str) -> dict[str, Any]:
    record = session.catalog.get(KIND, key)
    if record is None:
        project = key.rsplit("/", 1)[0]
        others = [r["name"] for r in session.catalog.list(KIND, parent=project)]
        raise NotFound(f"alert {key!r} does not exist" + (f"; alerts here: {', '.join(others)}" if others
                                                          else "; CREATE ALERT makes one"),
                       code="RAISE-N411", name=name)
    return record


def create_alert(session: "Session", stmt: CreateAlert) -> pa.Table:
    catalog = session.catalog
    group = group_of(session, stmt.group)
    project, key = tuple(group.project), names.join(*group.project, stmt.name)
    existing = catalog.get(KIND, key)
    if existing is not None and stmt.conflict != "update":
        if stmt.conflict == "skip":
            return results.ddl("CREATE ALERT", key, 0)
        raise AlreadyExists(f"alert {key!r} already exists; use CREATE OR REPLACE ALERT to change it",
                            code="RAISE-A411", name=stmt.name)
    analysis = inside.analysis_of(stmt.analysis)
    check_fits(analysis, stmt.condition)
    check(analysis, inside.schema_of(session, project, group.name, session.principal))
    record = {
        "name": stmt.name, "project": list(project), "group": group.key, "group_name": group.name,
        "analysis": stmt.analysis, "condition": stmt.condition, "values": list(stmt.values),
        "notify": list(stmt.notify), "channels": list(stmt.channels), "check_interval": stmt.check_interval,
        "owner": existing["owner"] if existing else session.principal, "status": "pending", "history": [],
    }
    catalog.put(KIND, key, record, parent=names.join(*project))
    return results.ddl("CREATE ALERT", key, 1)


def show_alerts(session: "Session", stmt: ShowAlerts) -> pa.Table:
    if stmt.within is None and session.project is None:
        found = session.catalog.list(KIND)
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        found = session.catalog.list(KIND, parent=names.join(*project))
    return results.rows(ALERT_SCHEMA, [_row(r) for r in found])


def show_firings(session: "Session", stmt: ShowFirings) -> pa.Table:
    key = _key(session, stmt.alert)
    history = record_at(session, key, stmt.alert.name)["history"][:stmt.limit]
    return results.rows(CHECK_SCHEMA, [_check_row(key, c) for c in history])


def drop_alert(session: "Session", stmt: DropAlert) -> pa.Table:
    key = _key(session, stmt.alert)
    if session.catalog.get(KIND, key) is None:
        if stmt.if_exists:
            return results.ddl("DROP ALERT", key, 0)
        record_at(session, key, stmt.alert.name)
    session.catalog.delete(KIND, key)
    return results.ddl("DROP ALERT", key, 1)


def drop_record(session: "Session", record: dict[str, Any]) -> None:
    session.catalog.delete(KIND, record["key"])


def check_alerts(session: "Session", stmt: CheckAlerts) -> pa.Table:
    """Evaluate the due alerts of the project (without one: of every project the principal
    administers); one row per alert checked."""
    if stmt.within is None and session.project is None:
        ac = control(session)
        found = [r for r in session.catalog.list(KIND) if ac.allows("admin", names.join(*r["project"]))]
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        found = session.catalog.list(KIND, parent=names.join(*project))
    now = _now()
    checked = [_check(session, r, now) for r in found if stmt.force or _due(r, now)]
    return results.rows(CHECK_SCHEMA, [_check_row(r["key"], c) for r, c in checked])


def _due(record: dict[str, Any], now: dt.datetime) -> bool:
    last = record.get("last_checked")
    interval = parse_duration(record["check_interval"], "check interval").timedelta
    return last is None or dt.datetime.fromisoformat(last) + interval <= now


def _check(session: "Session", record: dict[str, Any], now: dt.datetime) -> tuple[dict, dict]:
    """Run one alert's analysis as its owner and compare; (record, check)."""
    check_id = session.catalog.next_id("analytics alert check")
    entry = {"id": check_id, "checked_at": now.isoformat(), "value": None, "fired": False,
             "messages": 0, "error": None}
    try:
        result = inside.run(session, tuple(record["project"]), record["group_name"],
                            inside.analysis_of(record["analysis"]), record["owner"])
        values = values_of(result, record["condition"])
    except RaiseError as error:
        entry.update(status="error", error=f"[{error.code}] {error.message}")
    else:
        hits = [v for v in values if holds(record["condition"], tuple(record["values"]), v)]
        entry.update(status="firing" if hits else "ok", value=(hits or values or [None])[0])
        if hits and record["status"] != "firing":
            entry.update(fired=True, messages=len(record["channels"]))
            message = _message(record, entry)
            session.after_commit(lambda: _deliver(session.engine.home, record, message))
            allow(session, [_fired(record, entry)])
    record.update(status=entry["status"], last_checked=entry["checked_at"], last_value=entry["value"],
                  last_error=entry["error"])
    if entry["status"] != "ok":
        record["history"] = [entry, *record["history"]][:HISTORY]
    session.catalog.put(KIND, record["key"], {k: v for k, v in record.items()
                                              if k not in ("key", "created_at", "updated_at")},
                        parent=names.join(*record["project"]))
    return record, entry


def _fired(record: dict[str, Any], entry: dict[str, Any]) -> Event:
    """The audit event of a firing: the alert's status became ``firing`` (its messages went out)."""
    resource = f"{names.join(*record['project'])}/alert:{record['name']}"
    return Event("UPDATE_METADATA", resource, {
        "kind": KIND, "status": "firing", "fired": True, "condition": record["condition"],
        "values": list(record["values"]), "value": entry["value"], "check": entry["id"],
        "channels": list(record["channels"]), "owner": record["owner"]})


def _message(record: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    bounds = ", ".join(f"{v:g}" for v in record["values"])
    return {
        "alert": record["name"], "kind": "analytics", "to": list(record["notify"]),
        "subject": f"Raise alert {record['name']}: {record['condition']}({bounds}) holds on "
                   f"{record['group']} (value {entry['value']:g})",
        "group": record["group"], "condition": record["condition"], "values": record["values"],
        "value": entry["value"], "checked_at": entry["checked_at"], "check": entry["id"],
    }


def _deliver(home: Any, record: dict[str, Any], message: dict[str, Any]) -> None:
    safe = re.sub(r"[^\w.-]", "_", record["name"])
    for channel in record["channels"]:
        folder = outbox(home, channel)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"analytics-{message['check']:012d}-{safe}.json"
        path.write_text(json.dumps({**message, "channel": channel}, indent=2, default=str))


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "project": names.join(*record["project"]), "path": record["key"],
            "last_checked": _instant(record.get("last_checked"))}


def _check_row(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"alert": key, **entry, "checked_at": _instant(entry["checked_at"])}


# -- authorization -------------------------------------------------------------------------


def _paths(session: "Session", project: tuple[str, ...] | None, name: str) -> tuple[str, str]:
    path = names.join(*project_of(session, project))
    return path, f"{path}/alert:{name}"


def create_rule(session, ac, s: CreateAlert):
    _, resource = _paths(session, s.group.project, s.name)
    return creating(session, resource, Event("CREATE", resource, {"kind": KIND, "condition": s.condition}))


def drop_rule(session, ac, s: DropAlert):
    project, resource = _paths(session, s.alert.project, s.alert.name)
    return on_target(session, project, "admin"), [Event("DELETE", resource, {"kind": KIND})]


def describe_rule(session, ac, s: ShowFirings):
    return on_target(session, _paths(session, s.alert.project, s.alert.name)[0], "see"), []


def check_rule(session, ac, s: CheckAlerts):
    """Checking a project's alerts needs ``admin`` there; without a project the handler checks
    only the projects the principal administers."""
    if s.within is None and session.project is None:
        return [], []
    return on_target(session, names.join(*project_of(session, s.within)), "admin"), []


def visible_alerts(session: "Session", statement: ShowAlerts, table: pa.Table) -> pa.Table:
    """SHOW ALERTS without the alerts over groups the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    return table.filter(pa.array([ac.visible(g) for g in table.column("group").to_pylist()], pa.bool_()))
