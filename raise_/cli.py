"""The ``raise`` command: ``raise sql``, ``raise demo``, ``raise alerts check``, ``raise live
refresh``, and the server's ``serve``/``user``.

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


def build_parser() -> argparse.ArgumentParser:
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
    try:
        from flight_server.cli import add_subcommands
    except ImportError:
        add_subcommands = None
    if add_subcommands is not None:
        add_subcommands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
