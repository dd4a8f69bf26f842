"""The Raise Flight SQL service: pyarrow's Flight server speaking Flight SQL over the engine.

Each RPC decodes its Flight SQL message (``protocol``), finds the caller's connection state
(``sessions``) and hands the message to the handler registered for its type in the dispatch
tables below. Metadata commands are stateless: their ticket is the command itself. Statements
run when GetFlightInfo is called (so DDL and INSERT take effect exactly once, and errors
surface there) and their result waits under a single-use ticket for DoGet. A query is only
planned and authorized there: DoGet computes its batches while sending them. A prepared
lookup (``LOOKUP ONLINE``, executed per request) is computed whole by GetFlightInfo, so its
DoGet is a dictionary hit whose table pyarrow sends without calling back into Python.

>>> server = RaiseFlightServer(Engine("/tmp/store"), ServerConfig(port=0))   # doctest: +SKIP
>>> server.url                                                              # doctest: +SKIP
'grpc://127.0.0.1:53211'
"""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pyarrow as pa
import pyarrow.flight as flight

from flight_server import flight_sql_pb2 as pb
from flight_server import metadata, sql_info, statements
from flight_server.auth import MIDDLEWARE_KEY, AcceptHandshake, AuthMiddlewareFactory, CallMiddleware, TokenStore
from flight_server.errors import ProtocolError, UnknownCommand, hide_tracebacks, to_flight_error
from flight_server.protocol import check_size, pack, parameter_schema, parse, rewrite_placeholders, schema_bytes, unpack
from flight_server.sessions import Connection, Connections
from flight_server.users import UserStore
from grammar.errors import ValidationError
from raise_.batches import bounded, split_batch
from raise_.engine import ResultStream

