"""The job statements: CREATE/DESCRIBE/DROP/ALTER JOB, RUN JOB, RUN DUE JOBS, SHOW JOBS,
SHOW JOB RUNS, and CREATE/DROP EXTERNAL TABLE (the tables a ``ColumnarSource`` reads).

A statement family of its own (grammar in ``jobs.lark``), registered with
:mod:`grammar.extensions` through :data:`EXTENSION`. ``parse_job_statement(render_job_statement(s))
== s`` holds for every statement.

A Python transform is named in SQL by the importable ``module:function`` path of its
decorated function (``TRANSFORM segment AS PYTHON (function = 'pipelines.users:segment')``);
a SQL transform's text travels as one string literal, so its quotes cannot end the statement.

>>> s = parse_job_statement("run job daily_clicks at '2026-01-01T00:00:00+00:00'")
>>> render_job_statement(s)
'RUN JOB "daily_clicks" AT \\'2026-01-01T00:00:00+00:00\\''
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Union

from lark import Lark, Token, v_args

from grammar import clauses
from grammar.ast import GroupRef
from grammar.errors import RaiseSyntaxError, ValidationError
from grammar.render import quote_ident, quote_literal

__all__ = [
    "JobRef", "JobSource", "JobCheck", "CreateJob", "RunJob", "RunDueJobs", "ShowJobs", "DescribeJob",
    "ShowJobRuns", "DropJob", "AlterJob", "CreateExternalTable", "DropExternalTable", "JOB_STATEMENTS",
    "WRITE_MODES", "INCREMENTAL_MODES", "ALTER_ACTIONS", "EXTERNAL_FORMATS", "parse_job_statement",
    "render_job_statement", "EXTENSION",
]

WRITE_MODES = ("append", "upsert", "overwrite")
INCREMENTAL_MODES = ("full", "incremental", "append", "upsert")
ALTER_ACTIONS = ("pause", "resume", "deploy")
EXTERNAL_FORMATS = ("delta", "parquet")
SCHEDULE_KINDS = ("cron", "every", "on_change", "manual")

Value = Union[str, int, float, bool, None, tuple]
Settings = tuple[tuple[str, Value], ...]
Conflict = Literal["error", "skip", "update"]
_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class JobRef:
    """A job, optionally qualified by its project path (1 to 3 names)."""

    name: str
    project: tuple[str, ...] | None = None


@dataclass(**_frozen)
class JobSource:
    """``kind (settings) [AS alias]``: ``object_storage``, ``filesystem``, ``columnar``,
    ``feature_group`` (checked by the engine)."""

    kind: str
    settings: Settings = ()
    alias: str | None = None


@dataclass(**_frozen)
class JobCheck:
    """``CHECK name kind (settings)``: ``nulls``, ``range``, ``row_count``, ``blob_integrity``."""

    name: str
    kind: str
    settings: Settings = ()


@dataclass(**_frozen)
class CreateJob:
    """``CREATE [OR REPLACE] JOB [IF NOT EXISTS] ref FROM ... TRANSFORM ... INTO ... [options]``.

    ``sql`` is the SQL transform's text (``transform_kind == "sql"``); any other kind carries
    its ``transform_settings``. ``schedule``: ``(kind, value)`` with kind of
    :data:`SCHEDULE_KINDS` (``value``: the cron text, the interval, or the on-change sources).
    """

    job: JobRef
    sources: tuple[JobSource, ...]
    transform_name: str
    transform_kind: str
    sql: str | None = None
    transform_settings: Settings = ()
    target: GroupRef
    features: tuple[tuple[str, str], ...] | None = None
    mode: str | None = None
    key_columns: tuple[str, ...] | None = None
    schedule: tuple[str, Value] = ("manual", None)
    incremental: str = "full"
    checkpoint_column: str | None = None
    lookback: str | None = None
    checks: tuple[JobCheck, ...] = ()
    executor: str | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    conflict: Conflict = "error"


@dataclass(**_frozen)
class RunJob:
    """``RUN JOB ref [AT 'instant']``: one run now, with that logical execution date."""

    job: JobRef
    execution_date: str | None = None


@dataclass(**_frozen)
class RunDueJobs:
    """``RUN DUE JOBS [IN path]``: every active job whose schedule says it is due, once."""

    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class ShowJobs:
    within: tuple[str, ...] | None = None


@dataclass(**_frozen)
class DescribeJob:
    job: JobRef


@dataclass(**_frozen)
class ShowJobRuns:
    """``SHOW JOB RUNS OF ref [LIMIT n]``: its runs, newest first."""

    job: JobRef
    limit: int | None = None


@dataclass(**_frozen)
class DropJob:
    job: JobRef
    if_exists: bool = False


@dataclass(**_frozen)
class AlterJob:
    """``ALTER JOB ref PAUSE | RESUME | DEPLOY [TO 'url']`` (DEPLOY TO: an outside scheduler,
    such as Airflow, runs it; the store's own scheduler then leaves it alone)."""

    job: JobRef
    action: str
    url: str | None = None


@dataclass(**_frozen)
class CreateExternalTable:
    """``CREATE EXTERNAL TABLE [IF NOT EXISTS] c.d.t LOCATION 'uri' FORMAT delta|parquet``."""

    table: tuple[str, ...]
    location: str
    format: str
    if_not_exists: bool = False


@dataclass(**_frozen)
class DropExternalTable:
    table: tuple[str, ...]
    if_exists: bool = False


JOB_STATEMENTS: tuple[type, ...] = (CreateJob, RunJob, RunDueJobs, ShowJobs, DescribeJob, ShowJobRuns, DropJob,
                                    AlterJob, CreateExternalTable, DropExternalTable)

_LEADING = re.compile(
    r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:CREATE\s+(?:OR\s+REPLACE\s+)?JOB|(?:RUN|DESCRIBE|DROP|ALTER)\s+JOB|RUN\s+DUE\s+JOBS|SHOW\s+JOBS"
    r"|SHOW\s+JOB\s+RUNS|(?:CREATE|DROP)\s+EXTERNAL\s+TABLE)\b",
    re.IGNORECASE | re.DOTALL,
)
_FRIENDLY = {
    "NAME": "a name", "QUOTED": "a quoted name", "STRING": "a string literal", "INT": "an integer",
    "SIGNED_NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "SLASH": "'/'",
    "EQUAL": "'='", "DOT": "'.'", "$END": "end of statement",
}


# ------------------------------------------------------------------ parsing


def parse_job_statement(text: str) -> object | None:
    """Parse one statement (no ``;``) if it is a job statement, else return None; errors are
    ``RaiseSyntaxError``/``ValidationError`` with a 1-based line and column relative to ``text``."""
    if not _LEADING.match(text):
        return None
    return clauses.transform(clauses.grammar("jobs.lark"), _ToJob(), text, _friendly, "job statement")


def _friendly(terminal: str) -> str:
    return _FRIENDLY.get(terminal, terminal.strip('"').upper())


def _unique(pairs: list[tuple[str, Value]], what: str, meta) -> Settings:
    keys = [k for k, _ in pairs]
    twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if twice:
        raise RaiseSyntaxError(f"{what} setting {twice} given twice", name=twice, line=meta.line, column=meta.column)
    return tuple(pairs)


@v_args(meta=True)
class _ToJob(clauses.CommonTransformer):
    """Map each rule of ``jobs.lark`` to a statement dataclass (stateless)."""

    def ref(self, meta, names) -> JobRef:
        clauses.check_path(tuple(names), 4, "a job reference", meta)
        return JobRef(name=names[-1], project=tuple(names[:-1]) or None)

    def dotted(self, meta, names) -> tuple[str, ...]:
        return clauses.check_path(tuple(names), 3, "an external table name", meta)

    def string(self, meta, children):
        return children[0]

    def number(self, meta, children):
        text = re.sub(r"\s+", "", str(children[0]))
        return float(text) if re.search(r"[.eE]", text) else int(text)

    def true(self, meta, _):
        return True

    def false(self, meta, _):
        return False

    def null(self, meta, _):
        return None

    def values(self, meta, children):
        return tuple(c for c in children if not isinstance(c, Token) or c.type != "COMMA")

    def setting(self, meta, children):
        return str(children[0]).lower(), children[1]

    def settings(self, meta, children):
        return _unique(children, "a", meta)

    def source(self, meta, children) -> JobSource:
        kind = str(children[0]).lower()
        settings = next((c for c in children[1:] if isinstance(c, tuple)), ())
        alias = next((c for c in children[1:] if isinstance(c, str)), None)
        return JobSource(kind=kind, settings=settings, alias=alias)

    def sql_transform(self, meta, children):
        return clauses.option("transform", (children[0], "sql", children[1], ()), meta)

    def kind_transform(self, meta, children):
        settings = children[2] if len(children) > 2 else ()
        return clauses.option("transform", (children[0], str(children[1]).lower(), None, settings), meta)

    def mapping(self, meta, children):
        return children[0], children[1]

    def features(self, meta, children):
        return clauses.option("features", tuple(children), meta)

    def mode(self, meta, children):
        return clauses.option("mode", clauses.word(children[0], WRITE_MODES, "write mode"), meta)

    def key(self, meta, children):
        return clauses.option("key_columns", tuple(children), meta)

    def target(self, meta, children):
        return clauses.option("target", (children[0], clauses.options(children[1:])), meta)

    def schedule_cron(self, meta, children):
        return clauses.option("schedule", ("cron", children[0]), meta)

    def schedule_every(self, meta, children):
        return clauses.option("schedule", ("every", children[0]), meta)

    def schedule_on_change(self, meta, children):
        return clauses.option("schedule", ("on_change", tuple(children) or None), meta)

    def schedule_manual(self, meta, _):
        return clauses.option("schedule", ("manual", None), meta)

    def lookback(self, meta, children):
        return clauses.option("lookback", children[0], meta)

    def incremental(self, meta, children):
        mode = "incremental"
        if isinstance(children[0], Token) and children[0].type == "NAME":
            mode = clauses.word(children[0], ("append", "upsert"), "incremental mode")
            children = children[1:]
        lookback = clauses.options(children[1:]).get("lookback")
        return clauses.option("incremental", (mode, children[0], lookback), meta)

    def full_refresh(self, meta, _):
        return clauses.option("incremental", ("full", None, None), meta)

    def check(self, meta, children):
        settings = children[2] if len(children) > 2 else ()
        return JobCheck(name=children[0], kind=str(children[1]).lower(), settings=settings)

    def executor(self, meta, children):
        return clauses.option("executor", str(children[0]).lower(), meta)

    def tags(self, meta, children):
        return clauses.option("tags", tuple(children), meta)

    def description(self, meta, children):
        return clauses.option("description", children[0], meta)

    def create_job(self, meta, children) -> CreateJob:
        ref, *sources = [c for c in clauses.positional(children) if not isinstance(c, JobCheck)]
        checks = tuple(c for c in children if isinstance(c, JobCheck))
        options = clauses.options(children)
        if options.pop("if_not_exists", False):
            if options.get("conflict") == "update":
                raise RaiseSyntaxError("OR REPLACE and IF NOT EXISTS exclude each other",
                                       line=meta.line, column=meta.column)
            options["conflict"] = "skip"
        name, kind, sql, settings = options.pop("transform")
        target, target_options = options.pop("target")
        mode, column, lookback = options.pop("incremental", ("full", None, None))
        return CreateJob(job=ref, sources=tuple(sources), transform_name=name, transform_kind=kind, sql=sql,
                         transform_settings=settings, target=target, **target_options, incremental=mode,
                         checkpoint_column=column, lookback=lookback, checks=checks, **options)

    def run_job(self, meta, children) -> RunJob:
        return RunJob(job=children[0], execution_date=children[1] if len(children) > 1 else None)

    def run_due(self, meta, children) -> RunDueJobs:
        return RunDueJobs(within=children[0] if children else None)

    def show_jobs(self, meta, children) -> ShowJobs:
        return ShowJobs(within=children[0] if children else None)

    def describe_job(self, meta, children) -> DescribeJob:
        return DescribeJob(job=children[0])

    def limit(self, meta, children):
        return int(children[0])

    def show_runs(self, meta, children) -> ShowJobRuns:
        return ShowJobRuns(job=children[0], limit=children[1] if len(children) > 1 else None)

    def drop_job(self, meta, children) -> DropJob:
        (ref,) = clauses.positional(children)
        return DropJob(job=ref, **clauses.options(children))

    def alter_job(self, meta, children) -> AlterJob:
        action = clauses.word(children[1], ALTER_ACTIONS, "ALTER JOB action")
        url = children[2] if len(children) > 2 else None
        if url is not None and action != "deploy":
            raise RaiseSyntaxError("TO 'url' goes with DEPLOY only", line=meta.line, column=meta.column)
        return AlterJob(job=children[0], action=action, url=url)

    def create_external(self, meta, children) -> CreateExternalTable:
        table, location, fmt = clauses.positional(children)
        return CreateExternalTable(table=table, location=location,
                                   format=clauses.word(fmt, EXTERNAL_FORMATS, "external table format"),
                                   **clauses.options(children))

    def drop_external(self, meta, children) -> DropExternalTable:
        (table,) = clauses.positional(children)
        return DropExternalTable(table=table, **clauses.options(children))


# ------------------------------------------------------------------ rendering


def _ref(ref: JobRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _group(ref: GroupRef) -> str:
    return "/".join(quote_ident(n) for n in (*(ref.project or ()), ref.name))


def _value(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value)
    if value is not None and not isinstance(value, (str, int, bool)):
        raise ValidationError(f"a setting takes a string, number, boolean, NULL or a list of them, got {value!r}",
                              code="RAISE-V501", name=repr(value))
    return quote_literal(value)


def _settings(settings: Settings) -> str:
    if not settings:
        return ""
    for key, _ in settings:
        if not re.fullmatch(r"(?!\d)\w+", key):
            raise ValidationError(f"setting name {key!r} is not a bare word", code="RAISE-V501", name=key)
    return " (" + ", ".join(f"{k} = {_value(v)}" for k, v in settings) + ")"


def _word(word: str, what: str) -> str:
    if not re.fullmatch(r"(?!\d)\w+", word or ""):
        raise ValidationError(f"{what} {word!r} is not a bare word", code="RAISE-V501", name=str(word))
    return word


def _source(source: JobSource) -> str:
    alias = f" AS {quote_ident(source.alias)}" if source.alias is not None else ""
    return _word(source.kind, "source kind") + _settings(source.settings) + alias


def _schedule(schedule: tuple[str, Value]) -> str:
    kind, value = schedule
    if kind == "cron":
        return "SCHEDULE CRON " + quote_literal(value)
    if kind == "every":
        return "SCHEDULE EVERY " + quote_literal(value)
    if kind == "on_change":
        return "SCHEDULE ON CHANGE" + (" (" + ", ".join(quote_ident(n) for n in value) + ")" if value else "")
    return "SCHEDULE MANUAL"


def _incremental(stmt: CreateJob) -> str:
    if stmt.incremental == "full":
        return "FULL REFRESH"
    head = "INCREMENTAL" + ("" if stmt.incremental == "incremental" else " " + stmt.incremental.upper())
    text = f"{head} ON {quote_ident(stmt.checkpoint_column)}"
    return text + (f" LOOKBACK {quote_literal(stmt.lookback)}" if stmt.lookback is not None else "")


def _create(stmt: CreateJob) -> str:
    head = "CREATE OR REPLACE JOB " if stmt.conflict == "update" else "CREATE JOB "
    parts = [head + ("IF NOT EXISTS " if stmt.conflict == "skip" else "") + _ref(stmt.job),
             "FROM " + ", ".join(_source(s) for s in stmt.sources),
             f"TRANSFORM {quote_ident(stmt.transform_name)} AS "
             + ("SQL " + quote_literal(stmt.sql) if stmt.transform_kind == "sql"
                else _word(stmt.transform_kind, "transform kind").upper() + _settings(stmt.transform_settings)),
             "INTO " + _group(stmt.target)]
    if stmt.features is not None:
        parts.append("FEATURES (" + ", ".join(f"{quote_ident(a)} AS {quote_ident(b)}" for a, b in stmt.features) + ")")
    if stmt.mode is not None:
        parts.append("MODE " + stmt.mode)
    if stmt.key_columns is not None:
        parts.append("KEY (" + ", ".join(quote_ident(k) for k in stmt.key_columns) + ")")
    parts += [_schedule(stmt.schedule), _incremental(stmt)]
    parts += [f"CHECK {quote_ident(c.name)} {_word(c.kind, 'check kind')}{_settings(c.settings)}" for c in stmt.checks]
    if stmt.executor is not None:
        parts.append("EXECUTOR " + _word(stmt.executor, "executor"))
    if stmt.tags:
        parts.append("TAGS (" + ", ".join(quote_literal(t) for t in stmt.tags) + ")")
    if stmt.description is not None:
        parts.append("DESCRIPTION " + quote_literal(stmt.description))
    return " ".join(parts)


def _within(head: str, within: tuple[str, ...] | None) -> str:
    return head if within is None else head + " IN " + "/".join(quote_ident(n) for n in within)


def _dotted(table: tuple[str, ...]) -> str:
    return ".".join(quote_ident(n) for n in table)


_RENDERERS = {
    CreateJob: _create,
    RunJob: lambda s: "RUN JOB " + _ref(s.job) + (f" AT {quote_literal(s.execution_date)}"
                                                   if s.execution_date is not None else ""),
    RunDueJobs: lambda s: _within("RUN DUE JOBS", s.within),
    ShowJobs: lambda s: _within("SHOW JOBS", s.within),
    DescribeJob: lambda s: "DESCRIBE JOB " + _ref(s.job),
    ShowJobRuns: lambda s: "SHOW JOB RUNS OF " + _ref(s.job) + (f" LIMIT {int(s.limit)}" if s.limit is not None else ""),
    DropJob: lambda s: "DROP JOB " + ("IF EXISTS " if s.if_exists else "") + _ref(s.job),
    AlterJob: lambda s: f"ALTER JOB {_ref(s.job)} {s.action.upper()}" + (f" TO {quote_literal(s.url)}"
                                                                         if s.url is not None else ""),
    CreateExternalTable: lambda s: "CREATE EXTERNAL TABLE " + ("IF NOT EXISTS " if s.if_not_exists else "")
    + f"{_dotted(s.table)} LOCATION {quote_literal(s.location)} FORMAT {s.format.upper()}",
    DropExternalTable: lambda s: "DROP EXTERNAL TABLE " + ("IF EXISTS " if s.if_exists else "") + _dotted(s.table),
}


def render_job_statement(stmt: object) -> str:
    """Canonical Raise SQL for a job statement (quoted names, escaped literals)."""
    renderer = _RENDERERS.get(type(stmt))
    if renderer is None:
        raise ValidationError(f"not a job statement: {type(stmt).__name__}", code="RAISE-V501")
    return renderer(stmt)


#: ``(parser, {class: renderer})`` for :mod:`grammar.extensions`.
EXTENSION = (parse_job_statement, dict(_RENDERERS))
