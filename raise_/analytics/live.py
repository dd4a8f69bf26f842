"""Live tables: an analysis's result kept in the catalog and a Delta table, refreshed by policy.

A live table is a catalog object of kind ``live table`` in its group's project, keyed
``<org>/<domain>/<project>/<name>``; its rows are the analysis's result rows
(``to_dataframe()``), written to a Delta table of its own (every refresh is one overwrite
commit, so earlier results stay readable by version). Queries name it like a group
(``SELECT * FROM daily_engagement``) and need ``read`` on the features its analysis reads.

Refresh policies: ``on_change`` refreshes when the group's Delta table has a newer version
than the one the last refresh read; ``hourly``, ``daily`` and ``cron`` when a run time of the
schedule (``croniter``) has passed since the last refresh; ``manual`` only on request.
``REFRESH LIVE TABLE t`` recomputes now; ``... IF STALE`` only when the policy says it is due
(the SDK sends that before each ``query()``, so an ``on_change`` table is checked on query
and on refresh, not on write). An ``on_change`` refresh after appends merges the result over
the appended rows only (``incremental``); every other refresh recomputes the analysis.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

from grammar.analytics import (
    SCHEDULES, CreateLiveTable, DescribeLiveTable, DropLiveTable, ObjectRef, RefreshLiveTable, ShowLiveTables,
    ShowRefreshes,
)
from grammar.errors import AlreadyExists, NotFound, PermissionDenied, RaiseError
from raise_.analytics import incremental, inside
from raise_.engine import names, registry, results
from raise_.engine.records import GroupRecord
from raise_.engine.resolve import group_of, project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import Need, control, feature_readable
from raise_.engine.security.checks import creating, on_target

if TYPE_CHECKING:
    from raise_.engine.session import Session

KIND = "live table"
#: Refresh events kept per live table (the oldest are forgotten).
HISTORY = 100
_HIDDEN = re.compile(r"\A__raise_live(\d+)\Z")

LIVE_SCHEMA = pa.schema([
    ("project", pa.string()), ("name", pa.string()), ("path", pa.string()), ("group", pa.string()),
    ("analysis", pa.string()), ("refresh", pa.string()), ("cron", pa.string()),
    ("description", pa.string()), ("owner", pa.string()), ("status", pa.string()),
    ("last_refresh", pa.timestamp("us", tz="UTC")), ("source_version", pa.int64()),
    ("rows", pa.int64()), ("features", pa.list_(pa.string())), ("last_error", pa.string()),
    ("created_at", pa.string()), ("updated_at", pa.string()),
])
REFRESH_SCHEMA = pa.schema([
    ("live_table", pa.string()), ("id", pa.int64()), ("status", pa.string()), ("trigger", pa.string()),
    ("mode", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("rows", pa.int64()), ("source_version", pa.int64()), ("error", pa.string()),
])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key(session: "Session", ref: ObjectRef) -> tuple[tuple[str, ...], str]:
    project = project_of(session, ref.project)
    return project, names.join(*project, ref.name)


def record_at(session: "Session", key: str, name: str) -> dict[str, Any]:
    record = session.catalog.get(KIND, key)
    if record is None:
        project = key.rsplit("/", 1)[0]
        others = [r["name"] for r in session.catalog.list(KIND, parent=project)]
        raise NotFound(f"live table {key!r} does not exist" + (f"; live tables here: {', '.join(others)}"
                                                               if others else "; CREATE LIVE TABLE makes one"),
                       code="RAISE-N410", name=name)
    return record


def table_version(session: "Session", group: GroupRecord) -> int | None:
    """The newest version of a group's Delta table (None before its first write)."""
    storage = session.engine.storage
    version = storage.local_version(group.uri)
    if version is None and (table := storage.latest(group.uri)) is not None:
        version = table.version()
    return version


# -- statements ----------------------------------------------------------------------------


