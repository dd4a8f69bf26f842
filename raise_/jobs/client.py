"""Jobs as the SDK hands them out; every call is one Raise SQL statement.

``fs.create_job(...)`` compiles its sources, transform, target, schedule, incremental mode and
checks to ``CREATE JOB``; a ``Job`` reads its state with ``DESCRIBE JOB`` (``status``,
``next_run``, ``checkpoint``), ``job.runs`` with ``SHOW JOB RUNS``, ``activate()``/``pause()``
send ``ALTER JOB``; ``fs.trigger_job`` sends ``RUN JOB`` and ``fs.deploy_job`` ``ALTER JOB
... DEPLOY`` (after writing an Airflow DAG when the store is configured for Airflow).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from grammar import jobs as g
from grammar.ast import GroupRef
from grammar.errors import ValidationError
from raise_.jobs.checks import as_check
from raise_.jobs.schedules import IncrementalConfig, Schedule
from raise_.jobs.sources import as_source
from raise_.jobs.targets import as_target
from raise_.jobs.transforms import SQLTransform, transform_from

if TYPE_CHECKING:
    from raise_.inference.result import InferenceResult
    from raise_.sdk.context import Executor

__all__ = ["Job", "JobRun", "DeploymentResult", "create_job", "get_job", "list_jobs", "trigger_job", "deploy_job"]

BAD_JOB_ARGUMENT = "RAISE-V513"


@dataclass(frozen=True)
class JobRun:
    """One run: ``status`` (``completed`` or ``failed``), timings, rows read and written, the
    checkpoint before and after, each check's result, the log, and the transform's figures
    (``metrics``, e.g. an inference transform's, and for an inference run ``inference_result``:
    ``total_samples``, ``success_rate``, ``throughput_samples_per_sec``, ``duration_seconds``,
    ``gpu_utilization_pct``, ``peak_memory_gb``)."""

    job: str
    id: str
    status: str
    trigger: str
    execution_date: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_seconds: float | None
    rows_read: int | None
    rows_written: int | None
    checkpoint_before: Any
    checkpoint_after: Any
    checks: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    error: str | None = None
    #: An inference transform's measured figures (None for other transforms).
    inference_result: InferenceResult | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "JobRun":
        def loaded(text: str | None) -> Any:
            return None if text is None else json.loads(text)

        return cls(**{**row, "checkpoint_before": _checkpoint(loaded(row["checkpoint_before"])),
                      "checkpoint_after": _checkpoint(loaded(row["checkpoint_after"])),
                      "checks": loaded(row["checks"]) or [], "metrics": loaded(row["metrics"]),
                      "logs": row["logs"] or [],
                      "inference_result": _inference(loaded(row.get("inference_result")))})


def _inference(stored: dict[str, Any] | None) -> InferenceResult | None:
    from raise_.inference.result import InferenceResult

    return None if stored is None else InferenceResult.from_record(stored)


def _checkpoint(stored: dict[str, Any] | None) -> Any:
    if not stored:
        return None
    if "datetime" in stored:
        return dt.datetime.fromisoformat(stored["datetime"])
    if "date" in stored:
        return dt.date.fromisoformat(stored["date"])
    return stored["value"]


@dataclass(frozen=True)
class DeploymentResult:
    """Where a deployed job is scheduled: ``url`` (the Airflow DAG's, or the job's in the store),
    ``scheduler`` (``airflow`` or ``raise``), and ``next_run`` when the store schedules it."""

    url: str
    job: str
    scheduler: str
    next_run: dt.datetime | None = None


class Job:
    """A job of a project. Its definition (``name``, ``sources``, ``transform``, ``target``,
    ``schedule``, ``tags``, ``owner``, ``description``, ``executor``) and state (``status``,
    ``next_run``, ``checkpoint``, ``runs``) come from the catalog."""

    def __init__(self, executor: "Executor", project: tuple[str, ...], name: str,
                 row: dict[str, Any] | None = None) -> None:
        self._sdk, self._project, self.name = executor, project, name
        self._ref = g.JobRef(name=name, project=project)
        self._row = row

    def __repr__(self) -> str:
        return f"Job({self.path!r}, status={self.status!r})"

    @property
    def path(self) -> str:
        return "/".join((*self._project, self.name))

    def refresh(self) -> "Job":
        """Read the job's record again (``DESCRIBE JOB``)."""
        self._row = self._sdk.run(g.DescribeJob(job=self._ref)).to_pylist()[0]
        return self

    def describe(self) -> dict[str, Any]:
        return self.refresh()._row

    def _field(self, name: str) -> Any:
        return (self._row or self.describe())[name]

    @property
    def status(self) -> str:
        """``created``, ``active`` (scheduled) or ``paused``."""
        return self.describe()["status"]

    @property
    def definition(self) -> g.CreateJob:
        """The job's ``CREATE JOB`` statement."""
        from grammar.jobs import parse_job_statement

        return parse_job_statement(self._field("statement"))

    @property
    def schedule(self) -> Schedule:
        kind, value = self.definition.schedule
        if kind == "on_change":
            return Schedule.on_change(value)
        return Schedule(kind, value) if kind in ("cron", "every") else Schedule.manual()

    @property
    def transform(self) -> Any:
        stmt = self.definition
        if stmt.transform_kind == "sql":
            return SQLTransform(stmt.transform_name, stmt.sql)
        return transform_from(stmt.transform_name, stmt.transform_kind, dict(stmt.transform_settings))

    @property
    def sources(self) -> list[str]:
        return self._field("sources")

    @property
    def target(self) -> str:
        return self._field("target")

    @property
    def tags(self) -> list[str]:
        return self._field("tags")

    @property
    def owner(self) -> str | None:
        return self._field("owner")

    @property
    def description(self) -> str | None:
        return self._field("description")

    @property
    def executor(self) -> str:
        """``local`` or ``ray``: where the job's batches run."""
        return self._field("executor")

    @property
    def next_run(self) -> dt.datetime | None:
        """When the store's scheduler runs the job next (None: paused, manual, on change, or
        deployed to another scheduler)."""
        return self.describe()["next_run"]

    @property
    def checkpoint(self) -> Any:
        stored = self.describe()["checkpoint"]
        return _checkpoint(json.loads(stored)) if stored else None

    @property
    def runs(self) -> list[JobRun]:
        """The job's runs, oldest first (``job.runs[-1]`` is the latest)."""
        rows = self._sdk.run(g.ShowJobRuns(job=self._ref)).to_pylist()
        return [JobRun.from_row(r) for r in reversed(rows)]

    def activate(self) -> "Job":
        """Hand the job to the store's scheduler (``ALTER JOB ... RESUME``)."""
        self._sdk.run(g.AlterJob(job=self._ref, action="resume"))
        return self

    def pause(self) -> "Job":
        self._sdk.run(g.AlterJob(job=self._ref, action="pause"))
        return self

    def run(self) -> JobRun:
        """Run the job now and wait for it (``RUN JOB``)."""
        return JobRun.from_row(self._sdk.run(g.RunJob(job=self._ref)).to_pylist()[0])

    def _repr_html_(self) -> str:
        from raise_.sdk import html

        row = self.describe()
        return html.card(f"Job {self.path}", [(k, row[k]) for k in ("status", "target", "schedule", "next_run",
                                                                     "last_status", "last_run")])


