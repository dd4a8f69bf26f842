"""One run of a job: read the sources, transform, check, then write once with the checkpoint.

A run acts as the job's owner (a session of that principal reads the sources and writes the
target, so it can do only what the owner may). It reads the first source's rows past the
checkpoint (incremental modes), up to the largest value present when the run starts, so a run
reads a fixed set of rows. A SQL transform runs in the owner's DataFusion context with the
template variables bound as typed parameters; any other transform is a ``BatchTransform``
mapped over the source's batches by the job's executor. The output is checked as the transform
gave it (a check names a column of the output, or the feature the mapping renames it to; an
ERROR check that fails ends the run before anything is written), renamed by the target's
feature mapping, type-checked against the group, and written in one Delta commit whose log
entry carries the job, the run id and the new checkpoint. That commit is the point of truth: the catalog's copy
of the checkpoint is adopted from the target's log at the next run, so a run killed after its
commit but before the catalog recorded it neither loses nor repeats rows, and a run killed
before its commit changed nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any, Iterator

import pyarrow as pa
from datafusion import col, functions as F, lit

from grammar.errors import RaiseError, ValidationError
from grammar.jobs import CreateJob
from raise_.engine import ingest, names, registry, security
from raise_.jobs.base import AFTER_WRITE, RunContext, executor_named
from raise_.jobs.checks import check_from, table_of
from raise_.jobs.reading import register
from raise_.jobs.schedules import interval
from raise_.jobs.sources import source_from
from raise_.jobs.transforms import bind_template, transform_from

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["run_job", "JOB_KEY", "RUN_KEY", "CHECKPOINT_KEY", "adopted_checkpoint", "write_mode"]

JOB_KEY, RUN_KEY, CHECKPOINT_KEY = "raise.job", "raise.run_id", "raise.checkpoint"
CHECK_FAILED = "RAISE-X501"
TRANSFORM_FAILED = "RAISE-X502"
#: How far back in the target's log a run looks for its job's last commit.
LOG_DEPTH = 100


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class RunFailed(Exception):
    """A run that ends without writing: a check refused the output or the transform failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# -- checkpoints ---------------------------------------------------------------------------


def encode(value: Any) -> dict[str, Any] | None:
    """A checkpoint value as JSON (the column's type is known again when it is used)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return {"value": value}


def decode(stored: dict[str, Any] | None) -> Any:
    if not stored:
        return None
    if "datetime" in stored:
        return dt.datetime.fromisoformat(stored["datetime"])
    if "date" in stored:
        return dt.date.fromisoformat(stored["date"])
    return stored["value"]


def adopted_checkpoint(session: "Session", record: dict[str, Any], uri: str) -> tuple[Any, int | None]:
    """(checkpoint, target version it was committed at): the newest commit of this job in the
    target's log when it is newer than what the catalog holds, else the catalog's."""
    table = session.engine.storage.latest(uri)
    known = record.get("checkpoint_version")
    if table is not None:
        for commit in table.history(limit=LOG_DEPTH):
            if commit.get(JOB_KEY) == record["key"]:
                if known is None or commit["version"] > known:
                    return decode(json.loads(commit.get(CHECKPOINT_KEY) or "null")), commit["version"]
                break
    return decode(record.get("checkpoint")), known


# -- reading -------------------------------------------------------------------------------


class _Bounds:
    """The first source narrowed to the rows this run reads, and what it found there."""

    def __init__(self, stmt: CreateJob, checkpoint: Any) -> None:
        self.stmt, self.checkpoint = stmt, checkpoint
        self.low = self.high = None
        self.rows: int | None = None

    def narrow(self, frame: Any) -> Any:
        column = self.stmt.checkpoint_column
        if self.stmt.incremental == "full" or column is None:
            self.rows = frame.count()
            return frame
        if column not in frame.schema().names:
            raise ValidationError(f"the first source has no checkpoint column {column!r}; columns: "
                                  f"{', '.join(frame.schema().names)}", code="RAISE-V510", name=column)
        kind = frame.schema().field(column).type
        past = frame
        if self.checkpoint is not None:
            low = self.checkpoint
            if self.stmt.lookback is not None:
                if not isinstance(low, (dt.datetime, dt.date)):
                    raise ValidationError(f"LOOKBACK needs a date or timestamp checkpoint column; {column!r} "
                                          f"is {kind}", code="RAISE-V510", name=column)
                low = low - interval(self.stmt.lookback, "lookback")
            bound = lit(pa.scalar(low, kind))
            past = frame.filter(col(column) >= bound if self.stmt.lookback else col(column) > bound)
        stats = past.aggregate([], [F.min(col(column)).alias("lo"), F.max(col(column)).alias("hi"),
                                    F.count(lit(1)).alias("n")]).to_arrow_table().to_pylist()[0]
        self.low, self.high = (low if self.checkpoint is not None else stats["lo"]), stats["hi"]
        if self.high is None:
            self.rows = 0
            return past.limit(0)
        self.rows = stats["n"]
        return past.filter(col(column) <= lit(pa.scalar(self.high, kind)))


#: ``{{checkpoint}}`` of a run that reads from the start (a full refresh, an incremental job's
#: first run with an empty source): comparisons with a timestamp let every row through.
BEGINNING = dt.datetime(1970, 1, 1)


def _parameters(order: list[str], context: RunContext, bounds: _Bounds) -> list[Any]:
    low = bounds.low if bounds.low is not None else context.checkpoint
    values = {"checkpoint": BEGINNING if low is None else low,
              "execution_date": context.execution_date, "run_id": context.run_id}
    return [values[name] for name in order]


def _tables(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.Table]:
    for batch in batches:
        if batch.num_rows:
            yield pa.Table.from_batches([batch], schema=schema)


def _progress(tables: Iterator[pa.Table], job: str, total: int | None) -> Iterator[pa.Table]:
    """The tables, counted on a progress bar when a person watches (a terminal or notebook)."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=f"job {job}", unit="rows", disable=not sys.stderr.isatty(), leave=False) as bar:
        for table in tables:
            bar.update(table.num_rows)
            yield table


