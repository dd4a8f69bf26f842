"""Flight SQL pieces without a server: wire decoding, placeholders, patterns, SqlInfo, errors."""
from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2

from flight_server import flight_sql_pb2 as pb
from flight_server import metadata, sql_info
from flight_server.errors import (InvalidArgument, NotFoundStatus, ProtocolError, RequestTooLarge,
                                  Unimplemented, UnknownCommand, to_flight_error)
from flight_server.protocol import MAX_REQUEST_BYTES, pack, parameter_schema, rewrite_placeholders, unpack
from flight_server.server import ServerConfig, is_loopback
from flight_server.statements import affected_rows, ingest_mode, ingest_target
from raise_.batches import bounded
from grammar import errors
from raise_.client.flight import error_from_flight


# -- commands in Any -------------------------------------------------------------------------

def test_pack_unpack_round_trip():
    command = pb.CommandGetTables(catalog="acme", table_name_filter_pattern="user%", include_schema=True)
    data = pack(command)
    wrapper = any_pb2.Any.FromString(data)
    assert wrapper.type_url == "type.googleapis.com/arrow.flight.protocol.sql.CommandGetTables"
    assert unpack(data) == command


@pytest.mark.parametrize("data, error, text", [
    (b"\xff\xff\xff", ProtocolError, "not a valid protobuf Any"),
    (any_pb2.Any(type_url="type.googleapis.com/other.Message").SerializeToString(), ProtocolError,
     "expected a Flight SQL message"),
    (any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandGetCrossReference")
     .SerializeToString(), UnknownCommand, "CommandGetCrossReference is not supported"),
    (any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery",
                 value=b"\x0a\xff").SerializeToString(), ProtocolError, "not a valid CommandStatementQuery"),
])
def test_unpack_rejects_bad_input_with_a_clear_error(data, error, text):
    with pytest.raises(error, match=text):
        unpack(data)


def test_unpack_rejects_oversize_requests():
    data = pack(pb.CommandStatementQuery(query="x" * (MAX_REQUEST_BYTES + 1)))
    with pytest.raises(RequestTooLarge, match="exceeds the 4194304-byte limit") as info:
        unpack(data)
    assert info.value.code == "RAISE-F004"


# -- placeholders ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql, expected, count", [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2", 2),
    ("SELECT '?', 'it''s ?' FROM t WHERE x = ?", "SELECT '?', 'it''s ?' FROM t WHERE x = $1", 1),
    ('SELECT "col?" FROM "t""?" WHERE y=?', 'SELECT "col?" FROM "t""?" WHERE y=$1', 1),
    ("SELECT 1 -- what?\nWHERE z = ?", "SELECT 1 -- what?\nWHERE z = $1", 1),
    ("SELECT /* ? */ ?", "SELECT /* ? */ $1", 1),
    ("SELECT $1, $2", "SELECT $1, $2", 0),
    ("SELECT 'unterminated ?", "SELECT 'unterminated ?", 0),
])
def test_question_marks_become_numbered_placeholders_outside_quotes(sql, expected, count):
    assert rewrite_placeholders(sql) == (expected, count)


def test_parameter_schema_has_one_untyped_field_per_placeholder():
    assert parameter_schema(2) == pa.schema([("$1", pa.null()), ("$2", pa.null())])


# -- LIKE patterns ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, name, matches", [
    (None, "anything", True),
    ("user%", "user-signals", True),
    ("user%", "item-signals", False),
    ("%signals", "user-signals", True),
    ("user_signals", "user-signals", True),
    ("user\\_signals", "user-signals", False),
    ("user\\_signals", "user_signals", True),
    ("100\\%", "100%", True),
    ("a.b", "axb", False),
    ("(.*)", "(.*)", True),
    ("ml/%", "ml/rec", True),
    ("", "", True),
])
def test_like_patterns_follow_sql_rules_without_regex_injection(pattern, name, matches):
    assert metadata.like(pattern)(name) is matches


# -- SqlInfo and type info ---------------------------------------------------------------------

def test_sql_info_answers_what_bi_tools_ask():
    table = sql_info.sql_info_table()
    assert table.schema == sql_info.SQL_INFO_SCHEMA
    values = dict(zip(table["info_name"].to_pylist(), table["value"].to_pylist()))
    assert values[sql_info.SERVER_NAME] == "Raise"
    assert values[sql_info.SERVER_ARROW_VERSION] == pa.__version__
    assert values[sql_info.SERVER_SQL] is True
    assert values[sql_info.SERVER_TRANSACTION] == 0
    assert values[504] == '"'
    assert values[563] is False
    assert "ORGANIZATION" in values[508]
    union = table["value"].chunk(0)
    slots = [union.type.field(i).name for i in range(union.type.num_fields)]
    assert slots[union.type_codes[0].as_py()] == "string_value"          # the server name
    assert slots[union.type_codes[8].as_py()] == "int32_bitmask"         # transaction support


