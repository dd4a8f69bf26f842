"""Pytest fixtures that run a real Raise Flight SQL server on 127.0.0.1.

Register with ``pytest_plugins = ["conftest_flight"]`` (in ``tests/conftest.py`` or a test
module). Servers run as subprocesses (``python -m flight_server serve --port 0``), the way
``raise serve`` runs; readiness is the "Serving Raise Flight SQL at …" line, awaited with a
deadline. The process's log (one line per request) is ``<home>/server.log``.

Fixtures:

- ``flight_server``: one authenticated server for the session, yielding
  ``FlightServerInfo(url, user, password, home)``; ``.connect(project=…)`` opens the SDK's
  ``FlightConnection``, ``.new_project(org)`` one in a fresh ``org/ml/rec``, ``.dbapi()`` an
  ADBC DB-API connection.
- ``start_flight_server``: ``start(home, *serve_args) -> ServerProcess`` for other servers
  (TLS, no-auth …); each is stopped with SIGTERM at the end of the session if still running.
- ``add_flight_user``: ``add(home, name, password)`` creates a user in a store.
- ``tls_files``: a self-signed certificate and key for localhost/127.0.0.1 (``openssl``).
"""
from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import pytest

READY = re.compile(r"Serving Raise Flight SQL at (\S+)")
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 30.0
REPO = Path(__file__).resolve().parent.parent


class FlightServerInfo(NamedTuple):
    """A running server: where it listens and whom to log in as."""

    url: str
    user: str
    password: str
    home: Path
    tls_root_certs: str | None = None

    def connect(self, project: str | None = None, **kwargs):
        from raise_.client.flight import FlightConnection

        options = dict(user=self.user, password=self.password, tls_root_certs=self.tls_root_certs)
        options.update(kwargs)
        return FlightConnection(self.url, project=project, **options)

    def dbapi(self, **db_kwargs):
        """An ADBC DB-API connection (``adbc_driver_flightsql.dbapi``) to this server."""
        import adbc_driver_flightsql.dbapi

        options = {"username": self.user, "password": self.password}
        if self.tls_root_certs:
            options["adbc.flight.sql.client_option.tls_root_certs"] = self.tls_root_certs
        options.update(db_kwargs)
        return adbc_driver_flightsql.dbapi.connect(self.url, db_kwargs=options, autocommit=True)

    def new_project(self, org: str):
        """An SDK connection whose current project is a fresh ``org/ml/rec`` (created here)."""
        conn = self.connect()
        conn.execute(f"CREATE ORGANIZATION {org}; CREATE DOMAIN {org}/ml; CREATE PROJECT {org}/ml/rec")
        conn.use(f"{org}/ml/rec")
        return conn

    @property
    def log(self) -> str:
        return (self.home / "server.log").read_text()


class ServerProcess(NamedTuple):
    process: subprocess.Popen
    url: str
    log_path: Path

    def stop(self) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_DEADLINE_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdout:
                self.process.stdout.close()


def add_user(home: Path, name: str, password: str) -> None:
    from flight_server.users import UserStore
    from raise_.engine import Engine

    UserStore(Engine(home).catalog).add(name, password)


class LaunchedServer(NamedTuple):
    """A server process that may still be starting."""

    process: subprocess.Popen
    log_path: Path

    def ready(self) -> ServerProcess:
        """Wait until it accepts connections."""
        return ServerProcess(self.process, _await_ready(self.process, self.log_path), self.log_path)


def launch_server(home: Path, *args: str) -> LaunchedServer:
    """Start ``serve --home home --port 0 *args`` without waiting for it."""
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    command = [sys.executable, "-m", "flight_server", "serve", "--home", str(home), "--port", "0", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    return LaunchedServer(process, log_path)


def start_server(home: Path, *args: str) -> ServerProcess:
    """Start ``serve --home home --port 0 *args``; returns once it accepts connections."""
    return launch_server(home, *args).ready()


def _await_ready(process: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + START_DEADLINE_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                continue
            line = process.stdout.readline()
            if not line:
                break
            match = READY.search(line)
            if match:
                return match.group(1)
    process.kill()
    process.wait()
    raise RuntimeError(f"the server did not start (exit {process.returncode}):\n{log_path.read_text()}")


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 and its key (``openssl`` must be installed)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def start_flight_server() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(home: Path, *args: str) -> ServerProcess:
        server = start_server(home, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def add_flight_user() -> Callable[[Path, str, str], None]:
    return add_user


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    return _self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def flight_server(tmp_path_factory, start_flight_server) -> FlightServerInfo:
    """One authenticated Raise server for the test session (user ``alice``)."""
    home = tmp_path_factory.mktemp("flight-store")
    add_user(home, "alice", "alice-password")
    server = start_flight_server(home)
    return FlightServerInfo(server.url, "alice", "alice-password", home)