if TYPE_CHECKING:
    from raise_.engine import Engine

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How ``raise serve`` listens and authenticates.

    ``require_auth=False`` (``--insecure-no-auth``) is refused unless ``host`` is loopback.
    Port 0 picks a free port (read it back from ``RaiseFlightServer.port``).
    """

    host: str = "127.0.0.1"
    port: int = 8815
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_auth: bool = True
    token_idle_s: float = 3600.0
    token_max_age_s: float = 86400.0
    connection_idle_s: float = float(sql_info.STATEMENT_IDLE_S)

    def __post_init__(self) -> None:
        if not self.require_auth and not is_loopback(self.host):
            raise ValidationError(
                f"--insecure-no-auth only binds to loopback (127.0.0.1, ::1, localhost), not {self.host!r}",
                code="RAISE-F030", name=self.host,
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValidationError("TLS needs both a certificate and its key", code="RAISE-F031")

    @property
    def scheme(self) -> str:
        return "grpc+tls" if self.tls_cert else "grpc"

    def location(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port if port is None else port}"


def _translated(method: Callable) -> Callable:
    """Run a Flight handler, turning every exception into a clean Flight status."""

    @functools.wraps(method)
    def wrapper(self: "RaiseFlightServer", context: flight.ServerCallContext, *args: Any) -> Any:
        try:
            return method(self, context, *args)
        except Exception as error:  # noqa: BLE001 - mapped to a status, logged if unexpected
            raise to_flight_error(error) from None

    return wrapper


class RaiseFlightServer(flight.FlightServerBase):
    """Flight SQL over a Raise ``Engine``; accepting connections once constructed.

    Constructing one sets ``sys.tracebacklimit = 0`` for the process, so no error status
    carries a traceback (see ``flight_server.errors``); run it in its own process
    (``raise serve``) where that matters.
    """

    def __init__(self, engine: "Engine", config: ServerConfig = ServerConfig(),
                 users: UserStore | None = None) -> None:
        hide_tracebacks()
        self.engine = engine
        self.config = config
        self.tokens = TokenStore(users or UserStore(engine.catalog), config.token_idle_s,
                                 config.token_max_age_s) if config.require_auth else None
        self.connections = Connections(engine, config.connection_idle_s)
        tls = []
        if config.tls_cert:
            tls = [flight.CertKeyPair(cert=Path(config.tls_cert).read_bytes(),
                                      key=Path(config.tls_key).read_bytes())]
        super().__init__(
            config.location(), auth_handler=AcceptHandshake(), tls_certificates=tls,
            middleware={MIDDLEWARE_KEY: AuthMiddlewareFactory(self.tokens, config.require_auth)},
        )

    def __repr__(self) -> str:
        return f"RaiseFlightServer({self.url!r}, auth={self.config.require_auth})"

    @property
    def url(self) -> str:
        return self.config.location(self.port)

    # -- helpers ---------------------------------------------------------------------------

    def _connection(self, context: flight.ServerCallContext, detail: str) -> tuple[Connection, CallMiddleware]:
        middleware: CallMiddleware = context.get_middleware(MIDDLEWARE_KEY)
        middleware.detail = detail
        identity = middleware.identity
        key = identity.token or f"peer:{context.peer()}"
        return self.connections.get(key, identity.user), middleware

    def _descriptor_command(self, descriptor: flight.FlightDescriptor):
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise ProtocolError("Raise serves Flight SQL commands; path descriptors are not supported")
        return unpack(descriptor.command, "command")

    # -- GetFlightInfo / GetSchema / DoGet -------------------------------------------------

    @_translated
    def get_flight_info(self, context, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        command = self._descriptor_command(descriptor)
        connection, middleware = self._connection(context, type(command).__name__)
        if type(command) in _METADATA:
            schema = _METADATA_SCHEMA[type(command)](command)
            ticket, rows, size = descriptor.command, -1, -1
        else:
            run = _STATEMENTS.get(type(command))
            if run is None:
                raise UnknownCommand(f"{type(command).__name__} cannot be executed with GetFlightInfo")
            middleware.quiet = isinstance(command, pb.CommandPreparedStatementQuery)
            result = run(connection, command)
            schema, rows, size = result.schema, result.num_rows, result.nbytes
            ticket = pack(pb.TicketStatementQuery(statement_handle=connection.keep_result(result)))
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(schema, descriptor, [endpoint], rows, size)

    @_translated
    def get_schema(self, context, descriptor: flight.FlightDescriptor) -> flight.SchemaResult:
        command = self._descriptor_command(descriptor)
        connection, _ = self._connection(context, type(command).__name__)
        if type(command) in _METADATA:
            return flight.SchemaResult(_METADATA_SCHEMA[type(command)](command))
        planned = _PLANNED_SCHEMA.get(type(command))
        if planned is None:
            raise UnknownCommand(f"GetSchema does not apply to {type(command).__name__}")
        return flight.SchemaResult(planned(connection, command))

    @_translated
    def do_get(self, context, ticket: flight.Ticket) -> flight.FlightDataStream:
        command = unpack(ticket.ticket, "ticket")
        connection, middleware = self._connection(context, type(command).__name__)
        if isinstance(command, pb.TicketStatementQuery):
            result = connection.take_result(command.statement_handle)
            if isinstance(result, pa.Table):  # computed by GetFlightInfo: sent without Python
                middleware.quiet = True
                return flight.RecordBatchStream(bounded(result))
            return flight.GeneratorStream(result.schema, _sent(result))
        if type(command) not in _METADATA:
            raise ProtocolError(f"a {type(command).__name__} is not a ticket")
        with connection.lock:
            table = _METADATA[type(command)](connection, command)
        return flight.RecordBatchStream(bounded(table))

    # -- DoPut -----------------------------------------------------------------------------

    @_translated
    def do_put(self, context, descriptor, reader: flight.MetadataRecordBatchReader,
               writer: flight.FlightMetadataWriter) -> None:
        command = self._descriptor_command(descriptor)
        connection, middleware = self._connection(context, type(command).__name__)
        put = _PUTS.get(type(command))
        if put is None:
            raise UnknownCommand(f"DoPut does not accept {type(command).__name__}")
        count = put(connection, middleware, command, reader)
        if count is not None:
            writer.write(pa.py_buffer(pb.DoPutUpdateResult(record_count=count).SerializeToString()))

    # -- DoAction --------------------------------------------------------------------------

    @_translated
    def do_action(self, context, action: flight.Action) -> Iterator[flight.Result]:
        handler = _ACTIONS.get(action.type)
        if handler is None:
            raise UnknownCommand(f"unknown action {action.type!r}; supported: {', '.join(sorted(_ACTIONS))}",
                                 name=action.type)
        connection, middleware = self._connection(context, action.type)
        body = check_size(action.body.to_pybytes() if action.body else b"", "action body")
        results = handler(self, connection, middleware, body)
        return [flight.Result(pa.py_buffer(r)) for r in results]

    def list_actions(self, context) -> list[tuple[str, str]]:
        return [(name, description) for name, (_, description) in sorted(_ACTION_DOCS.items())]

    def list_flights(self, context, criteria) -> Iterator[flight.FlightInfo]:
        return iter(())

    def _create_prepared(self, connection: Connection, _mw, body: bytes) -> list[bytes]:
        request = unpack(body, "CreatePreparedStatement body")
        if not isinstance(request, pb.ActionCreatePreparedStatementRequest):
            raise ProtocolError("CreatePreparedStatement expects an ActionCreatePreparedStatementRequest")
        statements.reject_transaction(request)
        statement = connection.prepare(request.query)
        return [pack(pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=statement.handle,
            dataset_schema=schema_bytes(statement.dataset_schema),
            parameter_schema=schema_bytes(parameter_schema(statement.parameter_count))
            if statement.parameter_count else b"",
        ))]

    def _close_prepared(self, connection: Connection, _mw, body: bytes) -> list[bytes]:
        request = unpack(body, "ClosePreparedStatement body")
        if not isinstance(request, pb.ActionClosePreparedStatementRequest):
            raise ProtocolError("ClosePreparedStatement expects an ActionClosePreparedStatementRequest")
        connection.close_statement(request.prepared_statement_handle)
        return []

    def _set_options(self, connection: Connection, _mw, body: bytes) -> list[bytes]:
        request = parse(pb.SetSessionOptionsRequest, body, "SetSessionOptions body")
        return [statements.set_session_options(connection, request).SerializeToString()]

    def _get_options(self, connection: Connection, _mw, body: bytes) -> list[bytes]:
        parse(pb.GetSessionOptionsRequest, body, "GetSessionOptions body")
        return [statements.session_options(connection).SerializeToString()]

    def _close_session(self, connection: Connection, middleware: CallMiddleware, body: bytes) -> list[bytes]:
        parse(pb.CloseSessionRequest, body, "CloseSession body")
        self.connections.close(connection.key)
        if self.tokens is not None and middleware.identity.token:
            self.tokens.revoke(middleware.identity.token)
        return [pb.CloseSessionResult(status=pb.CloseSessionResult.CLOSED).SerializeToString()]


def _read_all(reader: flight.MetadataRecordBatchReader) -> pa.Table:
    try:
        return reader.read_all()
    except pa.ArrowException as error:
        raise ProtocolError(f"the uploaded Arrow stream could not be read: {error}") from None


def _sent(result: ResultStream) -> Iterator[pa.RecordBatch]:
    """``result``'s batches as DoGet sends them: cut to the message size, errors as statuses."""
    try:
        for batch in result.batches:
            yield from split_batch(batch)
    except Exception as error:  # noqa: BLE001 - mapped to a status, logged if unexpected
        raise to_flight_error(error) from None


