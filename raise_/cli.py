"""The ``raise`` command: ``raise sql``, ``raise demo``, ``raise alerts check``, ``raise live
refresh``, ``raise jobs run``/``run-due``, ``raise blobs validate-due``, and the server's
``serve``/``user``.

Exit status: 0 on success; on failure the error's code is printed on stderr and the status
tells its kind (2 syntax, 3 validation, 4 not found, 5 already exists, 6 permission, 1 other).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grammar.errors import (
    AlreadyExists, NotFound, PermissionDenied, RaiseError, RaiseSyntaxError, Unauthenticated, ValidationError,
)
from raise_.output import FORMATS, render

EXIT_CODES = (
    (RaiseSyntaxError, 2), (ValidationError, 3), (NotFound, 4), (AlreadyExists, 5),
    (PermissionDenied, 6), (Unauthenticated, 6),
)


def exit_code(error: RaiseError) -> int:
    return next((code for cls, code in EXIT_CODES if isinstance(error, cls)), 1)


def _sql(args: argparse.Namespace) -> int:
    if (args.execute is None) == (args.file is None):
        print("raise sql: give exactly one of -e SQL or -f FILE", file=sys.stderr)
        return 2
    text = args.execute if args.execute is not None else Path(args.file).read_text()
    if args.url:
        from raise_.client import connect

        password = args.password if args.password is not None else os.environ.get("RAISE_PASSWORD")
        connection = connect(url=args.url, user=args.user, password=password, project=args.project)
        result = connection.execute(text)
    else:
        from raise_.engine import Engine

        session = Engine(args.home).session(principal=args.user, project=args.project)
        result = session.execute(text)
    sys.stdout.write(render(result, args.format))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from raise_.demo import run_demo

    run_demo(args.home)
    return 0


def _alerts_check(args: argparse.Namespace) -> int:
    """Evaluate the due analytics alerts (for cron or CI): ``CHECK ALERTS`` on the store."""
    from raise_.analytics.scheduler import check_due
    from raise_.engine import Engine

    session = Engine(args.home).session(principal=args.user)
    sys.stdout.write(render(check_due(session, _path(args.project), args.force), args.format))
    return 0


def _live_refresh(args: argparse.Namespace) -> int:
    """Refresh the live tables whose policy says they are due (for cron)."""
    from raise_.analytics.scheduler import refresh_due
    from raise_.engine import Engine

    session = Engine(args.home).session(principal=args.user)
    sys.stdout.write(render(refresh_due(session, _path(args.project)), args.format))
    return 0


def _jobs_run(args: argparse.Namespace) -> int:
    """Run one job now (what an Airflow task calls); exit status 1 when the run failed."""
    from grammar import jobs, render as render_sql
    from raise_.engine import Engine

    *project, name = args.name.split("/")
    session = Engine(args.home).session(principal=args.user, project=args.project)
    ref = jobs.JobRef(name=name, project=tuple(project) or None)
    result = session.execute(render_sql(jobs.RunJob(job=ref, execution_date=args.execution_date)))
    sys.stdout.write(render(result.select(["job", "id", "status", "rows_read", "rows_written", "error"]),
                            args.format))
    return 0 if result.column("status")[0].as_py() == "completed" else 1


def _jobs_run_due(args: argparse.Namespace) -> int:
    """Run every due job once (for cron)."""
    from raise_.engine import Engine
    from raise_.jobs.scheduler import run_due

    session = Engine(args.home).session(principal=args.user)
    result = run_due(session, _path(args.project))
    sys.stdout.write(render(result.select(["job", "id", "status", "rows_read", "rows_written", "error"]),
                            args.format))
    return 0


def _blobs_validate_due(args: argparse.Namespace) -> int:
    """Validate the PERIODIC blob registries that are due (for cron)."""
    from raise_.blobs.periodic import validate_due
    from raise_.engine import Engine

    session = Engine(args.home).session(principal=args.user)
    sys.stdout.write(render(validate_due(session, _path(args.project)), args.format))
    return 0


def _add_blob_commands(commands) -> None:
    blobs = commands.add_parser("blobs", help="blob registries").add_subparsers(dest="action", required=True)
    due = blobs.add_parser("validate-due", help="validate the PERIODIC blob registries that are due")
    due.add_argument("--home", help="store home (default $RAISE_HOME or ./.raise)")
    due.add_argument("--project", help="only this project's registries, org/domain/project")
    due.add_argument("--user", help="principal to list as (default: the local superuser)")
    due.add_argument("--format", choices=FORMATS, default="table")
    due.set_defaults(func=_blobs_validate_due)


def _add_job_commands(commands) -> None:
    jobs = commands.add_parser("jobs", help="ETL and inference jobs").add_subparsers(dest="action", required=True)
    run = jobs.add_parser("run", help="run one job now")
    run.add_argument("name", help="job name, or org/domain/project/name")
    run.add_argument("--home", help="store home (default $RAISE_HOME or ./.raise)")
    run.add_argument("--project", help="the job's project, org/domain/project")
    run.add_argument("--user", help="principal to run as (default: the local superuser)")
    run.add_argument("--execution-date", help="the run's logical date, an ISO instant (default: now)")
    run.add_argument("--format", choices=FORMATS, default="table")
    run.set_defaults(func=_jobs_run)
    due = jobs.add_parser("run-due", help="run the active jobs whose schedule is due")
    due.add_argument("--home", help="store home (default $RAISE_HOME or ./.raise)")
    due.add_argument("--project", help="only this project's jobs, org/domain/project")
    due.add_argument("--user", help="principal to run as (default: the local superuser)")
    due.add_argument("--format", choices=FORMATS, default="table")
    due.set_defaults(func=_jobs_run_due)


def _path(project: str | None) -> tuple[str, ...] | None:
    return tuple(project.split("/")) if project else None


def _add_analytics_commands(commands) -> None:
    alerts = commands.add_parser("alerts", help="analytics alerts").add_subparsers(dest="action", required=True)
    check = alerts.add_parser("check", help="evaluate the alerts that are due; firings go to the outbox")
    check.add_argument("--home", help="store home (default $RAISE_HOME or ./.raise)")
    check.add_argument("--project", help="only this project's alerts, org/domain/project")
    check.add_argument("--user", help="principal to check as (default: the local superuser)")
    check.add_argument("--force", action="store_true", help="check every alert, due or not")
    check.add_argument("--format", choices=FORMATS, default="table")
    check.set_defaults(func=_alerts_check)
    live = commands.add_parser("live", help="live tables").add_subparsers(dest="action", required=True)
    refresh = live.add_parser("refresh", help="refresh the live tables that are due under their policy")
    refresh.add_argument("--home", help="store home (default $RAISE_HOME or ./.raise)")
    refresh.add_argument("--project", help="only this project's live tables, org/domain/project")
    refresh.add_argument("--user", help="principal to refresh as (default: the local superuser)")
    refresh.add_argument("--format", choices=FORMATS, default="table")
    refresh.set_defaults(func=_live_refresh)


#: The commands this module runs itself; the rest (``serve``, ``user``) come from the server.
LOCAL_COMMANDS = ("sql", "demo", "alerts", "live", "jobs", "blobs")


def build_parser(server: bool = True) -> argparse.ArgumentParser:
    """The command line; ``server=False`` leaves out the server's commands (and their import)."""
    parser = argparse.ArgumentParser(prog="raise", description="Raise feature store")
    commands = parser.add_subparsers(dest="command", required=True)
    sql = commands.add_parser("sql", help="run Raise SQL against a store or a server")
    sql.add_argument("-e", "--execute", help="SQL text to run")
    sql.add_argument("-f", "--file", help="script file to run")
    sql.add_argument("--home", help="store home (default $RAISE_HOME or ./.raise)")
    sql.add_argument("--project", help="current project, org/domain/project")
    sql.add_argument("--format", choices=FORMATS, default="table")
    sql.add_argument("--url", help="grpc://host:port of a Raise Flight SQL server")
    sql.add_argument("--user", help="user name (server) or principal (embedded)")
    sql.add_argument("--password", help="password for --url (default $RAISE_PASSWORD)")
    sql.set_defaults(func=_sql)
    demo = commands.add_parser("demo", help="run the Quick Start end to end on an embedded store")
    demo.add_argument("--home", help="store home (default: a new temporary folder)")
    demo.set_defaults(func=_demo)
    _add_analytics_commands(commands)
    _add_job_commands(commands)
    _add_blob_commands(commands)
    if not server:
        return parser
    try:
        from flight_server.cli import add_subcommands
    except ImportError:
        add_subcommands = None
    if add_subcommands is not None:
        add_subcommands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(server=not words or words[0] not in LOCAL_COMMANDS).parse_args(argv)
    try:
        return args.func(args)
    except RaiseError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_code(error)
    except OSError as error:
        print(f"error: [RAISE-E001] {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