def _transform(transform: Any) -> tuple[str, str, str | None, tuple]:
    """(name, kind, sql, settings) of a transform object."""
    if isinstance(transform, SQLTransform):
        return transform.name, "sql", transform.sql, ()
    if hasattr(transform, "job_transform"):
        kind, settings = transform.job_transform()
        return transform.name, kind, None, tuple(settings)
    raise ValidationError(f"transform= takes a SQLTransform, a @python_transform function or an inference "
                          f"transform, got {transform!r}", code=BAD_JOB_ARGUMENT, name=repr(transform))


def _group_ref(path: str) -> GroupRef:
    *project, name = path.split("/")
    return GroupRef(name=name, project=tuple(project) or None)


def _schedule(schedule: Schedule | None) -> tuple[str, Any]:
    if schedule is None:
        return "manual", None
    if not isinstance(schedule, Schedule):
        raise ValidationError(f"schedule= takes a Schedule, got {schedule!r}", code=BAD_JOB_ARGUMENT)
    return schedule.kind, schedule.sources if schedule.kind == "on_change" else schedule.expression


def compile_job(project: tuple[str, ...], name: str, sources: Any, transform: Any, target: Any,
                schedule: Schedule | None = None, incremental: IncrementalConfig | None = None,
                quality_checks: Iterable[Any] = (), executor: str | None = None, tags: Sequence[str] = (),
                description: str | None = None, replace: bool = False) -> g.CreateJob:
    """The ``CREATE JOB`` statement of ``fs.create_job(...)``'s arguments."""
    incremental = incremental or IncrementalConfig.full()
    if not isinstance(incremental, IncrementalConfig):
        raise ValidationError(f"incremental= takes an IncrementalConfig, got {incremental!r}", code=BAD_JOB_ARGUMENT)
    listed = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    if not listed:
        raise ValidationError("a job needs at least one source", code=BAD_JOB_ARGUMENT, name=name)
    goal = as_target(target)
    transform_name, kind, text, settings = _transform(transform)
    keys = goal.key_columns or incremental.key_columns
    return g.CreateJob(
        job=g.JobRef(name=name, project=project), sources=tuple(as_source(s) for s in listed),
        transform_name=transform_name, transform_kind=kind, sql=text, transform_settings=settings,
        target=_group_ref(goal.feature_group), features=goal.features, mode=goal.write_mode, key_columns=keys,
        schedule=_schedule(schedule), incremental=incremental.mode, checkpoint_column=incremental.checkpoint_column,
        lookback=incremental.lookback, checks=tuple(as_check(c) for c in quality_checks or ()),
        executor=executor, tags=tuple(tags or ()), description=description,
        conflict="update" if replace else "error")