def _output(owner: "Session", stmt: CreateJob, context: RunContext, bounds: _Bounds) -> tuple[pa.Table, int, Any]:
    """The transform's whole output, the rows it read, and the transform (for its metrics)."""
    sources = [source_from(s) for s in stmt.sources]
    project = owner.project
    qc = owner.query_context(stmt.sql)
    register(qc, sources, project, bounds.narrow)
    if stmt.transform_kind == "sql":
        text, order = bind_template(stmt.sql)
        stream = qc.stream(text, _parameters(order, context, bounds))
        tables = _progress(_tables(stream.batches, stream.schema), stmt.job.name, None)
        transform, schema = None, stream.schema
        read = bounds.rows
    else:
        transform = transform_from(stmt.transform_name, stmt.transform_kind, dict(stmt.transform_settings))
        stream = qc.stream("SELECT * FROM source")
        counted = _Counted(_tables(stream.batches, stream.schema))
        tables = executor_named(stmt.executor).map_batches(transform, context, _progress(counted, stmt.job.name,
                                                                                         bounds.rows))
        schema = None
    parts = [t for t in tables if t.num_columns]
    if stmt.transform_kind != "sql":
        read = counted.rows
    if not parts:
        return (schema.empty_table() if schema is not None else pa.table({})), read or 0, transform
    return pa.concat_tables(parts, promote_options="permissive"), read if read is not None else 0, transform


class _Counted:
    """Tables passed through, their rows counted."""

    def __init__(self, tables: Iterator[pa.Table]) -> None:
        self.tables, self.rows = tables, 0

    def __iter__(self) -> Iterator[pa.Table]:
        for table in self.tables:
            self.rows += table.num_rows
            yield table


# -- writing -------------------------------------------------------------------------------


def write_mode(stmt: CreateJob, group: Any) -> str:
    """The target's write mode, or its default (see ``raise_.jobs.targets``)."""
    if stmt.mode is not None:
        return stmt.mode
    if stmt.key_columns or group.key_names or stmt.incremental == "upsert":
        return "upsert"
    return "overwrite" if stmt.incremental == "full" else "append"


def _mapped(stmt: CreateJob, group: Any, table: pa.Table, writable: set[str]) -> pa.Table:
    """The output as written: renamed by the features mapping. Without one, an inference
    transform's output (its input rows, columns kept, with the model's outputs) gives the
    columns the group has; any other output is written as it is."""
    if not stmt.features:
        if stmt.transform_kind == "inference":
            return table.select([c for c in table.column_names if c in writable])
        return table
    mapping = dict(stmt.features)
    missing = [c for c in mapping if c not in table.column_names]
    if missing:
        raise ValidationError(f"the transform's output has no column {missing[0]!r} to map to a feature; "
                              f"output: {', '.join(table.column_names)}", code="RAISE-V511", name=missing[0])
    fixed = [c for c in (*group.key_names, *([group.timestamp] if group.timestamp else []))
             if c in table.column_names and c not in mapping]
    return table.select(fixed + list(mapping)).rename_columns(fixed + list(mapping.values()))


def _checked(stmt: CreateJob, table: pa.Table) -> pa.Table:
    """What the checks see: the transform's output, each mapped column also under its feature's
    name (where the output has no column of that name), so a check names either."""
    for column, feature in stmt.features or ():
        if feature not in table.column_names:
            table = table.append_column(feature, table.column(column))
    return table


def _write(owner: "Session", stmt: CreateJob, group: Any, table: pa.Table, metadata: dict[str, str]) -> tuple[int, int | None]:
    """Type-check and write the output in one commit; (rows written, new table version)."""
    mode = write_mode(stmt, group)
    security.authorize_write(owner, group, table.column_names, mode, table.num_rows)
    physical = ingest.physical_table(owner.catalog, group, table, mode)
    storage = owner.engine.storage
    keys = tuple(stmt.key_columns or group.key_names)
    written = storage.write(group.uri, physical, mode, keys, metadata)
    version = storage.local_version(group.uri)
    if version is None and (latest := storage.latest(group.uri)) is not None:
        version = latest.version()
    return written, version


