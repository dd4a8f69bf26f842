"""The job statements in the engine: handlers, authorization rules and ``FAMILY``.

Creating a job needs ``admin`` on its target group and ``read`` on every feature it reads from
a feature-group source (and, like any object of a project, admin there); the creator becomes
its owner, and every run acts as the owner. Running, pausing, resuming, deploying or dropping
a job needs ``admin`` on its project, or being its owner. Describing a job and listing its runs
need to see its project; SHOW JOBS lists only jobs whose target the principal may see.
External tables are registered by an organization admin. Everything is audited.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import jobs as g
from grammar import render
from grammar.errors import AlreadyExists, NotFound, ValidationError
from raise_.engine import names, registry, results
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule, filtered_by_handler
from raise_.engine.resolve import project_of
from raise_.engine.security.audit import Event
from raise_.engine.security.authorize import Need, control
from raise_.engine.security.checks import creating, needs_nothing, on_target, org_admin
from raise_.jobs import records
from raise_.jobs.base import EXECUTORS
from raise_.jobs.checks import check_from
from raise_.jobs.reading import EXTERNAL_KIND, external_key, fingerprint, group_of_source
from raise_.jobs.records import HISTORY, JOB_SCHEMA, KIND, RUN_KIND, RUN_SCHEMA, job_at, job_row, run_row
from raise_.jobs.runner import now, run_job
from raise_.jobs.schedules import interval
from raise_.jobs.sources import FeatureGroupSource, source_from
from raise_.jobs.transforms import bind_template, transform_from

if TYPE_CHECKING:
    from raise_.engine.session import Session

BAD_JOB = "RAISE-V512"
EXTERNAL_SCHEMA = pa.schema([("table", pa.string()), ("location", pa.string()), ("format", pa.string())])


def _key(session: "Session", ref: g.JobRef) -> tuple[tuple[str, ...], str]:
    project = project_of(session, ref.project)
    names.check_name(ref.name, "job")
    return project, names.join(*project, ref.name)


# -- definition ----------------------------------------------------------------------------


def _validate(session: "Session", stmt: g.CreateJob, project: tuple[str, ...]) -> Any:
    """Refuse a job that could never run; its target group."""
    group = registry.group(session.catalog, project_of(session, stmt.target.project), stmt.target.name)
    sources = [source_from(s) for s in stmt.sources]
    named = [s.name for s in sources]
    if len(set(named)) != len(named):
        raise ValidationError("two sources of a job have the same name; name them with AS", code=BAD_JOB)
    named.append("source")
    if stmt.transform_kind == "sql":
        bind_template(stmt.sql)
    else:
        transform_from(stmt.transform_name, stmt.transform_kind, dict(stmt.transform_settings))
    for check in stmt.checks:
        check_from(check)
    kind, value = stmt.schedule
    if kind == "cron":
        records.Schedule.cron(value)
    elif kind == "every":
        interval(value, "SCHEDULE EVERY")
    elif kind == "on_change" and value and (unknown := [n for n in value if n not in named]):
        raise ValidationError(f"SCHEDULE ON CHANGE names {unknown[0]!r}, not a source of the job; sources: "
                              f"{', '.join(sorted(named))}", code=BAD_JOB, name=unknown[0])
    if stmt.lookback is not None:
        interval(stmt.lookback, "LOOKBACK")
    if stmt.incremental == "upsert" and not (stmt.key_columns or group.key_names):
        raise ValidationError("INCREMENTAL UPSERT needs KEY (...) or a target group with key columns",
                              code=BAD_JOB, name=group.name)
    if stmt.executor not in (None, "local", *EXECUTORS):
        raise ValidationError(f"unknown executor {stmt.executor!r}; executors: local, {', '.join(EXECUTORS)}",
                              code=BAD_JOB, name=stmt.executor)
    return group


def create_job(session: "Session", stmt: g.CreateJob) -> pa.Table:
    project, key = _key(session, stmt.job)
    existing = session.catalog.get(KIND, key)
    if existing is not None and stmt.conflict != "update":
        if stmt.conflict == "skip":
            return results.ddl("CREATE JOB", key, 0)
        raise AlreadyExists(f"job {key!r} already exists; use CREATE OR REPLACE JOB to change it",
                            code="RAISE-A501", name=stmt.job.name)
    group = _validate(session, stmt, project)
    record = {"name": stmt.job.name, "project": list(project), "target": group.key,
              "owner": session.principal,
              "statement": render(g.CreateJob(**{**_fields(stmt), "conflict": "error"})),
              "status": existing["status"] if existing else "created", "deployment": None,
              "checkpoint": None, "checkpoint_version": None, "fingerprints": {}, "last_run": None,
              "last_status": None, "activated_at": existing.get("activated_at") if existing else None}
    if existing is not None and existing["target"] == group.key:
        record.update({k: existing.get(k) for k in ("checkpoint", "checkpoint_version", "deployment")})
    session.catalog.put(KIND, key, record, parent=names.join(*project))
    return results.ddl("CREATE JOB", key, 1)


def _fields(stmt: g.CreateJob) -> dict[str, Any]:
    return {name: getattr(stmt, name) for name in g.CreateJob.__dataclass_fields__}


def describe_job(session: "Session", stmt: g.DescribeJob) -> pa.Table:
    _, key = _key(session, stmt.job)
    return results.rows(JOB_SCHEMA, [job_row(job_at(session, key, stmt.job.name))])


def show_jobs(session: "Session", stmt: g.ShowJobs) -> pa.Table:
    if stmt.within is None and session.project is None:
        found = session.catalog.list(KIND)
    else:
        project = project_of(session, stmt.within)
        registry.namespace(session.catalog, project)
        found = session.catalog.list(KIND, parent=names.join(*project))
    return results.rows(JOB_SCHEMA, [job_row(r) for r in found])


def show_runs(session: "Session", stmt: g.ShowJobRuns) -> pa.Table:
    _, key = _key(session, stmt.job)
    job_at(session, key, stmt.job.name)
    runs = records.runs_of(session, key)[:stmt.limit]
    return results.rows(RUN_SCHEMA, [run_row(r) for r in runs])


def drop_job(session: "Session", stmt: g.DropJob) -> pa.Table:
    _, key = _key(session, stmt.job)
    record = session.catalog.get(KIND, key)
    if record is None:
        if stmt.if_exists:
            return results.ddl("DROP JOB", key, 0)
        job_at(session, key, stmt.job.name)
    drop_record(session, record)
    return results.ddl("DROP JOB", key, 1)


def drop_record(session: "Session", record: dict[str, Any]) -> None:
    """Remove a job and its runs (its target's data stays)."""
    for run in session.catalog.list(RUN_KIND, parent=record["key"]):
        session.catalog.delete(RUN_KIND, run["key"])
    session.catalog.delete(KIND, record["key"])


def alter_job(session: "Session", stmt: g.AlterJob) -> pa.Table:
    project, key = _key(session, stmt.job)
    record = job_at(session, key, stmt.job.name)
    if stmt.action == "pause":
        record["status"] = "paused"
    else:
        if record["status"] != "active":
            record["activated_at"] = now().isoformat()
        record["status"] = "active"
        if stmt.action == "deploy":
            record["deployment"] = stmt.url
    session.catalog.put(KIND, key, _stored(record), parent=names.join(*project))
    return results.ddl(f"ALTER JOB {stmt.action.upper()}", key, 1)


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}


