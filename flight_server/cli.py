"""``raise serve`` and ``raise user add|list|remove``.

``add_subcommands(subparsers)`` registers both on the ``raise`` command's argparse
subparsers; each parser sets ``func`` to a function taking the parsed arguments and returning
the exit status. ``python -m flight_server serve ...`` runs them without the ``raise`` script.

    raise user add alice --home /srv/raise  < password.txt
    raise serve --home /srv/raise --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem
"""
from __future__ import annotations

import argparse
import getpass
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from grammar.errors import RaiseError

log = logging.getLogger("raise.flight")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve`` and ``user`` (with ``add``, ``list``, ``remove``)."""
    serve = subparsers.add_parser(
        "serve", help="serve the store over Arrow Flight SQL",
        description="Serve a Raise store to Flight SQL clients (ADBC, JDBC, BI tools). "
                    "Stops cleanly on SIGTERM or Ctrl-C.",
    )
    _home(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8815, help="port (default 8815; 0 picks a free one)")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve grpc+tls")
    serve.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="accept unauthenticated clients (loopback addresses only)")
    serve.add_argument("--token-ttl", type=float, default=3600.0, metavar="SECONDS",
                       help="bearer tokens expire after this long unused (default 3600)")
    serve.add_argument("--cache", type=parse_size, default=None, metavar="SIZE",
                       help="memory for decoded tables, e.g. 8GiB or 512MiB; 0 turns it off "
                            "(default $RAISE_CACHE_BYTES or 1GiB)")
    serve.add_argument("--statement-timeout", type=parse_duration, default=None, metavar="DURATION",
                       help="cancel a statement that runs longer (30s, 5min, 250ms; a number is "
                            "seconds; default: no limit). Sessions may lower it with "
                            "SET statement_timeout")
    serve.add_argument("--analytics-interval", type=float, default=60.0, metavar="SECONDS",
                       help="refresh due live tables and check due alerts this often (0: never)")
    serve.add_argument("--jobs-interval", type=float, default=30.0, metavar="SECONDS",
                       help="run the due jobs this often (0: never; `raise jobs run-due` runs them from cron)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(func=run_serve)

    user = subparsers.add_parser("user", help="manage the users who may connect to `raise serve`")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="{add,list,remove}")
    add = actions.add_parser("add", help="add a user; the password is read from stdin")
    add.add_argument("name")
    _home(add)
    add.set_defaults(func=run_user_add)
    listing = actions.add_parser("list", help="list users")
    _home(listing)
    listing.set_defaults(func=run_user_list)
    remove = actions.add_parser("remove", help="remove a user (their tokens stop working)")
    remove.add_argument("name")
    _home(remove)
    remove.set_defaults(func=run_user_remove)


def _home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, default=None,
                        help="the store's home directory (default $RAISE_HOME or ./.raise)")


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
          "tib": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional unit (``512MiB``, ``8GiB``, ``1.5g``;
    units are powers of 1024)."""
    match = re.fullmatch(r"\s*(\d{1,15}(?:\.\d{1,6})?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 512MiB or 8GiB")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_duration(text: str) -> float | None:
    """Seconds in ``text``: ``30s``, ``5min``, ``250ms``; a bare number is seconds."""
    from raise_.engine.limits import parse_timeout

    try:
        return float(text) or None if re.fullmatch(r"\s*\d+(\.\d+)?\s*", text) else parse_timeout(text)
    except RaiseError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _engine(home: Path | None, cache_bytes: int | None = None, statement_timeout: float | None = None):
    from raise_.engine import Engine

    return Engine(home, cache_bytes=cache_bytes, statement_timeout=statement_timeout)


def _users(home: Path | None):
    from flight_server.users import UserStore

    return UserStore(_engine(home).catalog)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; prints the URL once connections are accepted."""
    import pyarrow as pa

    from flight_server.errors import CannotListen
    from flight_server.server import RaiseFlightServer, ServerConfig
    from flight_server.users import UserStore

    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = ServerConfig(host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                          require_auth=not args.insecure_no_auth, token_idle_s=args.token_ttl)
    engine = _engine(args.home, args.cache, args.statement_timeout)
    try:
        server = RaiseFlightServer(engine, config)
    except pa.ArrowException as error:
        raise CannotListen(f"cannot serve at {config.location()}: {error} (is the port in use?)") from None
    if config.require_auth and not UserStore(engine.catalog).list():
        log.warning("no users yet: add one with `raise user add NAME --home %s`", engine.home)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = _scheduler(engine, args.analytics_interval)
    jobs = _job_scheduler(engine, args.jobs_interval)
    print(f"Serving Raise Flight SQL at {server.url}", flush=True)
    try:
        stop.wait()
        log.info("stopping: finishing in-flight requests")
        if scheduler is not None:
            scheduler.stop()
        if jobs is not None:
            jobs.stop()
        server.shutdown()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0


def _scheduler(engine, interval: float):
    """The analytics scheduler of a server (live table refreshes, alert checks), if enabled."""
    if interval <= 0:
        return None
    from raise_.analytics.scheduler import Scheduler

    return Scheduler(engine, interval).start()


def _job_scheduler(engine, interval: float):
    """The job scheduler of a server (runs the due jobs), if enabled."""
    if interval <= 0:
        return None
    from raise_.jobs.scheduler import JobScheduler

    return JobScheduler(engine, interval).start()


def run_user_add(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    _users(args.home).add(args.name, password)
    print(f"added user {args.name}")
    return 0


def run_user_list(args: argparse.Namespace) -> int:
    for user in _users(args.home).list():
        print(f"{user['name']}\t{user['created_at']}")
    return 0


def run_user_remove(args: argparse.Namespace) -> int:
    _users(args.home).remove(args.name)
    print(f"removed user {args.name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flight_server``: the ``serve`` and ``user`` commands on their own."""
    parser = argparse.ArgumentParser(prog="raise", description="Raise Flight SQL server")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RaiseError as error:
        print(f"raise {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"raise {args.command}: {error}", file=sys.stderr)
        return 1