def create_job(sdk: "Executor", project: tuple[str, ...], name: str, **arguments: Any) -> Job:
    sdk.run(compile_job(project, name, **arguments))
    return Job(sdk, project, name)


def get_job(sdk: "Executor", project: tuple[str, ...], name: str) -> Job:
    return Job(sdk, project, name).refresh()


def list_jobs(sdk: "Executor", project: tuple[str, ...], status: str | None = None,
              tags: Sequence[str] | None = None) -> list[Job]:
    """The project's jobs, those with ``status`` and all of ``tags`` when given."""
    rows = sdk.run(g.ShowJobs(within=project)).to_pylist()
    wanted = set(tags or ())
    return [Job(sdk, project, r["name"], r) for r in rows
            if (status is None or r["status"] == status) and wanted <= set(r["tags"] or ())]


def _job(sdk: "Executor", project: tuple[str, ...], job: Job | str) -> Job:
    return job if isinstance(job, Job) else get_job(sdk, project, job)


def trigger_job(sdk: "Executor", project: tuple[str, ...], job: Job | str) -> str:
    """Run the job now; its run id."""
    return _job(sdk, project, job).run().id


def deploy_job(sdk: "Executor", project: tuple[str, ...], job: Job | str, airflow: Any = None) -> DeploymentResult:
    """Schedule the job: as an Airflow DAG when ``airflow`` (the store's Airflow configuration)
    is set, else with the store's own scheduler."""
    found = _job(sdk, project, job)
    if airflow is not None:
        from raise_.jobs.airflow import write_dag

        url = write_dag(found, airflow)
        sdk.run(g.AlterJob(job=found._ref, action="deploy", url=url))
        return DeploymentResult(url=url, job=found.path, scheduler="airflow")
    sdk.run(g.AlterJob(job=found._ref, action="deploy"))
    return DeploymentResult(url=f"raise://{found.path}", job=found.path, scheduler="raise", next_run=found.next_run)
