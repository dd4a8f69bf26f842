"""The Flight SQL connection: a Raise server through ADBC's Flight SQL driver.

Statements travel as Raise SQL text, bulk writes as Arrow through ADBC ingest, and results
come back as Arrow. Server errors arrive as the same ``RaiseError`` class with the same code
(and line, column and excerpt for SQL errors) as in-process use.

>>> conn = FlightConnection("grpc://127.0.0.1:8815", "alice", "s3cret",
...                         project="acme/mlplatform/recommendation")      # doctest: +SKIP
>>> conn.execute('SELECT count(*) AS n FROM "user-signals"').to_pylist()  # doctest: +SKIP
[{'n': 3}]
"""
from __future__ import annotations

import json
import re
import weakref
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from grammar import errors
from raise_.batches import bounded

__all__ = ["FlightConnection", "ServerUnavailable", "error_from_flight"]

#: Per-statement header asking the server to upsert on the group's keys (see flight_server).
_UPSERT_HEADER = "adbc.flight.sql.rpc.call_header.x-raise-ingest-mode"
_ADBC_MODES = {"append": "append", "upsert": "append", "overwrite": "replace"}
_MESSAGE_KEY = b"x-arrow-status-message-bin"
_NAME_TRAILER = re.compile(r'\n\[raise-name: ("(?:[^"\\]|\\.)*")\]')
_CLASS_TRAILER = re.compile(r"\n\[raise-class: (\w+)\]")
_RAISE_MESSAGE = re.compile(
    r"\[(?P<code>RAISE-[A-Z]\d+)\] (?P<message>.*?)"
    r"(?: \(line (?P<line>\d+), column (?P<column>\d+)\))?(?:\n(?P<excerpt>.*))?\Z",
    re.DOTALL,
)

# An error that ends a result stream reaches Python as "[FlightSQL] <server message>. Detail:
# Python exception: <server-side class>: <message> (<gRPC status>; DoGet: endpoint N: [...])".
_DRIVER_PREFIX = "[FlightSQL] "
_PYTHON_DETAIL = ". Detail: Python exception: "
_STREAM_TRAILER = re.compile(r"\s*\((?P<status>\w+); DoGet: endpoint \d+: .*\)\s*\Z", re.DOTALL)
_FLIGHT_DETAIL = re.compile(r"\. Detail: \w+\Z")  # a Flight status's own code, e.g. "Unauthorized"


class ServerUnavailable(errors.RaiseError):
    """The Flight SQL server could not be reached or dropped the connection."""

    code = "RAISE-F040"
    status = "UNAVAILABLE"


# ADBC status codes (adbc_driver_manager.AdbcStatusCode) -> the class for errors without a code.
_BY_ADBC_STATUS = {
    2: errors.Unsupported, 3: errors.NotFound, 4: errors.AlreadyExists, 5: errors.ValidationError,
    10: ServerUnavailable, 12: ServerUnavailable, 13: errors.Unauthenticated, 14: errors.PermissionDenied,
}


# gRPC status names (as stream errors spell them) -> the class for errors without a code.
_BY_GRPC_NAME = {
    "Unimplemented": errors.Unsupported, "NotFound": errors.NotFound, "AlreadyExists": errors.AlreadyExists,
    "InvalidArgument": errors.ValidationError, "Unavailable": ServerUnavailable,
    "Unauthenticated": errors.Unauthenticated, "PermissionDenied": errors.PermissionDenied,
    "ResourceExhausted": errors.ExecutionError, "DeadlineExceeded": errors.StatementTimeout,
}