def test_sql_info_returns_requested_codes_only_and_skips_unknown_ones():
    table = sql_info.sql_info_table([sql_info.SERVER_TRANSACTION, 99999, sql_info.SERVER_NAME])
    assert table["info_name"].to_pylist() == [sql_info.SERVER_TRANSACTION, sql_info.SERVER_NAME]
    assert table["value"].to_pylist() == [0, "Raise"]


def test_xdbc_type_info_is_sorted_and_filterable():
    table = sql_info.xdbc_type_info_table()
    assert table.schema == sql_info.XDBC_TYPE_INFO_SCHEMA
    codes = table["data_type"].to_pylist()
    assert codes == sorted(codes)
    assert sql_info.xdbc_type_info_table(-5)["type_name"].to_pylist() == ["BIGINT"]
    assert sql_info.xdbc_type_info_table(12345).num_rows == 0


# -- results ---------------------------------------------------------------------------------

def test_affected_rows_reads_ddl_and_insert_counts():
    assert affected_rows(pa.table({"statement": ["CREATE"], "rows_affected": [1]})) == 1
    assert affected_rows(pa.table({"count": pa.array([3, 4], pa.uint64())})) == 7
    assert affected_rows(pa.table({"x": [1, 2]})) == -1


def test_results_are_rechunked_under_the_message_limit():
    table = pa.table({"x": pa.array(range(1_000_000), pa.int64())})
    chunked = bounded(table, target_bytes=1 << 20)
    assert chunked.num_rows == table.num_rows
    assert max(batch.nbytes for batch in chunked.to_batches()) <= 1 << 20
    assert chunked.num_rows == sum(b.num_rows for b in chunked.to_batches())
    small = pa.table({"x": [1]})
    assert bounded(small) is small


# -- ingest modes ----------------------------------------------------------------------------

_Options = pb.CommandStatementIngest.TableDefinitionOptions


def _ingest(if_exists, if_not_exist=_Options.TABLE_NOT_EXIST_OPTION_FAIL, **fields):
    return pb.CommandStatementIngest(
        table="g", table_definition_options=_Options(if_exists=if_exists, if_not_exist=if_not_exist), **fields)


@pytest.mark.parametrize("if_exists, expected", [
    (_Options.TABLE_EXISTS_OPTION_APPEND, "append"),
    (_Options.TABLE_EXISTS_OPTION_REPLACE, "overwrite"),
])
def test_adbc_ingest_modes_map_to_engine_modes(if_exists, expected):
    assert ingest_mode(_ingest(if_exists), None, lambda: True) == expected


def test_upsert_comes_from_the_header_or_the_ingest_option():
    command = _ingest(_Options.TABLE_EXISTS_OPTION_APPEND)
    assert ingest_mode(command, "upsert", lambda: True) == "upsert"
    command.options["raise.ingest.mode"] = "upsert"
    assert ingest_mode(command, None, lambda: True) == "upsert"
    with pytest.raises(errors.ValidationError, match="not one of append, upsert, overwrite"):
        ingest_mode(command, "merge", lambda: True)


def test_create_mode_reports_existing_or_missing_groups():
    command = _ingest(_Options.TABLE_EXISTS_OPTION_FAIL, _Options.TABLE_NOT_EXIST_OPTION_CREATE)
    with pytest.raises(errors.AlreadyExists):
        ingest_mode(command, None, lambda: True)
    with pytest.raises(errors.NotFound, match="CREATE FEATURE GROUP"):
        ingest_mode(command, None, lambda: False)


def test_ingest_target_joins_catalog_schema_and_table():
    assert ingest_target(pb.CommandStatementIngest(table="g")) == "g"
    assert ingest_target(pb.CommandStatementIngest(table="g", schema="ml/rec")) == "ml/rec/g"
    assert ingest_target(pb.CommandStatementIngest(table="g", schema="ml/rec", catalog="acme")) == "acme/ml/rec/g"
    with pytest.raises(ProtocolError, match="catalog without a db_schema"):
        ingest_target(pb.CommandStatementIngest(table="g", catalog="acme"))


# -- errors both ways --------------------------------------------------------------------------

@pytest.mark.parametrize("error, flight_type", [
    (errors.RaiseSyntaxError("bad"), InvalidArgument),
    (errors.ValidationError("bad"), InvalidArgument),
    (errors.AlreadyExists("taken"), InvalidArgument),
    (errors.NotFound("missing"), NotFoundStatus),
    (errors.PermissionDenied("no"), flight.FlightUnauthorizedError),
    (errors.Unauthenticated("who"), flight.FlightUnauthenticatedError),
    (errors.Unsupported("later"), Unimplemented),
])
def test_raise_errors_map_to_statuses_carrying_their_code(error, flight_type):
    mapped = to_flight_error(error)
    assert isinstance(mapped, flight_type)
    # pyarrow names the raised class in the status detail: it must be the Raise error's
    assert isinstance(mapped, type(error)) or issubclass(flight_type, flight.FlightError)
    assert type(mapped).__name__ == type(error).__name__ or issubclass(flight_type, flight.FlightError)
    assert str(mapped).startswith(f"[{error.code}] ")