def create_live_table(session: "Session", stmt: CreateLiveTable) -> pa.Table:
    catalog = session.catalog
    group = group_of(session, stmt.group)
    project, key = tuple(group.project), names.join(*group.project, stmt.name)
    existing = catalog.get(KIND, key)
    if existing is not None and stmt.conflict != "update":
        if stmt.conflict == "skip":
            return results.ddl("CREATE LIVE TABLE", key, 0)
        raise AlreadyExists(f"live table {key!r} already exists; use CREATE OR REPLACE LIVE TABLE to change it",
                            code="RAISE-A410", name=stmt.name)
    if catalog.get("group", key) is not None:
        raise AlreadyExists(f"{key!r} is a feature group; a live table needs a name of its own",
                            code="RAISE-A410", name=stmt.name)
    analysis = inside.analysis_of(stmt.analysis)
    features = inside.features_read(analysis, inside.schema_of(session, project, group.name, session.principal))
    record = {
        "name": stmt.name, "project": list(project), "group": group.key, "group_name": group.name,
        "analysis": stmt.analysis, "refresh": stmt.refresh,
        "cron": stmt.cron or SCHEDULES.get(stmt.refresh), "description": stmt.description,
        "owner": existing["owner"] if existing else session.principal, "features": features,
        "id": catalog.next_id(KIND), "history": [],
    }
    record["uri"] = session.engine.storage.uri_for(record["id"])
    _refresh(session, record, group, "create", raise_errors=True)
    if existing is not None:
        session.after_commit(lambda: _drop_tables(session, existing))
    return results.ddl("CREATE LIVE TABLE", key, record["rows"])


def refresh_live_table(session: "Session", stmt: RefreshLiveTable) -> pa.Table:
    _, key = _key(session, stmt.table)
    record = record_at(session, key, stmt.table.name)
    group = registry.group(session.catalog, tuple(record["project"]), record["group_name"])
    trigger = due(session, record, group) if stmt.if_stale else "manual"
    if trigger is None:
        now = _now()
        return results.rows(REFRESH_SCHEMA, [{"live_table": key, "status": "up_to_date", "trigger": "check",
                                              "started_at": now, "finished_at": now, "rows": record.get("rows"),
                                              "source_version": record.get("source_version")}])
    event = _refresh(session, record, group, trigger, raise_errors=False)
    return results.rows(REFRESH_SCHEMA, [{"live_table": key, **event}])


def due(session: "Session", record: dict[str, Any], group: GroupRecord) -> str | None:
    """Why a refresh is due now under the table's policy (``on_change``, ``schedule``), or None."""
    if record["refresh"] == "on_change":
        return "on_change" if table_version(session, group) != record.get("source_version") else None
    if record["refresh"] == "manual" or not record.get("last_refresh"):
        return None
    from croniter import croniter  # loaded here: only a schedule needs it, not every start

    last = dt.datetime.fromisoformat(record["last_refresh"])
    return "schedule" if croniter(record["cron"], last).get_next(dt.datetime) <= _now() else None


def _refresh(session: "Session", record: dict[str, Any], group: GroupRecord, trigger: str, *,
             raise_errors: bool) -> dict[str, Any]:
    """Recompute the analysis as the caller and overwrite the Delta table; the refresh event.

    A refused read always raises (nothing is written). Any other failure of a refresh is
    recorded as a ``failed`` event and the table keeps its last rows; at creation it raises."""
    started, version = _now(), table_version(session, group)
    event = {"id": record["history"][0]["id"] + 1 if record["history"] else 1, "trigger": trigger,
             "started_at": started.isoformat(), "source_version": version}
    try:
        analysis = inside.analysis_of(record["analysis"])
        table = incremental.refresh(session, record, group, analysis, version) if trigger == "on_change" else None
        event["mode"] = "full" if table is None else "incremental"
        if table is None:
            result = inside.run(session, tuple(record["project"]), group.name, analysis, session.principal)
            table = inside.as_table(result)
            if incremental.mergeable(analysis) and record["refresh"] == "on_change":
                incremental.remember(session, record, group, analysis, result.sql)
                if incremental.needs_parts(analysis):
                    incremental.write_parts(session, record, group, analysis, version)
        _write(session, record["uri"], table)
        if record["refresh"] == "on_change":
            incremental.kept(session, record, table, version)
    except PermissionDenied:
        raise
    except RaiseError as error:
        if raise_errors:
            raise
        event.update(status="failed", error=f"[{error.code}] {error.message}", rows=None)
        record.update(status="failed", last_error=event["error"])
    else:
        event.update(status="completed", error=None, rows=table.num_rows)
        record.update(status="active", last_error=None, rows=table.num_rows, source_version=version,
                      last_refresh=started.isoformat())
    event["finished_at"] = _now().isoformat()
    record["history"] = [event, *record["history"]][:HISTORY]
    session.catalog.put(KIND, names.join(*record["project"], record["name"]), _stored(record),
                        parent=names.join(*record["project"]))
    return {**event, "started_at": started, "finished_at": dt.datetime.fromisoformat(event["finished_at"])}


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}


