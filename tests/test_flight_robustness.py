"""Bad input gets a clear status and the server keeps serving; one log line per request."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2

from flight_server import flight_sql_pb2 as pb
from flight_server.protocol import pack

pytest_plugins = ["conftest_flight"]


@pytest.fixture
def client(flight_server):
    """A raw pyarrow Flight client, logged in, with its call options."""
    client = flight.connect(flight_server.url)
    header = client.authenticate_basic_token(flight_server.user, flight_server.password)
    yield client, flight.FlightCallOptions(headers=[header])
    client.close()


def _info(client, options, data: bytes) -> flight.FlightInfo:
    return client.get_flight_info(flight.FlightDescriptor.for_command(data), options)


def _still_serving(client, options) -> None:
    info = _info(client, options, pack(pb.CommandStatementQuery(query="SELECT 40 + 2 AS answer")))
    assert client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist() == [{"answer": 42}]


@pytest.mark.parametrize("data, error, text", [
    (b"\x08\x96\x01garbage", pa.ArrowInvalid, "RAISE-F001"),
    (any_pb2.Any(type_url="type.googleapis.com/google.protobuf.Empty").SerializeToString(),
     pa.ArrowInvalid, "expected a Flight SQL message"),
    (any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandGetCrossReference")
     .SerializeToString(), NotImplementedError, "RAISE-F002"),
    (pack(pb.CommandStatementQuery(query="SELECT 1", transaction_id=b"t1")), NotImplementedError,
     "transactions are not supported"),
    (pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=b"nope")), KeyError, "RAISE-F003"),
    (pack(pb.CommandStatementQuery(query="SELEC 1")), pa.ArrowInvalid, "RAISE-S001"),
])
def test_bad_commands_get_clear_statuses(client, data, error, text):
    conn, options = client
    with pytest.raises(error, match=text) as info:
        _info(conn, options, data)
    assert "Traceback" not in str(info.value)
    _still_serving(conn, options)


def test_oversize_requests_are_refused_by_size(client):
    conn, options = client
    with pytest.raises(pa.ArrowInvalid, match=r"\[RAISE-F004\] command of \d+ bytes exceeds"):
        _info(conn, options, pack(pb.CommandGetTables(table_name_filter_pattern="x" * (5 << 20))))
    with pytest.raises(pa.ArrowInvalid, match=r"\[RAISE-F004\] the SQL text has 1200000 characters"):
        _info(conn, options, pack(pb.CommandStatementQuery(query="x" * 1_200_000)))
    _still_serving(conn, options)


def test_path_descriptors_and_bad_tickets(client):
    conn, options = client
    with pytest.raises(pa.ArrowInvalid, match="path descriptors are not supported"):
        conn.get_flight_info(flight.FlightDescriptor.for_path("x"), options)
    with pytest.raises(pa.ArrowInvalid, match="RAISE-F001"):
        conn.do_get(flight.Ticket(b"\xff\x00not a ticket"), options).read_all()
    with pytest.raises(pa.ArrowInvalid, match="is not a ticket"):
        conn.do_get(flight.Ticket(pack(pb.CommandStatementUpdate(query="SELECT 1"))), options).read_all()
    unknown = pack(pb.TicketStatementQuery(statement_handle=b"0123456789abcdef"))
    with pytest.raises(KeyError, match="unknown or already fetched ticket"):
        conn.do_get(flight.Ticket(unknown), options).read_all()
    _still_serving(conn, options)


def test_tickets_are_single_use_and_private_to_their_connection(flight_server, client):
    conn, options = client
    info = _info(conn, options, pack(pb.CommandStatementQuery(query="SELECT 7 AS n")))
    ticket = info.endpoints[0].ticket
    other = flight.connect(flight_server.url)
    other_options = flight.FlightCallOptions(
        headers=[other.authenticate_basic_token(flight_server.user, flight_server.password)])
    with pytest.raises(KeyError, match="RAISE-F003"):
        other.do_get(ticket, other_options).read_all()
    other.close()
    assert conn.do_get(ticket, options).read_all().to_pylist() == [{"n": 7}]
    with pytest.raises(KeyError, match="already fetched"):
        conn.do_get(ticket, options).read_all()


def test_bad_actions_and_puts(client):
    conn, options = client
    with pytest.raises(NotImplementedError, match="unknown action 'DropEverything'"):
        list(conn.do_action(flight.Action("DropEverything", b""), options))
    with pytest.raises(pa.ArrowInvalid, match="RAISE-F001"):
        list(conn.do_action(flight.Action("CreatePreparedStatement", b"\xff\xff"), options))
    with pytest.raises(pa.ArrowInvalid, match="not a valid SetSessionOptionsRequest"):
        list(conn.do_action(flight.Action("SetSessionOptions", b"\xff\xff\xff"), options))
    close = pack(pb.ActionClosePreparedStatementRequest(prepared_statement_handle=b"gone"))
    with pytest.raises(KeyError, match="unknown prepared statement handle"):
        list(conn.do_action(flight.Action("ClosePreparedStatement", close), options))
    descriptor = flight.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query="SELECT 1")))
    writer, _ = conn.do_put(descriptor, pa.schema([("x", pa.int64())]), options)
    with pytest.raises(NotImplementedError, match="DoPut does not accept CommandStatementQuery"):
        writer.close()
    _still_serving(conn, options)


def test_session_options_reject_unknown_names_and_values(client):
    conn, options = client
    request = pb.SetSessionOptionsRequest()
    request.session_options["colour"].string_value = "blue"
    request.session_options["schema"].bool_value = True
    [result] = conn.do_action(flight.Action("SetSessionOptions", request.SerializeToString()), options)
    errors = pb.SetSessionOptionsResult.FromString(result.body.to_pybytes()).errors
    assert errors["colour"].value == pb.SetSessionOptionsResult.INVALID_NAME
    assert errors["schema"].value == pb.SetSessionOptionsResult.INVALID_VALUE


def test_prepared_statement_lifecycle_over_raw_flight(client):
    conn, options = client
    request = pack(pb.ActionCreatePreparedStatementRequest(query="SELECT ? * 2 AS doubled"))
    [result] = conn.do_action(flight.Action("CreatePreparedStatement", request), options)
    created = pb.ActionCreatePreparedStatementResult()
    any_pb2.Any.FromString(result.body.to_pybytes()).Unpack(created)
    assert pa.ipc.read_schema(pa.py_buffer(created.parameter_schema)).names == ["$1"]
    command = pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=created.prepared_statement_handle))
    descriptor = flight.FlightDescriptor.for_command(command)
    for value in (1, 21):
        writer, _ = conn.do_put(descriptor, pa.schema([("p", pa.int64())]), options)
        writer.write_table(pa.table({"p": [value]}))
        writer.close()
        info = conn.get_flight_info(descriptor, options)
        assert conn.do_get(info.endpoints[0].ticket, options).read_all()["doubled"].to_pylist() == [value * 2]
    close = pack(pb.ActionClosePreparedStatementRequest(prepared_statement_handle=created.prepared_statement_handle))
    assert list(conn.do_action(flight.Action("ClosePreparedStatement", close), options)) == []
    with pytest.raises(KeyError, match="RAISE-F003"):
        conn.get_flight_info(descriptor, options)


def test_one_log_line_per_request(flight_server, add_flight_user):
    add_flight_user(flight_server.home, "logan", "logan-pw")
    conn = flight.connect(flight_server.url)
    options = flight.FlightCallOptions(headers=[conn.authenticate_basic_token("logan", "logan-pw")])
    info = _info(conn, options, pack(pb.CommandGetTableTypes()))
    conn.do_get(info.endpoints[0].ticket, options).read_all()
    with pytest.raises(KeyError):
        _info(conn, options, pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=b"x")))
    conn.close()
    lines = [line for line in flight_server.log.splitlines() if "user=logan" in line]
    assert [line.split(" raise.flight ")[1].split(" user=")[0] for line in lines] == [
        "Handshake -", "GetFlightInfo CommandGetTableTypes", "DoGet CommandGetTableTypes",
        "GetFlightInfo CommandPreparedStatementQuery"]
    assert lines[-1].split("status=")[1].startswith("UnknownHandle")
