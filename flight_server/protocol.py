"""Flight SQL wire helpers: commands in ``google.protobuf.Any``, schemas as IPC bytes, ``?``.

Commands arrive as serialized ``Any`` messages whose type URL names a Flight SQL message
(``type.googleapis.com/arrow.flight.protocol.sql.CommandGetTables``); ``unpack`` accepts only
the messages listed in ``COMMANDS`` and turns everything else into a clear Raise error.
"""
from __future__ import annotations

from typing import Iterable

import pyarrow as pa
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from flight_server import flight_sql_pb2 as pb
from flight_server.errors import ProtocolError, RequestTooLarge, UnknownCommand

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."

#: Commands, tickets and action bodies are small; anything bigger is a client bug or an attack.
MAX_REQUEST_BYTES = 4 << 20
#: Longest SQL text accepted (bulk data belongs in ingest, not in literals).
MAX_SQL_CHARS = 1 << 20

#: Every message a client may send inside an ``Any`` (descriptor command, ticket, action body).
COMMANDS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.name: cls
    for cls in (
        pb.CommandGetSqlInfo, pb.CommandGetXdbcTypeInfo, pb.CommandGetCatalogs,
        pb.CommandGetDbSchemas, pb.CommandGetTables, pb.CommandGetTableTypes,
        pb.CommandGetPrimaryKeys, pb.CommandGetExportedKeys, pb.CommandGetImportedKeys,
        pb.CommandStatementQuery, pb.CommandStatementUpdate, pb.CommandPreparedStatementQuery,
        pb.CommandPreparedStatementUpdate, pb.CommandStatementIngest, pb.TicketStatementQuery,
        pb.ActionCreatePreparedStatementRequest, pb.ActionClosePreparedStatementRequest,
    )
}


def check_size(data: bytes, what: str) -> bytes:
    if len(data) > MAX_REQUEST_BYTES:
        raise RequestTooLarge(
            f"{what} of {len(data)} bytes exceeds the {MAX_REQUEST_BYTES}-byte limit"
        )
    return data


def pack(message: Message) -> bytes:
    """``message`` wrapped in ``Any`` and serialized (results of Flight SQL actions)."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message, type_url_prefix="type.googleapis.com/")
    return wrapper.SerializeToString()


def unpack(data: bytes, what: str = "command") -> Message:
    """The Flight SQL message inside serialized ``Any`` bytes."""
    check_size(data, what)
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError:
        raise ProtocolError(f"the {what} is not a valid protobuf Any message") from None
    if not wrapper.type_url.startswith(TYPE_PREFIX):
        raise ProtocolError(
            f"the {what} has type {wrapper.type_url or '(none)'!r}; expected a Flight SQL "
            f"message ({TYPE_PREFIX}...)"
        )
    name = wrapper.type_url[len(TYPE_PREFIX):]
    cls = COMMANDS.get(name)
    if cls is None:
        raise UnknownCommand(f"Flight SQL {name} is not supported by Raise", name=name)
    return parse(cls, wrapper.value, what)


def parse(cls: type[Message], data: bytes, what: str) -> Message:
    """Decode bare protobuf bytes (session actions and Raise's own tickets and handles)."""
    check_size(data, what)
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise ProtocolError(f"the {what} is not a valid {cls.DESCRIPTOR.name} message") from None
    return message


def schema_bytes(schema: pa.Schema | None) -> bytes:
    """A schema as the IPC message Flight SQL carries in ``bytes`` fields (empty for None)."""
    return b"" if schema is None else schema.serialize().to_pybytes()


def parameter_schema(count: int) -> pa.Schema:
    """``count`` positional parameters of unknown type (ADBC binds whatever it holds)."""
    return pa.schema([pa.field(f"${i}", pa.null()) for i in range(1, count + 1)])


def rewrite_placeholders(sql: str) -> tuple[str, int]:
    """Turn ADBC/JDBC ``?`` placeholders into DataFusion's ``$1, $2, …``.

    ``?`` inside string literals, quoted identifiers and comments is left alone. Returns the
    rewritten text and the number of placeholders.

    >>> rewrite_placeholders("SELECT '?' AS q, \\"a?\\" FROM t WHERE x = ? AND y = ?")
    ('SELECT \\'?\\' AS q, "a?" FROM t WHERE x = $1 AND y = $2', 2)
    """
    if len(sql) > MAX_SQL_CHARS:
        raise RequestTooLarge(f"the SQL text has {len(sql)} characters; the limit is {MAX_SQL_CHARS} "
                              "(send bulk data with ingest, not as literals)")
    out: list[str] = []
    count = 0
    for kind, text in _tokens(sql):
        if kind == "?":
            count += 1
            out.append(f"${count}")
        else:
            out.append(text)
    return "".join(out), count


def _tokens(sql: str) -> Iterable[tuple[str, str]]:
    """Split SQL into quoted/comment spans (kept verbatim), ``?`` and other characters."""
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        end = _span_end(sql, i)
        if end is not None:
            yield "span", sql[i:end]
            i = end
        elif char == "?":
            yield "?", char
            i += 1
        else:
            yield "text", char
            i += 1


def _span_end(sql: str, i: int) -> int | None:
    """Where a literal, quoted identifier or comment starting at ``i`` ends (None: not one)."""
    char = sql[i]
    if char in "'\"":
        j = i + 1
        while j < len(sql):
            if sql[j] == char:
                if j + 1 < len(sql) and sql[j + 1] == char:
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if sql.startswith("--", i):
        j = sql.find("\n", i)
        return len(sql) if j < 0 else j
    if sql.startswith("/*", i):
        j = sql.find("*/", i + 2)
        return len(sql) if j < 0 else j + 2
    return None