# -- running -------------------------------------------------------------------------------


def _fingerprints(session: "Session", record: dict[str, Any], stmt: g.CreateJob) -> dict[str, str | None]:
    project = tuple(record["project"])
    return {source.name: fingerprint(session, source, project) for source in map(source_from, stmt.sources)}


#: What a run changes in its job's record (the rest may change while it runs: ALTER JOB).
_RUN_STATE = ("checkpoint", "checkpoint_version", "fingerprints", "last_run", "last_status", "last_run_id")


def _run(session: "Session", record: dict[str, Any], trigger: str, execution_date: dt.datetime | None = None,
         prints: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Run a job, then record the run and the job's new state in the catalog. The run itself
    holds no catalog transaction (other statements write the catalog meanwhile); its record
    commits in one short transaction after it."""
    stmt = records.statement_of(record)
    prints = prints if prints is not None else _fingerprints(session, record, stmt)
    run = run_job(session, record, stmt, trigger, execution_date)
    if run["status"] == "completed":
        record["fingerprints"] = prints
    catalog = session.catalog
    with catalog.transaction():
        current = catalog.get(KIND, record["key"])
        if current is None:  # dropped while it ran: its runs went with it
            return run
        if current["statement"] == record["statement"]:
            current.update({k: record.get(k) for k in _RUN_STATE})
        else:  # replaced while it ran: the new definition keeps its own checkpoint
            current.update({k: record.get(k) for k in ("last_run", "last_status", "last_run_id")})
        catalog.put(RUN_KIND, f"{record['key']}/{run['id']}", run, parent=record["key"])
        for old in records.runs_of(session, record["key"])[HISTORY:]:
            catalog.delete(RUN_KIND, old["key"])
        catalog.put(KIND, record["key"], _stored(current), parent=names.join(*record["project"]))
    return run


def run_job_statement(session: "Session", stmt: g.RunJob) -> pa.Table:
    _, key = _key(session, stmt.job)
    record = job_at(session, key, stmt.job.name)
    at = None
    if stmt.execution_date is not None:
        try:
            at = dt.datetime.fromisoformat(stmt.execution_date)
        except ValueError:
            raise ValidationError(f"AT takes an ISO instant, got {stmt.execution_date!r}", code=BAD_JOB,
                                  name=stmt.execution_date) from None
        at = at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
    return results.rows(RUN_SCHEMA, [run_row(_run(session, record, "manual", at))])


def _due(session: "Session", record: dict[str, Any]) -> tuple[str, dict[str, str | None]] | None:
    """(trigger, source fingerprints) if the store's scheduler should run the job now."""
    if record["status"] != "active" or record.get("deployment"):
        return None
    stmt = records.statement_of(record)
    schedule = records.schedule_of(stmt)
    if schedule.kind == "on_change":
        prints = _fingerprints(session, record, stmt)
        watched = schedule.sources or tuple(prints)
        known = record.get("fingerprints") or {}
        changed = any(prints.get(n) != known.get(n) for n in watched if n in prints)
        return ("on_change", prints) if changed else None
    base = records.instant(record.get("last_run")) or records.instant(record.get("activated_at"))
    if schedule.kind in ("cron", "every") and base is not None and schedule.next_run(base) <= now():
        return "schedule", _fingerprints(session, record, stmt)
    return None


def run_due(session: "Session", stmt: g.RunDueJobs) -> pa.Table:
    """Every due job once, upstream jobs first: a job that reads another job's target group runs
    after it, so a chain of on-change jobs completes in one pass."""
    within = None if stmt.within is None and session.project is None else project_of(session, stmt.within)
    listed = session.catalog.list(KIND) if within is None else session.catalog.list(KIND, parent=names.join(*within))
    done = []
    for record in _upstream_first(session, listed):
        if (due := _due(session, record)) is not None and _may_run(session, record):
            done.append(_run(session, record, due[0], prints=due[1]))
    return results.rows(RUN_SCHEMA, [run_row(r) for r in done])


def _upstream_first(session: "Session", listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``listed`` ordered so that a job comes after the jobs writing the groups it reads (in
    name order otherwise; a cycle keeps name order)."""
    def reads(record: dict[str, Any]) -> set[str]:
        project = tuple(record["project"])
        found = set()
        for spec in records.statement_of(record).sources:
            source = source_from(spec)
            if isinstance(source, FeatureGroupSource):
                try:
                    found.add(group_of_source(session, source, project).key)
                except NotFound:
                    continue
        return found

    pending = sorted(listed, key=lambda r: r["key"])
    needs = {r["key"]: reads(r) for r in pending}
    ordered: list[dict[str, Any]] = []
    while pending:
        waiting = {r["target"] for r in pending}
        ready = [r for r in pending if not (needs[r["key"]] & (waiting - {r["target"]}))] or pending[:1]
        ordered += ready
        pending = [r for r in pending if r not in ready]
    return ordered


def _may_run(session: "Session", record: dict[str, Any]) -> bool:
    if session.principal is None or session.principal == record["owner"]:
        return True
    return control(session).allows("admin", names.join(*record["project"]))


# -- external tables -----------------------------------------------------------------------


def create_external(session: "Session", stmt: g.CreateExternalTable) -> pa.Table:
    key = external_key(stmt.table)
    if len(stmt.table) != 3:
        raise ValidationError(f"an external table is named catalog.database.table, got {'.'.join(stmt.table)}",
                              code=BAD_JOB, name=".".join(stmt.table))
    if session.catalog.get(EXTERNAL_KIND, key) is not None:
        if stmt.if_not_exists:
            return results.ddl("CREATE EXTERNAL TABLE", key.replace("/", "."), 0)
        raise AlreadyExists(f"external table {'.'.join(stmt.table)!r} already exists", code="RAISE-A502",
                            name=".".join(stmt.table))
    session.catalog.put(EXTERNAL_KIND, key, {"location": stmt.location, "format": stmt.format,
                                             "owner": session.principal})
    return results.ddl("CREATE EXTERNAL TABLE", key.replace("/", "."), 1)


def drop_external(session: "Session", stmt: g.DropExternalTable) -> pa.Table:
    key = external_key(stmt.table)
    if not session.catalog.delete(EXTERNAL_KIND, key) and not stmt.if_exists:
        raise NotFound(f"no external table {'.'.join(stmt.table)!r}", code="RAISE-N501", name=".".join(stmt.table))
    return results.ddl("DROP EXTERNAL TABLE", key.replace("/", "."), 1)


# -- authorization -------------------------------------------------------------------------


def _resource(session: "Session", ref: g.JobRef) -> tuple[str, str]:
    project = names.join(*project_of(session, ref.project))
    return project, f"{project}/job:{ref.name}"


def create_rule(session, ac, s: g.CreateJob):
    project, resource = _resource(session, s.job)
    # a job is the target's administrator's to create, wherever it lives in the project
    _, events = creating(session, resource, Event("CREATE", resource, {"kind": KIND, "target": s.target.name}))
    target = names.join(*project_of(session, s.target.project), s.target.name)
    needs = on_target(session, target, "admin")
    for spec in s.sources:
        source = source_from(spec)
        if isinstance(source, FeatureGroupSource):
            needs += _source_reads(session, source, project_of(session, s.job.project))
    return needs, events


def _source_reads(session: "Session", source: FeatureGroupSource, project: tuple[str, ...]) -> list[Need]:
    try:
        group = group_of_source(session, source, project)
    except NotFound:
        return []  # the handler reports the missing group
    features = source.features or list(registry.current_features(session.catalog, group.key))
    return [Need("see", group.key), *(Need("read", f"{group.key}/{f}") for f in features)]


def _owned(session, s: Any, permission: str) -> list[Need]:
    """``permission`` on the job's project, unless the principal owns the job."""
    project, key = _key(session, s.job)
    record = session.catalog.get(KIND, key)
    if record is not None and session.principal is not None and record["owner"] == session.principal:
        return []
    return on_target(session, names.join(*project), permission)


def run_rule(session, ac, s: g.RunJob):
    _, resource = _resource(session, s.job)
    return _owned(session, s, "admin"), [Event("WRITE", resource, {"kind": KIND, "action": "run"})]


def alter_rule(session, ac, s: g.AlterJob):
    _, resource = _resource(session, s.job)
    return _owned(session, s, "admin"), [Event("UPDATE_METADATA", resource, {"kind": KIND, "action": s.action})]


def drop_rule(session, ac, s: g.DropJob):
    _, resource = _resource(session, s.job)
    return _owned(session, s, "admin"), [Event("DELETE", resource, {"kind": KIND})]


def describe_rule(session, ac, s: g.DescribeJob | g.ShowJobRuns):
    return on_target(session, _resource(session, s.job)[0], "see"), []


def external_rule(session, ac, s: g.CreateExternalTable | g.DropExternalTable):
    action = "CREATE" if isinstance(s, g.CreateExternalTable) else "DELETE"
    resource = "external table:" + ".".join(s.table)
    return org_admin(session.organization), [Event(action, resource, {"kind": EXTERNAL_KIND})]


def visible_jobs(session: "Session", statement: Any, table: pa.Table) -> pa.Table:
    """SHOW JOBS without the jobs whose target the principal may not see."""
    if table.num_rows == 0:
        return table
    ac = control(session)
    return table.filter(pa.array([ac.visible(t) for t in table.column("target").to_pylist()], pa.bool_()))


FAMILY = Family(
    name="jobs",
    statements={
        g.CreateJob: Statement(handler=create_job, rule=create_rule, schema=results.DDL_SCHEMA, listing=acknowledged),
        g.RunJob: Statement(handler=run_job_statement, rule=run_rule, schema=RUN_SCHEMA, listing=checked_by_rule,
                            transaction=False),
        g.RunDueJobs: Statement(handler=run_due, rule=needs_nothing, schema=RUN_SCHEMA, listing=filtered_by_handler,
                                transaction=False),
        g.ShowJobs: Statement(handler=show_jobs, rule=needs_nothing, schema=JOB_SCHEMA, listing=visible_jobs),
        g.DescribeJob: Statement(handler=describe_job, rule=describe_rule, schema=JOB_SCHEMA, listing=checked_by_rule),
        g.ShowJobRuns: Statement(handler=show_runs, rule=describe_rule, schema=RUN_SCHEMA, listing=checked_by_rule),
        g.DropJob: Statement(handler=drop_job, rule=drop_rule, schema=results.DDL_SCHEMA, listing=acknowledged),
        g.AlterJob: Statement(handler=alter_job, rule=alter_rule, schema=results.DDL_SCHEMA, listing=acknowledged),
        g.CreateExternalTable: Statement(handler=create_external, rule=external_rule, schema=results.DDL_SCHEMA,
                                         listing=acknowledged),
        g.DropExternalTable: Statement(handler=drop_external, rule=external_rule, schema=results.DDL_SCHEMA,
                                       listing=acknowledged),
    },
    kinds=(Kind(name=KIND, within="project", drop=drop_record), Kind(name=RUN_KIND), Kind(name=EXTERNAL_KIND)),
)