def _classes_by_code() -> dict[str, type[errors.RaiseError]]:
    found: dict[str, type[errors.RaiseError]] = {}
    pending = [errors.RaiseError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def _class_named(name: str, code: str) -> type[errors.RaiseError] | None:
    """The public ``RaiseError`` class called ``name`` (the server's ``[raise-class: ...]``
    trailer) whose family the code belongs to; None if there is none."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.RaiseError) and cls.code[:7] == code[:7]:
        return cls
    return None


def error_from_flight(error: Exception) -> errors.RaiseError:
    """The ``RaiseError`` an ADBC/Flight error stands for (same class and code as the server's)."""
    details = dict(getattr(error, "details", None) or [])
    text = details.get(_MESSAGE_KEY, b"").decode("utf-8", "replace")
    status = getattr(error, "status_code", None)
    fallback = _BY_ADBC_STATUS.get(int(status), errors.RaiseError) if status is not None else errors.RaiseError
    if not text:
        text, by_name = _stream_error(error)
        fallback = by_name or fallback
    name = None
    trailer = _NAME_TRAILER.search(text)
    if trailer is not None:
        name = json.loads(trailer.group(1))
        text = text[: trailer.start()] + text[trailer.end():]
    named = _CLASS_TRAILER.search(text)
    if named is not None:
        text = text[: named.start()] + text[named.end():]
    match = _RAISE_MESSAGE.search(text)
    if match is None:
        return fallback(text.strip())
    code = match["code"]
    cls = _class_named(named.group(1), code) if named is not None else None
    return (cls or _classes_by_code().get(code) or fallback)(
        match["message"], code=code,
        line=int(match["line"]) if match["line"] else None,
        column=int(match["column"]) if match["column"] else None,
        excerpt=match["excerpt"] or None, name=name,
    )


def _stream_error(error: Exception) -> tuple[str, type[errors.RaiseError] | None]:
    """The server's message in an error that ended a result stream, and the class its gRPC
    status stands for (None if unknown)."""
    text = str(error).removeprefix(_DRIVER_PREFIX)
    cls = None
    trailer = _STREAM_TRAILER.search(text)
    if trailer is not None:
        text, cls = text[: trailer.start()], _BY_GRPC_NAME.get(trailer["status"])
    detail = text.find(_PYTHON_DETAIL)
    text = text[:detail] if detail >= 0 else _FLIGHT_DETAIL.sub("", text)
    return text, cls


def _root_certs(tls_root_certs: str | bytes | Path | None) -> str | None:
    """PEM text from PEM text, PEM bytes or a path to a PEM file."""
    if tls_root_certs is None:
        return None
    if isinstance(tls_root_certs, bytes):
        return tls_root_certs.decode()
    text = str(tls_root_certs)
    return text if "-----BEGIN" in text else Path(text).read_text()


class FlightConnection:
    """A connection to ``raise serve`` at ``url`` (``grpc://`` or ``grpc+tls://``).

    ``user``/``password`` log in (Basic, exchanged for a bearer token); ``tls_root_certs``
    (PEM text or a path) verifies a server certificate not signed by a system CA; ``project``
    (``"org/domain/project"``) becomes the session's current project.
    """

    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 tls_root_certs: str | bytes | Path | None = None,
                 project: str | Sequence[str] | None = None) -> None:
        import adbc_driver_flightsql
        import adbc_driver_manager

        self.url = url
        self.user = user
        self._open: "weakref.WeakSet[PreparedStatement]" = weakref.WeakSet()
        options: dict[str, str] = {}
        if user is not None:
            options.update(username=user, password=password or "")
        certs = _root_certs(tls_root_certs)
        if certs is not None:
            options[adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value] = certs
        try:
            self._database = adbc_driver_flightsql.connect(url, db_kwargs=options)
            self._connection = adbc_driver_manager.AdbcConnection(self._database)
        except adbc_driver_manager.Error as error:
            raise error_from_flight(error) from None
        if project:
            self.use(project)

    def __repr__(self) -> str:
        return f"FlightConnection({self.url!r}, user={self.user!r})"

    def __enter__(self) -> "FlightConnection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def project(self) -> tuple[str, ...] | None:
        """The server session's current project (None until one is set)."""
        import adbc_driver_manager

        try:
            org = self._connection.get_option("adbc.connection.catalog")
            schema = self._connection.get_option("adbc.connection.db_schema")
        except adbc_driver_manager.Error as error:
            if error.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND:
                return None
            raise error_from_flight(error) from None
        return (org, *schema.split("/"))

    def use(self, project: str | Sequence[str]) -> None:
        """Make ``project`` (``"org/domain/project"``) the current project."""
        org, domain, name = project.split("/") if isinstance(project, str) else project
        self._call(self._connection.set_options, **{
            "adbc.connection.catalog": org, "adbc.connection.db_schema": f"{domain}/{name}",
        })

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a Raise SQL script; ``?`` or ``$1`` placeholders take ``params`` in order."""
        import adbc_driver_manager

        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_sql_query(sql)
            if params:
                statement.prepare()
                statement.bind(pa.record_batch([pa.array([v]) for v in params],
                                               names=[str(i) for i in range(1, len(params) + 1)]))
            stream, _ = statement.execute_query()
            return pa.RecordBatchReader.from_stream(stream).read_all()
        # the driver raises ArrowException or OSError for an error that ends the result stream
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as error:
            raise error_from_flight(error) from None
        finally:
            statement.close()

    def prepare(self, sql: str) -> "PreparedStatement":
        """``sql`` prepared on the server once (Flight SQL CreatePreparedStatement); each
        ``execute(params)`` then binds and runs it without preparing or planning it again."""
        prepared = PreparedStatement(self, sql)
        self._open.add(prepared)
        return prepared

    def ingest(self, group: str, data: Any, mode: str = "append") -> int:
        """Write Arrow ``data`` into ``group`` (``org/domain/project/group`` or a name in the
        current project) with mode ``append``, ``upsert`` (on the group's keys) or
        ``overwrite``; returns rows written."""
        import adbc_driver_manager

        if mode not in _ADBC_MODES:
            raise errors.ValidationError(f"ingest mode {mode!r} is not one of append, upsert, overwrite",
                                         code="RAISE-F021", name=mode)
        *namespace, table = group.split("/")
        options = {"adbc.ingest.target_table": table, "adbc.ingest.mode": f"adbc.ingest.mode.{_ADBC_MODES[mode]}"}
        if len(namespace) == 3:
            options["adbc.ingest.target_catalog"] = namespace[0]
        if namespace:
            options["adbc.ingest.target_db_schema"] = "/".join(namespace[-2:])
        if mode == "upsert":
            options[_UPSERT_HEADER] = "upsert"
        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_options(**options)
            statement.bind_stream(data if isinstance(data, pa.RecordBatchReader) else bounded(pa.table(data)))
            return statement.execute_update()
        except adbc_driver_manager.Error as error:
            raise error_from_flight(error) from None
        finally:
            statement.close()

    def create_temporary(self, name: str, data: pa.Table) -> int:
        """Send ``data`` as the server session's temporary table ``name`` (replacing one)."""
        import adbc_driver_manager

        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_options(**{"adbc.ingest.target_table": name, "adbc.ingest.temporary": "true",
                                     "adbc.ingest.mode": "adbc.ingest.mode.replace"})
            statement.bind_stream(bounded(pa.table(data)))
            return statement.execute_update()
        except adbc_driver_manager.Error as error:
            raise error_from_flight(error) from None
        finally:
            statement.close()

    def close(self) -> None:
        """End the server session and release the connection."""
        for prepared in list(getattr(self, "_open", ())):
            prepared.close()
        for handle in (getattr(self, "_connection", None), getattr(self, "_database", None)):
            if handle is not None:
                handle.close()
        self._connection = self._database = None

    def _call(self, method, *args: Any, **kwargs: Any) -> Any:
        import adbc_driver_manager

        try:
            return method(*args, **kwargs)
        except adbc_driver_manager.Error as error:
            raise error_from_flight(error) from None


class PreparedStatement:
    """A server-side prepared statement of a ``FlightConnection``, executed per request."""

    def __init__(self, connection: FlightConnection, sql: str) -> None:
        import adbc_driver_manager

        self.sql = sql
        self._statement = adbc_driver_manager.AdbcStatement(connection._connection)
        try:
            self._statement.set_sql_query(sql)
            self._statement.prepare()
        except adbc_driver_manager.Error as error:
            self._statement.close()
            raise error_from_flight(error) from None

    def __repr__(self) -> str:
        return f"PreparedStatement({self.sql!r})"

    def execute(self, params: Sequence[Any] | None = None) -> pa.Table:
        import adbc_driver_manager

        try:
            if params:
                self._statement.bind(pa.record_batch([pa.array([v]) for v in params],
                                                     names=[str(i) for i in range(1, len(params) + 1)]))
            stream, _ = self._statement.execute_query()
            return pa.RecordBatchReader.from_stream(stream).read_all()
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as error:
            raise error_from_flight(error) from None

    def execute_rows(self, rows: Sequence[Sequence[Any]]) -> pa.Table:
        """Bind ``rows`` as one parameter batch (a column per parameter, a row per set) and
        run it once per row on the server, the results concatenated in order."""
        import adbc_driver_manager

        try:
            width = len(rows[0]) if rows else 0
            self._statement.bind(pa.record_batch([pa.array([row[i] for row in rows]) for i in range(width)],
                                                 names=[str(i) for i in range(1, width + 1)]))
            stream, _ = self._statement.execute_query()
            return pa.RecordBatchReader.from_stream(stream).read_all()
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as error:
            raise error_from_flight(error) from None

    def close(self) -> None:
        if self._statement is not None:
            self._statement.close()
            self._statement = None
