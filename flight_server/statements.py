"""Running statements for a connection: queries, updates, bound parameters, ingest, options.

A query is planned and authorized when the client asks for its FlightInfo, and computed while
DoGet sends it (``Session.stream``): the first batches are on the wire before the last are
computed. Other statements run at once. Either way results go out in record batches of at most
``raise_.batches.TARGET_BATCH_BYTES``, well under the 16 MiB message cap ADBC and other gRPC clients use by
default.

Ingest (``adbc_ingest``, Flight SQL CommandStatementIngest) writes into an existing feature
group: catalog = organization, db_schema = ``domain/project``, table = group name (omitted
parts come from the connection's current project). ADBC modes map as

=================  ==================================================================
ADBC mode          Raise
=================  ==================================================================
``append``         append rows
``create_append``  append rows (feature groups are created with CREATE FEATURE GROUP)
``replace``        overwrite the group's rows
``create``         ALREADY_EXISTS if the group exists, else NOT_FOUND
=================  ==================================================================

and an upsert on the group's key columns is asked for with the ingest option
``raise.ingest.mode=upsert`` (CommandStatementIngest ``options``) or, from ADBC, the statement
header ``x-raise-ingest-mode: upsert`` (statement option
``adbc.flight.sql.rpc.call_header.x-raise-ingest-mode``), which take precedence over the mode.
An ingest with ``temporary=true`` (``adbc.ingest.temporary``) holds the rows as the session's
temporary table of that name instead (``raise_.serving.tables``), replacing one of that name.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from flight_server import flight_sql_pb2 as pb
from flight_server.errors import ProtocolError, UnknownCommand
from flight_server.sessions import Connection, PreparedStatement
from raise_.engine import ResultStream
from grammar.errors import AlreadyExists, NotFound, ValidationError

if TYPE_CHECKING:
    from raise_.engine.prepared import Prepared

INGEST_MODE_OPTION = "raise.ingest.mode"
INGEST_MODE_HEADER = "x-raise-ingest-mode"
INGEST_MODES = ("append", "upsert", "overwrite")

_Options = pb.CommandStatementIngest.TableDefinitionOptions


def execute(connection: Connection, sql: str, parameters: pa.Table | None = None,
            prepared: "Prepared | None" = None) -> pa.Table:
    """Run ``sql`` (or its ``prepared`` form) once, or once per parameter row (results
    concatenated in order; a prepared lookup takes all the rows' keys in one lookup)."""
    run = prepared.execute if prepared is not None else partial(connection.session.execute, sql)
    with connection.lock:
        if parameters is None or parameters.num_rows == 0:
            return run()
        if prepared is not None and parameters.num_rows > 1:
            return prepared.execute_rows(list(parameter_rows(parameters)))
        results = [run(row) for row in parameter_rows(parameters)]
    return pa.concat_tables(results, promote_options="permissive") if len(results) > 1 else results[0]


def stream(connection: Connection, sql: str, parameters: pa.Table | None = None,
           prepared: "Prepared | None" = None) -> ResultStream:
    """Like ``execute``, but a query bound to at most one parameter row is computed lazily."""
    if parameters is not None and parameters.num_rows > 1:
        return ResultStream.of(execute(connection, sql, parameters, prepared))
    params = next(parameter_rows(parameters)) if parameters is not None and parameters.num_rows else None
    with connection.lock:
        if prepared is not None:
            return prepared.stream(params)
        return connection.session.stream(sql, params)


def parameter_rows(parameters: pa.Table) -> Iterator[list]:
    """Each bound row as positional Python values (``$1`` is the first column)."""
    columns = [column.to_pylist() for column in parameters.columns]
    for index in range(parameters.num_rows):
        yield [values[index] for values in columns]


def execute_prepared(connection: Connection, statement: PreparedStatement,
                     parameters: pa.Table | None = None) -> pa.Table:
    return execute(connection, statement.sql, _bound(statement, parameters), statement.prepared)


def stream_prepared(connection: Connection, statement: PreparedStatement) -> ResultStream:
    return stream(connection, statement.sql, _bound(statement, None), statement.prepared)


def _bound(statement: PreparedStatement, parameters: pa.Table | None) -> pa.Table | None:
    bound = parameters if parameters is not None else statement.parameters
    if statement.parameter_count and (bound is None or bound.num_rows == 0):
        raise ValidationError(
            f"the statement has {statement.parameter_count} parameter(s) but none were bound",
            code="RAISE-F020",
        )
    return bound


def affected_rows(result: pa.Table) -> int:
    """Rows an update changed: Raise DDL's ``rows_affected``, INSERT's ``count``; else -1."""
    for name in ("rows_affected", "count"):
        if name in result.column_names:
            return int(pc.sum(result[name]).as_py() or 0)
    return -1


# -- ingest ----------------------------------------------------------------------------------

def ingest_mode(command: pb.CommandStatementIngest, header_mode: str | None,
                exists: Callable[[], bool]) -> str:
    """The engine write mode for a CommandStatementIngest (see the module table)."""
    requested = header_mode or command.options.get(INGEST_MODE_OPTION)
    if requested is not None:
        if requested not in INGEST_MODES:
            raise ValidationError(f"ingest mode {requested!r} is not one of {', '.join(INGEST_MODES)}",
                                  code="RAISE-F021", name=requested)
        return requested
    how = command.table_definition_options.if_exists
    if how == _Options.TABLE_EXISTS_OPTION_APPEND:
        return "append"
    if how == _Options.TABLE_EXISTS_OPTION_REPLACE:
        return "overwrite"
    if how == _Options.TABLE_EXISTS_OPTION_FAIL:
        if exists():
            raise AlreadyExists(f"feature group {command.table!r} already exists: ingest with mode "
                                "'append' or 'replace'", name=command.table)
        raise NotFound(f"feature group {command.table!r} does not exist; create feature groups "
                       "with CREATE FEATURE GROUP, then ingest", name=command.table)
    raise ProtocolError("CommandStatementIngest has no table_definition_options.if_exists")


def ingest_target(command: pb.CommandStatementIngest) -> str:
    """The engine's group path: ``org/domain/project/group``, ``domain/project/group`` or ``group``."""
    if not command.table:
        raise ProtocolError("CommandStatementIngest names no table")
    if command.HasField("catalog") and not command.HasField("schema"):
        raise ProtocolError("CommandStatementIngest gives a catalog without a db_schema; give both")
    parts = [command.catalog] if command.HasField("catalog") else []
    parts += [command.schema] if command.HasField("schema") else []
    return "/".join([*parts, command.table])


def ingest(connection: Connection, command: pb.CommandStatementIngest, data: pa.Table,
           header_mode: str | None) -> int:
    target = ingest_target(command)

    def exists() -> bool:
        wanted = tuple(target.split("/"))
        full = (*(connection.session.project or ())[: 4 - len(wanted)], *wanted)
        return any((t.org, *t.schema.split("/"), t.name) == full for t in connection.session.tables())

    if command.temporary:  # the session's own rows, e.g. the entity rows of a training set
        with connection.lock:
            return connection.session.create_temporary(command.table, data)
    mode = ingest_mode(command, header_mode, exists)
    with connection.lock:
        return connection.session.ingest(target, data, mode)


# -- session options -------------------------------------------------------------------------

def session_options(connection: Connection) -> pb.GetSessionOptionsResult:
    """``catalog`` (organization) and ``schema`` (``domain/project``) of the current project."""
    result = pb.GetSessionOptionsResult()
    project = connection.session.project
    catalog = project[0] if project else connection.pending_catalog
    if catalog is not None:
        result.session_options["catalog"].string_value = catalog
    if project:
        result.session_options["schema"].string_value = "/".join(project[1:])
    return result


def set_session_options(connection: Connection, request: pb.SetSessionOptionsRequest) -> pb.SetSessionOptionsResult:
    """Apply ``catalog`` then ``schema``; unknown names and non-string values are refused."""
    result = pb.SetSessionOptionsResult()
    Error = pb.SetSessionOptionsResult
    options = dict(request.session_options)
    for name in sorted(options, key=lambda n: (n != "catalog", n)):
        value = options[name]
        if name not in ("catalog", "schema"):
            result.errors[name].value = Error.INVALID_NAME
        elif value.WhichOneof("option_value") != "string_value" or not value.string_value:
            result.errors[name].value = Error.INVALID_VALUE
        elif not _apply_option(connection, name, value.string_value):
            result.errors[name].value = Error.INVALID_VALUE
    return result


def _apply_option(connection: Connection, name: str, value: str) -> bool:
    session = connection.session
    with connection.lock:
        if name == "catalog":
            if session.project:
                session.use((value, *session.project[1:]))
            else:
                connection.pending_catalog = value
            return True
        org = connection.pending_catalog or (session.project[0] if session.project else None)
        parts = value.split("/")
        if org is None or len(parts) != 2:
            return False
        session.use((org, *parts))
        connection.pending_catalog = None
        return True


def reject_transaction(message) -> None:
    """Transactions are not supported: every statement commits on its own."""
    if message.HasField("transaction_id"):
        raise UnknownCommand("transactions are not supported: statements commit on their own")