# -- a run ---------------------------------------------------------------------------------


def run_job(session: "Session", record: dict[str, Any], stmt: CreateJob, trigger: str,
            execution_date: dt.datetime | None = None) -> dict[str, Any]:
    """Run the job once; its run record (``status`` completed or failed). A failure leaves the
    target and the checkpoint as they were."""
    owner = session.engine.session(principal=record["owner"], project=tuple(record["project"]))
    started, clock = now(), time.perf_counter()
    group = registry.group(session.catalog, *names.group_path(record["target"], owner.project))
    checkpoint, version = adopted_checkpoint(session, record, group.uri)
    context = RunContext(job=record["key"], run_id=uuid.uuid4().hex[:16], execution_date=execution_date or started,
                         checkpoint=checkpoint)
    run = {"id": context.run_id, "job": record["key"], "trigger": trigger, "started_at": started.isoformat(),
           "execution_date": context.execution_date.isoformat(), "checkpoint_before": encode(checkpoint),
           "checkpoint_after": encode(checkpoint), "rows_read": 0, "rows_written": 0, "checks": [],
           "metrics": None, "inference_result": None, "error": None}
    bounds = _Bounds(stmt, checkpoint)
    pending = AFTER_WRITE.set([])
    try:
        output, run["rows_read"], transform = _output(owner, stmt, context, bounds)
        metrics = transform.metrics() if transform is not None else None
        run["metrics"] = dict(metrics) if metrics else None
        mapped = _mapped(stmt, group, output, ingest.writable_columns(owner.catalog, group))
        _checks(stmt, _checked(stmt, output), context, run)
        output = mapped
        new_checkpoint = bounds.high if bounds.high is not None else checkpoint
        metadata = {JOB_KEY: record["key"], RUN_KEY: context.run_id,
                    CHECKPOINT_KEY: json.dumps(encode(new_checkpoint))}
        if output.num_rows:
            run["rows_written"], version = _write(owner, stmt, group, output, metadata)
        context.log(f"wrote {run['rows_written']} row(s) into {group.key}")
        run.update(status="completed", checkpoint_after=encode(new_checkpoint))
        record.update(checkpoint=encode(new_checkpoint), checkpoint_version=version)
        _after_write(AFTER_WRITE.get(), context)
    except RunFailed as failure:
        run.update(status="failed", error=f"[{failure.code}] {failure.message}")
    except RaiseError as error:
        run.update(status="failed", error=f"[{error.code}] {error.message}")
    except Exception as error:  # a user's transform may raise anything; the run records it
        run.update(status="failed", error=f"[{TRANSFORM_FAILED}] {type(error).__name__}: {error}")
    finally:
        AFTER_WRITE.reset(pending)
    if run["error"]:
        context.log(f"failed: {run['error']}")
    if stmt.transform_kind == "inference" and run["metrics"]:
        run["inference_result"] = _inference_result(run["metrics"], run["rows_written"], group.key)
    finished = now()
    run.update(finished_at=finished.isoformat(), duration_seconds=time.perf_counter() - clock, logs=context.logs)
    record.update(last_run=started.isoformat(), last_status=run["status"], last_run_id=run["id"])
    return run


def _after_write(actions: list, context: RunContext) -> None:
    """What the sources asked to record once the write committed; a failure here is logged
    (the rows are written and stay so)."""
    for action in actions:
        try:
            action()
        except RaiseError as error:
            context.log(f"warning: after the write: [{error.code}] {error.message}")


def _checks(stmt: CreateJob, output: pa.Table, context: RunContext, run: dict[str, Any]) -> None:
    """Run every check on the output into ``run["checks"]``; an ERROR check that fails ends
    the run here."""
    reports = run["checks"]
    for spec in stmt.checks:
        report = check_from(spec).check(table_of(output))
        reports.append({"name": report.name, "result": report.result.value, "severity": report.severity.value,
                        "details": _plain(report.details)})
        context.log(f"check {report.name}: {report.result.value}")
    failed = [r for r in reports if r["result"] == "failed"]
    if failed:
        raise RunFailed(CHECK_FAILED, f"quality check {failed[0]['name']!r} failed ({failed[0]['details']}); "
                                      "nothing was written")


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    """Check figures as JSON values (dates and timestamps as text)."""
    return {k: v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v for k, v in details.items()}


def _inference_result(metrics: dict[str, Any], rows_written: int, target: str) -> dict[str, Any]:
    """An inference run's figures (``InferenceResult``), kept with the run."""
    from raise_.inference.result import InferenceResult

    return InferenceResult.from_metrics(metrics, rows_written=rows_written, target=target).to_record()