def test_unexpected_errors_are_internal_and_only_logged(caplog):
    try:
        raise ZeroDivisionError("secret detail")
    except ZeroDivisionError as error:
        with caplog.at_level(logging.ERROR, logger="raise.flight"):
            mapped = to_flight_error(error)
    assert isinstance(mapped, flight.FlightInternalError)
    assert "secret" not in str(mapped) and "Traceback" not in str(mapped)
    assert "reference" in str(mapped)
    assert "ZeroDivisionError: secret detail" in caplog.text and "Traceback" in caplog.text


class _AdbcLikeError(Exception):
    def __init__(self, message: str, status_code: int, server_message: str | None):
        super().__init__(message)
        self.status_code = status_code
        self.details = [(b"x-arrow-status-message-bin", server_message.encode())] if server_message else []


def test_client_restores_class_code_and_position():
    original = errors.RaiseSyntaxError("unexpected token", line=2, column=7, excerpt="  SELEC 1\n  ^")
    received = error_from_flight(_AdbcLikeError("INVALID_ARGUMENT: [FlightSQL] ...", 5, str(original)))
    assert type(received) is errors.RaiseSyntaxError
    assert (received.code, received.message, received.line, received.column, received.excerpt) == (
        "RAISE-S001", "unexpected token", 2, 7, "  SELEC 1\n  ^")


def test_client_keeps_subclass_codes_and_falls_back_on_status():
    received = error_from_flight(_AdbcLikeError("x", 5, "[RAISE-A001] organization 'acme' already exists"))
    assert type(received) is errors.AlreadyExists
    custom = error_from_flight(_AdbcLikeError("x", 3, "[RAISE-N003] no feature group 'x'"))
    assert type(custom) is errors.NotFound and custom.code == "RAISE-N003"
    plain = error_from_flight(_AdbcLikeError("UNAUTHENTICATED: [FlightSQL] no token", 13, None))
    assert type(plain) is errors.Unauthenticated


def test_client_restores_the_exact_class_of_a_code_its_family_shares():
    """A TypeMismatch raised with code V026 (its class's code is V020) arrives as TypeMismatch,
    not as the ValidationError its status stands for; a foreign class name is not trusted."""
    original = errors.TypeMismatch("column 'v' has 3-dim vectors; embedding(4) needs 4", code="RAISE-V026",
                                   name="v")
    sent = to_flight_error(original)
    received = error_from_flight(_AdbcLikeError("INVALID_ARGUMENT: [FlightSQL] ...", 5, str(sent)))
    assert type(received) is errors.TypeMismatch
    assert (received.code, received.name, received.message) == ("RAISE-V026", "v", original.message)
    ended = OSError(f"[FlightSQL] {sent}. Detail: Python exception: TypeMismatch: {sent} "
                    "(InvalidArgument; DoGet: endpoint 0: [])")
    assert type(error_from_flight(ended)) is errors.TypeMismatch
    forged = error_from_flight(_AdbcLikeError("x", 5, "[RAISE-V026] odd\n[raise-class: NotFound]"))
    assert type(forged) is errors.ValidationError and forged.message == "odd"


def test_client_reads_errors_that_end_a_result_stream():
    server_text = '[RAISE-N004] data files this query reads are gone\n[raise-name: "g"]'
    ended = OSError(f"[FlightSQL] {server_text}. Detail: Python exception: flight_server.errors.NotFoundStatus: "
                    f"{server_text} (NotFound; DoGet: endpoint 0: [])")
    received = error_from_flight(ended)
    assert type(received) is errors.NotFound
    assert (received.code, received.message, received.name) == (
        "RAISE-N004", "data files this query reads are gone", "g")
    denied = error_from_flight(OSError("[FlightSQL] [RAISE-P001] may not read x. Detail: Unauthorized "
                                       "(PermissionDenied; DoGet: endpoint 0: [])"))
    assert type(denied) is errors.PermissionDenied and denied.message == "may not read x"
    too_big = error_from_flight(OSError("[FlightSQL] grpc: received message larger than max (30107353 vs. "
                                        "16777216) (ResourceExhausted; DoGet: endpoint 0: [])"))
    assert type(too_big) is errors.ExecutionError and too_big.message.startswith("grpc: received message")
    odd = error_from_flight(OSError("[FlightSQL] [RAISE-V001] has. Detail: inside. Detail: Python exception: "
                                    "x.InvalidArgument: [RAISE-V001] has. Detail: inside (InvalidArgument; "
                                    "DoGet: endpoint 0: [])"))
    assert type(odd) is errors.ValidationError and odd.message == "has. Detail: inside"


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.1.2.3", True),
    ("0.0.0.0", False), ("10.0.0.5", False), ("example.com", False),
])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_no_auth_refuses_non_loopback_addresses():
    with pytest.raises(errors.ValidationError, match="only binds to loopback"):
        ServerConfig(host="0.0.0.0", require_auth=False)
    assert ServerConfig(host="::1", require_auth=False, port=9).location() == "grpc://[::1]:9"
    with pytest.raises(errors.ValidationError, match="both a certificate and its key"):
        ServerConfig(tls_cert="cert.pem")