def _write(session: "Session", uri: str, table: pa.Table) -> None:
    """One overwrite commit; a table created by this statement goes if the statement fails.

    A result without rows has no columns either (results are rows): it empties the table, or,
    before the first rows, leaves it uncreated (Delta has no zero-column tables)."""
    storage = session.engine.storage
    exists = storage.local_version(uri) is not None or storage.latest(uri) is not None
    if table.num_columns == 0:
        if not exists:
            return
        table = pa.schema(storage.latest(uri).schema().to_arrow()).empty_table()
    if not exists:
        session.on_rollback(lambda: storage.drop(uri))
    target = incremental.target(session, uri) if exists else None
    storage.write(uri, table, "overwrite", (), table=target)
    incremental.keep_target(session, uri, target)


def show_live_tables(session: "Session", stmt: ShowLiveTables) -> pa.Table:
    if stmt.within is None and session.project is None:
        found = session.catalog.list(KIND)
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        found = session.catalog.list(KIND, parent=names.join(*project))
    return results.rows(LIVE_SCHEMA, [_row(r) for r in found])


def describe_live_table(session: "Session", stmt: DescribeLiveTable) -> pa.Table:
    _, key = _key(session, stmt.table)
    return results.rows(LIVE_SCHEMA, [_row(record_at(session, key, stmt.table.name))])


def show_refreshes(session: "Session", stmt: ShowRefreshes) -> pa.Table:
    _, key = _key(session, stmt.table)
    history = record_at(session, key, stmt.table.name)["history"][:stmt.limit]
    return results.rows(REFRESH_SCHEMA, [{"live_table": key, **e, "started_at": _instant(e["started_at"]),
                                          "finished_at": _instant(e["finished_at"])} for e in history])


def drop_live_table(session: "Session", stmt: DropLiveTable) -> pa.Table:
    _, key = _key(session, stmt.table)
    record = session.catalog.get(KIND, key)
    if record is None:
        if stmt.if_exists:
            return results.ddl("DROP LIVE TABLE", key, 0)
        record_at(session, key, stmt.table.name)
    drop_record(session, record)
    return results.ddl("DROP LIVE TABLE", key, 1)


def drop_record(session: "Session", record: dict[str, Any]) -> None:
    """Remove a live table; its files go once the statement has committed."""
    session.catalog.delete(KIND, record["key"])
    session.after_commit(lambda: _drop_tables(session, record))


def _drop_tables(session: "Session", record: dict[str, Any]) -> None:
    """A live table's rows and the partial sums kept beside them (``incremental``)."""
    session.engine.storage.drop(record["uri"])
    session.engine.storage.drop(incremental.parts_uri(record))


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "project": names.join(*record["project"]), "path": record["key"],
            "last_refresh": _instant(record.get("last_refresh"))}


# -- authorization -------------------------------------------------------------------------


def _path(session: "Session", ref: ObjectRef | None, project: tuple[str, ...] | None = None) -> tuple[str, str]:
    """(project path, audit resource) of a live table; ``live table:`` keeps it apart from groups."""
    project = names.join(*project_of(session, project if ref is None else ref.project))
    return project, f"{project}/live table:{ref.name}"


