"""Generated hostile requests against a real ``raise serve``: the SQL grammar and Flight messages.

Hypothesis builds statements from the grammar's forms (queries, INSERTs, DDL with generated
names, dtypes and derived expressions, parameters of every kind, operator chains of any
length, random edits of all of these) and Flight SQL messages of every type the server
decodes, with generated field values. Every answer must be a result or a Raise error (never an
internal error, a traceback or a Python class name), and after the run the server still
answers and still holds the rows it was seeded with. Bounded: a few hundred cases.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings, strategies as st

from flight_server import flight_sql_pb2 as pb
from flight_server.protocol import COMMANDS, pack
from test_hardening import assert_raise_error_only

pytestmark = pytest.mark.slow
pytest_plugins = ["conftest_flight"]

CASES = {"sql": 0, "flight": 0}
SEED = [{"id": 1, "x": 10}, {"id": 2, "x": 20}]

names = st.one_of(
    st.sampled_from(["id", "x", "g", "scratch", "nope", "../../etc", "a/b", "a..b", "__raise_x", "x@v1", ""]),
    st.text(alphabet="abcXYZ09_-./@\\\"' ;\n", min_size=1, max_size=12),
)
literals = st.one_of(
    st.integers(-(1 << 70), 1 << 70).map(str), st.floats(allow_nan=False).map(repr),
    st.text(max_size=8).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.sampled_from(["NULL", "TRUE", "FALSE", "$1", "$2", "?", "DATE '2026-01-01'", "[1.0, 2.0]"]),
)
columns = st.sampled_from(["id", "x", '"x"', '"nope"', "g.x", "scratch.x"])
expressions = st.recursive(
    st.one_of(literals, columns),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%", "=", "<", ">=", "AND", "OR", "||"]), inner)
        .map(" ".join),
        inner.map(lambda e: f"({e})"), inner.map(lambda e: f"NOT {e}"),
        st.tuples(st.sampled_from(["abs", "coalesce", "upper", "cosine_similarity", "sqrt", "nullif"]),
                  st.lists(inner, min_size=1, max_size=3)).map(lambda f: f"{f[0]}({', '.join(f[1])})"),
        st.tuples(inner, st.sampled_from(["INT", "BIGINT", "DOUBLE", "VARCHAR", "TIMESTAMP"]))
        .map(lambda c: f"CAST({c[0]} AS {c[1]})"),
    ),
    max_leaves=20,
)
chains = st.tuples(st.integers(1, 30_000), st.sampled_from(["+1", " AND x > 0", "*1"]))
dtypes = st.one_of(
    st.sampled_from(["INT64", "FLOAT64", "BOOL", "STRING", "TIMESTAMP", "BYTES", "blob_ref", "struct<a: int64>"]),
    st.tuples(st.sampled_from(["FLOAT32[{}]", "INT64[:{}]", "STRING[{}]", "FLOAT16[{}]"]),
              st.integers(0, 1 << 40)).map(lambda t: t[0].format(t[1])),
    st.text(alphabet="abfilnorstu<>[]:,0123456789 ", max_size=20),
)
statements = st.one_of(
    st.tuples(expressions, expressions, st.integers(-5, 5))
    .map(lambda t: f"SELECT {t[0]} AS a FROM g WHERE {t[1]} LIMIT {t[2]}"),
    chains.map(lambda c: "SELECT 1" + c[1] * c[0]),
    chains.map(lambda c: f"SELECT id FROM g WHERE x{c[1] * c[0]}"),
    st.integers(1, 5000).map(lambda n: "SELECT " + "(" * n + "1" + ")" * n),
    st.tuples(expressions, expressions).map(lambda t: f"INSERT INTO scratch (id, x) VALUES ({t[0]}, {t[1]})"),
    st.tuples(names, dtypes, st.one_of(st.none(), expressions))
    .map(lambda t: f'CREATE FEATURE scratch."{t[0]}" {t[1]}' + (f" DERIVED AS {t[2]}" if t[2] else "")),
    st.tuples(names, names).map(lambda t: f'CREATE FEATURE GROUP "{t[0]}" KEY ("{t[1]}" INT64)'),
    st.tuples(names, names, names).map(lambda t: f'USE "{t[0]}"/"{t[1]}"/"{t[2]}"'),
    st.tuples(names, st.integers(-3, 3)).map(lambda t: f'SELECT * FROM "{t[0]}" VERSION AS OF {t[1]}'),
    st.sampled_from(["SET statement_timeout = '1ms'", "SET statement_timeout = 'x'", "SHOW statement_timeout",
                     "SELECT sum(value) FROM range(100000000000)", "BEGIN", "COMMIT", ";;", ""]),
)


@st.composite
def mutated(draw, base):
    """``base`` with a few characters inserted, deleted or swapped."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", "(", ")", "'", '"', ";", "--", "$1", "?", "\x00", "é"])) \
            + text[at + draw(st.integers(0, 2)):]
    return text


parameter_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 63) - 1), st.floats(allow_nan=False),
    st.text(max_size=10), st.binary(max_size=10), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
    st.lists(st.integers(-100, 100), max_size=3), st.fixed_dictionaries({"a": st.integers(0, 9)}),
)