def _run_statement(connection: Connection, command: pb.CommandStatementQuery) -> ResultStream:
    statements.reject_transaction(command)
    return statements.stream(connection, rewrite_placeholders(command.query)[0])


def _run_prepared(connection: Connection, command: pb.CommandPreparedStatementQuery) -> ResultStream | pa.Table:
    """A prepared statement's result: a lookup (a statement the engine runs without planning)
    is computed here, whole, so its DoGet only hands the table over; a query streams."""
    statement = connection.statement(command.prepared_statement_handle)
    if statement.prepared is not None and statement.prepared.direct:
        return statements.execute_prepared(connection, statement)
    return statements.stream_prepared(connection, statement)


def _query_schema(connection: Connection, command: pb.CommandStatementQuery) -> pa.Schema:
    statements.reject_transaction(command)
    with connection.lock:
        return connection.session.schema(rewrite_placeholders(command.query)[0])


def _prepared_schema(connection: Connection, command: pb.CommandPreparedStatementQuery) -> pa.Schema:
    statement = connection.statement(command.prepared_statement_handle)
    if statement.dataset_schema is None:
        raise ValidationError("the result schema of this statement is known only after it runs",
                              code="RAISE-F023")
    return statement.dataset_schema


def _put_parameters(connection: Connection, middleware: CallMiddleware, command: pb.CommandPreparedStatementQuery,
                    reader) -> None:
    """Bind parameters for the next executions of a prepared query (no update count)."""
    middleware.quiet = True
    connection.statement(command.prepared_statement_handle).parameters = _read_all(reader)


def _put_ingest(connection: Connection, middleware: CallMiddleware, command: pb.CommandStatementIngest,
                reader) -> int:
    statements.reject_transaction(command)
    mode = middleware.raise_headers.get(statements.INGEST_MODE_HEADER)
    return statements.ingest(connection, command, _read_all(reader), mode)