def create_rule(session, ac, s: CreateLiveTable):
    project = names.join(*project_of(session, s.group.project))
    resource = f"{project}/live table:{s.name}"
    return creating(session, resource, Event("CREATE", resource, {"kind": KIND, "group": s.group.name}))


def refresh_rule(session, ac, s: RefreshLiveTable):
    """Seeing the project; the refresh's own queries need ``read`` on what the analysis reads."""
    project, resource = _path(session, s.table)
    return on_target(session, project, "see"), [Event("WRITE", resource, {"kind": KIND})]


def drop_rule(session, ac, s: DropLiveTable):
    project, resource = _path(session, s.table)
    return on_target(session, project, "admin"), [Event("DELETE", resource, {"kind": KIND})]


def describe_rule(session, ac, s: DescribeLiveTable | ShowRefreshes):
    return on_target(session, _path(session, s.table)[0], "see"), []


def visible_live_tables(session: "Session", statement: ShowLiveTables, table: pa.Table) -> pa.Table:
    """SHOW LIVE TABLES without the tables over groups the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    return table.filter(pa.array([ac.visible(g) for g in table.column("group").to_pylist()], pa.bool_()))


# -- queries -------------------------------------------------------------------------------


def register_named(ctx: Any, session: "Session") -> Callable[[str], str] | None:
    """A query hook: the live tables a query's text names become tables of its context
    (``__raise_live<id>``), shown by name in the current project and, anywhere, qualified as
    ``org."domain/project".name`` (as Flight SQL clients name what GetTables lists)."""
    def register(sql: str) -> str:
        text = sql.lower()
        for record in session.catalog.list(KIND):
            if record["name"].lower() not in text or session.catalog.get("group", record["key"]) is not None:
                continue
            table = session.engine.storage.latest(record["uri"])
            hidden = f"__raise_live{record['id']}"
            if table is None or hidden in ctx.catalog().schema().names():
                continue
            ctx.register_table(hidden, table)
            if tuple(record["project"]) == session.project:
                ctx.register_view('"' + record["name"].replace('"', '""') + '"', ctx.table(hidden))
            _schema_of(ctx, record["project"]).register_table(record["name"], ctx.table(hidden).into_view())
        return sql
    return register


def _schema_of(ctx: Any, project: list[str]) -> Any:
    """The ``org`` catalog's ``domain/project`` schema of a query's context (made if missing)."""
    from datafusion.catalog import Catalog, Schema

    org, domain, name = project
    if org in ctx.catalog_names():
        catalog = ctx.catalog(org)
    else:
        catalog = Catalog.memory_catalog()
        ctx.register_catalog_provider(org, catalog)
    if f"{domain}/{name}" not in catalog.schema_names():
        catalog.register_schema(f"{domain}/{name}", Schema.memory_schema())
    return catalog.schema(f"{domain}/{name}")


def readable(session: "Session") -> list[tuple[dict[str, Any], pa.Schema]]:
    """(record, Arrow schema) of every live table whose rows the principal may read (what
    Flight SQL GetTables lists beside the groups)."""
    ac = control(session)
    found = []
    for record in session.catalog.list(KIND):
        if not ac.visible(record["group"]) or not all(feature_readable(ac, record["group"], f)
                                                      for f in record["features"]):
            continue
        table = session.engine.storage.latest(record["uri"])
        if table is not None:
            found.append((record, pa.schema(table.schema().to_arrow())))
    return found


def table_needs(session: "Session", table: str) -> list[Need] | None:
    """What reading a live table's Delta table needs: ``read`` on the features its analysis
    reads and seeing its group (None: not a live table)."""
    match = _HIDDEN.match(table.rpartition(".")[2])
    if match is None:
        return None
    found = next((r for r in session.catalog.list(KIND) if r["id"] == int(match.group(1))), None)
    if found is None:
        return None
    return [Need("see", found["group"]), *(Need("read", f"{found['group']}/{f}") for f in found["features"])]