def _send_sql(client, sql: str, params: list | None) -> None:
    if params is None:
        command = pack(pb.CommandStatementQuery(query=sql))
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
        client.do_get(info.endpoints[0].ticket).read_all()
        return
    request = pack(pb.ActionCreatePreparedStatementRequest(query=sql))
    [result] = client.do_action(flight.Action("CreatePreparedStatement", request))
    created = pb.ActionCreatePreparedStatementResult()
    any_pb2.Any.FromString(result.body.to_pybytes()).Unpack(created)
    handle = created.prepared_statement_handle
    descriptor = flight.FlightDescriptor.for_command(pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle)))
    if params:
        table = pa.table({f"p{i}": pa.array([v]) for i, v in enumerate(params)})
        writer, _ = client.do_put(descriptor, table.schema)
        writer.write_table(table)
        writer.close()
    info = client.get_flight_info(descriptor)
    client.do_get(info.endpoints[0].ticket).read_all()


def _answered(call) -> None:
    """Run one request: a result, or an error that is a Raise error and nothing else."""
    try:
        call()
    except (pa.ArrowException, flight.FlightError) as error:
        if isinstance(error, flight.FlightUnavailableError):
            raise AssertionError(f"the server went away: {error}") from None
        assert_raise_error_only(error)


@pytest.fixture(scope="module")
def target(tmp_path_factory, start_flight_server):
    home = tmp_path_factory.mktemp("fuzzed")
    server = start_flight_server(home, "--insecure-no-auth", "--statement-timeout", "2s")
    client = flight.connect(server.url)
    _send_sql(client, "CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec;"
                      "CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x INT64;"
                      "CREATE FEATURE GROUP scratch KEY (id INT64); CREATE FEATURE scratch.x INT64", None)
    _send_sql(client, "INSERT INTO g (id, x) VALUES (1, 10), (2, 20)", None)
    yield server, client
    _send_sql(client, "USE acme/ml/rec; RESET statement_timeout", None)
    command = pack(pb.CommandStatementQuery(query="SELECT id, x FROM g ORDER BY id"))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == SEED
    assert server.process.poll() is None
    client.close()
    print(f"\nhardening fuzz: {CASES['sql']} SQL cases, {CASES['flight']} Flight message cases")


FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@FUZZ
@given(sql=st.one_of(statements, mutated(statements)),
       params=st.one_of(st.none(), st.lists(parameter_values, max_size=3)))
def test_generated_sql_gets_results_or_raise_errors(target, sql, params):
    _, client = target
    CASES["sql"] += 1
    _answered(lambda: _send_sql(client, "USE acme/ml/rec; RESET statement_timeout", None))
    _answered(lambda: _send_sql(client, sql, params))


def _field_values(field):
    if field.is_repeated:
        return st.just(None)
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.one_of(st.text(max_size=12), st.sampled_from(["../../etc", "acme", "ml/rec", "scratch", "%", "SELECT 1"]))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=24)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_ENUM,
                      FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64):
        return st.integers(0, 3)
    return st.just(None)


@st.composite
def flight_messages(draw) -> bytes:
    """A serialized ``Any`` holding a Flight SQL message with generated fields, or garbage."""
    cls = draw(st.sampled_from(sorted(COMMANDS.values(), key=lambda c: c.DESCRIPTOR.name)))
    message = cls()
    for field in cls.DESCRIPTOR.fields:
        value = draw(_field_values(field))
        if value is not None and draw(st.booleans()):
            try:
                setattr(message, field.name, value)
            except (TypeError, ValueError):
                pass
    data = pack(message)
    if draw(st.integers(0, 4)) == 0:  # a corrupted copy, or a made-up type
        data = draw(st.one_of(st.binary(max_size=64),
                              st.text(max_size=20).map(lambda t: pack(pb.CommandGetCatalogs()).replace(
                                  b"CommandGetCatalogs", t.encode()[:18].ljust(18, b"x")))))
    return data


@FUZZ
@given(data=flight_messages(), rpc=st.sampled_from(["info", "schema", "ticket", "action", "put"]),
       action=st.sampled_from(["CreatePreparedStatement", "ClosePreparedStatement", "SetSessionOptions",
                               "GetSessionOptions", "CloseSession", "Nope"]))
def test_generated_flight_messages_get_results_or_raise_errors(target, data, rpc, action):
    _, client = target
    CASES["flight"] += 1
    descriptor = flight.FlightDescriptor.for_command(data)

    def call() -> None:
        if rpc == "info":
            info = client.get_flight_info(descriptor)
            client.do_get(info.endpoints[0].ticket).read_all()
        elif rpc == "schema":
            client.get_schema(descriptor)
        elif rpc == "ticket":
            client.do_get(flight.Ticket(data)).read_all()
        elif rpc == "action":
            list(client.do_action(flight.Action(action, data)))
        else:
            writer, _ = client.do_put(descriptor, pa.schema([("id", pa.int64()), ("x", pa.int64())]))
            writer.write_table(pa.table({"id": [7], "x": [70]}))
            writer.close()

    _answered(call)