def _put_update(connection: Connection, _mw, command: pb.CommandStatementUpdate, reader) -> int:
    statements.reject_transaction(command)
    return statements.affected_rows(statements.execute(connection, rewrite_placeholders(command.query)[0]))


def _put_prepared_update(connection: Connection, _mw, command: pb.CommandPreparedStatementUpdate,
                         reader) -> int:
    statement = connection.statement(command.prepared_statement_handle)
    parameters = _read_all(reader)
    bound = parameters if parameters.num_columns else None
    return statements.affected_rows(statements.execute_prepared(connection, statement, bound))


_PLANNED_SCHEMA: dict[type, Callable[[Connection, Any], pa.Schema]] = {
    pb.CommandStatementQuery: _query_schema,
    pb.CommandPreparedStatementQuery: _prepared_schema,
}

_PUTS: dict[type, Callable[[Connection, CallMiddleware, Any, Any], int | None]] = {
    pb.CommandPreparedStatementQuery: _put_parameters,
    pb.CommandStatementIngest: _put_ingest,
    pb.CommandStatementUpdate: _put_update,
    pb.CommandPreparedStatementUpdate: _put_prepared_update,
}

_STATEMENTS: dict[type, Callable[[Connection, Any], ResultStream | pa.Table]] = {
    pb.CommandStatementQuery: _run_statement,
    pb.CommandPreparedStatementQuery: _run_prepared,
}

_METADATA: dict[type, Callable[[Connection, Any], pa.Table]] = {
    pb.CommandGetSqlInfo: lambda c, cmd: sql_info.sql_info_table(cmd.info),
    pb.CommandGetXdbcTypeInfo: lambda c, cmd: sql_info.xdbc_type_info_table(
        cmd.data_type if cmd.HasField("data_type") else None),
    pb.CommandGetTableTypes: lambda c, cmd: sql_info.table_types_table(),
    pb.CommandGetCatalogs: lambda c, cmd: metadata.catalogs_table(c.session),
    pb.CommandGetDbSchemas: lambda c, cmd: metadata.db_schemas_table(c.session, cmd),
    pb.CommandGetTables: lambda c, cmd: metadata.tables_table(c.session, cmd),
    pb.CommandGetPrimaryKeys: lambda c, cmd: metadata.primary_keys_table(c.session, cmd),
    pb.CommandGetImportedKeys: lambda c, cmd: metadata.foreign_keys_table(),
    pb.CommandGetExportedKeys: lambda c, cmd: metadata.foreign_keys_table(),
}

_METADATA_SCHEMA: dict[type, Callable[[Any], pa.Schema]] = {
    pb.CommandGetSqlInfo: lambda cmd: sql_info.SQL_INFO_SCHEMA,
    pb.CommandGetXdbcTypeInfo: lambda cmd: sql_info.XDBC_TYPE_INFO_SCHEMA,
    pb.CommandGetTableTypes: lambda cmd: sql_info.TABLE_TYPES_SCHEMA,
    pb.CommandGetCatalogs: lambda cmd: metadata.CATALOGS_SCHEMA,
    pb.CommandGetDbSchemas: lambda cmd: metadata.DB_SCHEMAS_SCHEMA,
    pb.CommandGetTables: lambda cmd: (metadata.TABLES_WITH_SCHEMA_SCHEMA if cmd.include_schema
                                      else metadata.TABLES_SCHEMA),
    pb.CommandGetPrimaryKeys: lambda cmd: metadata.PRIMARY_KEYS_SCHEMA,
    pb.CommandGetImportedKeys: lambda cmd: metadata.FOREIGN_KEYS_SCHEMA,
    pb.CommandGetExportedKeys: lambda cmd: metadata.FOREIGN_KEYS_SCHEMA,
}

_ACTION_DOCS: dict[str, tuple[Callable, str]] = {
    "CreatePreparedStatement": (RaiseFlightServer._create_prepared, "Prepare a SQL statement (? placeholders)"),
    "ClosePreparedStatement": (RaiseFlightServer._close_prepared, "Release a prepared statement"),
    "SetSessionOptions": (RaiseFlightServer._set_options, "Set 'catalog' (organization) and 'schema' (domain/project)"),
    "GetSessionOptions": (RaiseFlightServer._get_options, "The connection's current catalog and schema"),
    "CloseSession": (RaiseFlightServer._close_session, "End the connection's session and its token"),
}

_ACTIONS = {name: handler for name, (handler, _) in _ACTION_DOCS.items()}
