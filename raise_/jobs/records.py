"""Jobs, runs and external tables as catalog records, and the rows SHOW/DESCRIBE return.

A job is a catalog object of kind ``job`` in its project, keyed ``<org>/<domain>/<project>/<name>``;
it keeps its definition as the canonical ``CREATE JOB`` text (``statement``), so what runs is
exactly what was declared, plus its state: ``status`` (``created``, ``active``, ``paused``),
``deployment`` (an outside scheduler's URL, or None for the store's own), the checkpoint and
the Delta version it was committed at, the sources' fingerprints for ``on_change``, and the
last run. Each run is a ``job run`` record under its job (the newest :data:`HISTORY` kept).
"""
from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from grammar import parse
from grammar.errors import NotFound
from grammar.jobs import CreateJob
from raise_.jobs.schedules import Schedule

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["KIND", "RUN_KIND", "HISTORY", "JOB_SCHEMA", "RUN_SCHEMA", "job_at", "statement_of", "schedule_of",
           "job_row", "run_row", "runs_of"]

KIND = "job"
RUN_KIND = "job run"
HISTORY = 100
NO_JOB = "RAISE-N504"

_TS = pa.timestamp("us", tz="UTC")
JOB_SCHEMA = pa.schema([
    ("project", pa.string()), ("name", pa.string()), ("path", pa.string()), ("owner", pa.string()),
    ("status", pa.string()), ("target", pa.string()), ("sources", pa.list_(pa.string())),
    ("transform", pa.string()), ("transform_kind", pa.string()), ("schedule", pa.string()),
    ("cron", pa.string()), ("next_run", _TS), ("incremental", pa.string()), ("checkpoint_column", pa.string()),
    ("checkpoint", pa.string()), ("executor", pa.string()), ("tags", pa.list_(pa.string())),
    ("description", pa.string()), ("deployment", pa.string()), ("last_run", _TS), ("last_status", pa.string()),
    ("statement", pa.string()), ("created_at", pa.string()), ("updated_at", pa.string()),
])
RUN_SCHEMA = pa.schema([
    ("job", pa.string()), ("id", pa.string()), ("status", pa.string()), ("trigger", pa.string()),
    ("execution_date", _TS), ("started_at", _TS), ("finished_at", _TS), ("duration_seconds", pa.float64()),
    ("rows_read", pa.int64()), ("rows_written", pa.int64()), ("checkpoint_before", pa.string()),
    ("checkpoint_after", pa.string()), ("checks", pa.string()), ("logs", pa.list_(pa.string())),
    ("metrics", pa.string()), ("error", pa.string()), ("inference_result", pa.string()),
])


def job_at(session: "Session", key: str, name: str) -> dict[str, Any]:
    record = session.catalog.get(KIND, key)
    if record is None:
        project = key.rsplit("/", 1)[0]
        others = [r["name"] for r in session.catalog.list(KIND, parent=project)]
        raise NotFound(f"job {key!r} does not exist" + (f"; jobs here: {', '.join(others)}" if others
                                                        else "; CREATE JOB makes one"), code=NO_JOB, name=name)
    return record


def statement_of(record: dict[str, Any]) -> CreateJob:
    """The job's definition, parsed from its stored ``CREATE JOB`` text."""
    return parse(record["statement"])[0]


def schedule_of(stmt: CreateJob) -> Schedule:
    kind, value = stmt.schedule
    if kind == "on_change":
        return Schedule.on_change(value)
    if kind in ("cron", "every"):
        return Schedule(kind, value)
    return Schedule.manual()


def instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def next_run(record: dict[str, Any], stmt: CreateJob) -> dt.datetime | None:
    """When the store's scheduler runs an active job next (None: not on a clock, or not active)."""
    if record["status"] != "active" or record.get("deployment"):
        return None
    base = max(filter(None, (instant(record.get("last_run")), instant(record.get("activated_at")))), default=None)
    return schedule_of(stmt).next_run(base)


def job_row(record: dict[str, Any]) -> dict[str, Any]:
    stmt = statement_of(record)
    kind, value = stmt.schedule
    schedule = schedule_of(stmt)
    return {
        **record, "project": "/".join(record["project"]), "path": record["key"],
        "sources": [s.alias or s.kind for s in stmt.sources], "transform": stmt.transform_name,
        "transform_kind": stmt.transform_kind,
        "schedule": kind if value is None else f"{kind} {value if isinstance(value, str) else ','.join(value)}",
        "cron": schedule.cron, "next_run": next_run(record, stmt),
        "incremental": stmt.incremental, "checkpoint_column": stmt.checkpoint_column,
        "checkpoint": json.dumps(record.get("checkpoint")) if record.get("checkpoint") is not None else None,
        "executor": stmt.executor or "local", "tags": list(stmt.tags), "description": stmt.description,
        "last_run": instant(record.get("last_run")),
    }


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    return {**run, "execution_date": instant(run.get("execution_date")), "started_at": instant(run["started_at"]),
            "finished_at": instant(run.get("finished_at")), "checkpoint_before": text(run.get("checkpoint_before")),
            "checkpoint_after": text(run.get("checkpoint_after")), "checks": json.dumps(run.get("checks") or []),
            "metrics": text(run.get("metrics")), "inference_result": text(run.get("inference_result"))}


def runs_of(session: "Session", key: str) -> list[dict[str, Any]]:
    """The job's runs, newest first."""
    return sorted(session.catalog.list(RUN_KIND, parent=key), key=lambda r: r["started_at"], reverse=True)
