"""No single request crashes the engine or the server, or leaves a feature group unreadable.

Each defect of the hardening audit has its case here: statement shape limits, statement
deadlines, dtype limits, user mistakes reported as Raise errors with codes and positions,
input that used to be accepted silently, and the one name rule. The Flight cases run against a
real ``raise serve`` and check that what reaches the client is a Raise error, never a
traceback or another Python exception class, and that the server still answers afterwards.
"""
from __future__ import annotations

import builtins
import datetime as dt
import re
import resource
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2

from flight_server import flight_sql_pb2 as pb
from flight_server.protocol import pack
from grammar import limits as shape
from grammar.dtypes import parse_dtype, MAX_ARRAY_LENGTH, MAX_EMBEDDING_DIM, MAX_STRING_LENGTH, MAX_STRUCT_DEPTH
from grammar.errors import (
    InvalidDType, LimitExceeded, RaiseError, StatementTimeout, TypeMismatch, ValidationError,
)
from raise_.engine import Engine, limits
from raise_.engine.names import MAX_NAME_CHARS

pytest_plugins = ["conftest_flight"]

SLOW = "SELECT sum(value * 2) AS total FROM range(20000000000)"
RAISE_CLASSES = {"RaiseError", "RaiseSyntaxError", "ValidationError", "InvalidDType", "TypeMismatch",
                 "NotFound", "AlreadyExists", "PermissionDenied", "Unauthenticated", "ExecutionError",
                 "Unsupported", "LimitExceeded", "StatementTimeout", "ProtocolError", "UnknownCommand",
                 "UnknownHandle", "RequestTooLarge", "AccessDenied"}
#: Python exception classes (builtins, pyarrow's, the server's status carriers) no client may see.
PYTHON_CLASSES = ({n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
                  | {n for n, v in vars(pa.lib).items() if isinstance(v, type) and issubclass(v, BaseException)}
                  | {"InvalidArgument", "NotFoundStatus", "Unimplemented", "VisitError", "ParseError"})

@pytest.fixture
def store(tmp_path):
    engine = Engine(tmp_path / "store", statement_timeout=60)
    root = engine.session()
    root.execute('CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec;'
                 'CREATE FEATURE GROUP users KEY (user_id INT64) TIMESTAMP event_time;'
                 'CREATE FEATURE users.clicks INT64; CREATE FEATURE users.seen TIMESTAMP')
    root.execute("INSERT INTO users (user_id, clicks) VALUES (1, 10), (2, 20)")
    return root


def _rows(session) -> list[tuple]:
    return [tuple(r.values()) for r in session.execute("SELECT user_id, clicks FROM users ORDER BY user_id").to_pylist()]


# -- 1. statement shape, stack and deadline --------------------------------------------------

@pytest.mark.parametrize("sql, limit", [
    ("SELECT 1" + "+1" * 20_000, "depth"),
    ("SELECT user_id FROM users WHERE user_id" + " + 1" * 20_000 + " > 0", "depth"),
    ("SELECT user_id FROM users WHERE " + " AND ".join(["user_id >= 0"] * 50_000), "depth"),
    ("SELECT " + "(" * 3000 + "1" + ")" * 3000, "nesting"),
    ("SELECT user_id FROM users WHERE user_id IN (" + ", ".join(["1"] * 60_000) + ")", "nodes"),
])
def test_statements_past_a_limit_are_refused_before_planning(store, sql, limit):
    with pytest.raises(LimitExceeded) as refused:
        store.execute(sql)
    # V090 comes only from the token scan that runs before parsing and planning (no timing is
    # asserted: the suite never checks speed).
    assert refused.value.code == "RAISE-V090" and refused.value.name == limit
    assert f"{limit} limit of" in refused.value.message and refused.value.line == 1 and refused.value.column > 1
    assert _rows(store) == [(1, 10), (2, 20)]


def test_statements_at_the_limits_run(store):
    chain = "SELECT 1" + " + 1" * (shape.MAX_DEPTH - 1) + " AS n"
    assert store.execute(chain).to_pylist() == [{"n": shape.MAX_DEPTH}]
    nested = "SELECT " + "abs(" * shape.MAX_NESTING + "-7" + ")" * shape.MAX_NESTING + " AS n"
    assert store.execute(nested).to_pylist() == [{"n": 7}]
    conjuncts = " AND ".join(["user_id >= 0"] * 200)
    assert store.execute(f"SELECT count(*) AS n FROM users WHERE {conjuncts}").to_pylist() == [{"n": 2}]


def test_the_depth_follows_operator_precedence():
    assert shape.check("SELECT a + b * c - d FROM t").depth == 2
    assert shape.check("SELECT x FROM t WHERE a = 1 AND b = 2 AND c = 3").depth == 3
    assert shape.check("SELECT f(a, b + 1), g((c)) FROM t").nesting == 2


@pytest.mark.parametrize("expression, limit", [
    ("clicks" + " + 1" * 1000, "depth"),
    ("(" * 3000 + "clicks" + ")" * 3000, "nesting"),
])
def test_derived_expressions_past_a_limit_are_refused(store, expression, limit):
    with pytest.raises(LimitExceeded) as refused:
        store.execute(f"CREATE FEATURE users.deep INT64 DERIVED AS {expression}")
    assert refused.value.name == limit and refused.value.line == 1
    assert "deep" not in store.execute("SELECT * FROM users").column_names


def test_derived_features_at_the_limits_compute(store):
    depth = "abs(" * 20 + "clicks" + " + 1" * 200 + ")" * 20
    store.execute(f"CREATE FEATURE users.deep INT64 DERIVED AS {depth}")
    assert store.execute("SELECT deep FROM users ORDER BY user_id").column("deep").to_pylist() == [210, 220]


def test_inlined_derived_features_past_the_limits_leave_the_group_readable(store):
    step = " + 1" * 200
    store.execute(f"CREATE FEATURE users.d1 INT64 DERIVED AS clicks{step}")
    store.execute(f"CREATE FEATURE users.d2 INT64 DERIVED AS d1{step}")
    assert _rows(store) == [(1, 10), (2, 20)]
    assert store.execute("SELECT d1 FROM users ORDER BY user_id").column("d1").to_pylist() == [210, 220]
    with pytest.raises(LimitExceeded, match="'d2' with the features it names inlined"):
        store.execute("SELECT d2 FROM users")


def test_planning_runs_on_its_own_large_stack_and_returns_errors():
    seen = {}

    def plan(value):
        seen["thread"] = threading.current_thread().name
        if value < 0:
            raise ValidationError("negative", code="RAISE-V001")
        return value * 2

    assert limits.planned(plan, 21, deadline=limits.Deadline(None)) == 42
    assert seen["thread"] == "raise-planner" and threading.stack_size() == 0
    with pytest.raises(ValidationError, match="negative"):
        limits.planned(plan, -1, deadline=limits.Deadline(None))


def test_a_query_past_its_deadline_is_cancelled_and_stops_computing(tmp_path):
    session = Engine(tmp_path / "s", statement_timeout=60).session()
    assert session.execute("SET statement_timeout = '1s'").to_pylist() == [{"statement_timeout": "1s"}]
    started = time.monotonic()
    with pytest.raises(StatementTimeout) as cancelled:
        session.execute(SLOW)
    assert cancelled.value.code == "RAISE-X020" and time.monotonic() - started < 1 + limits.CANCEL_GRACE_S
    before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    time.sleep(1.5)  # a query left running would keep a core busy here
    assert resource.getrusage(resource.RUSAGE_SELF).ru_utime - before < 0.5
    assert session.execute("SELECT 40 + 2 AS answer").to_pylist() == [{"answer": 42}]


def test_a_streamed_query_is_cancelled_between_batches(tmp_path):
    session = Engine(tmp_path / "s", statement_timeout=1).session()
    stream = session.stream("SELECT value FROM range(20000000000) WHERE value % 7 = 3")
    with pytest.raises(StatementTimeout):
        for _ in stream.batches:
            pass


def test_statement_timeout_settings(tmp_path):
    session = Engine(tmp_path / "s", statement_timeout=30).session()
    assert session.execute("SHOW statement_timeout").to_pylist() == [{"statement_timeout": "30s"}]
    assert session.execute("SET statement_timeout TO 2500").to_pylist() == [{"statement_timeout": "2.5s"}]
    assert session.execute("SET statement_timeout = '250ms'").to_pylist() == [{"statement_timeout": "250ms"}]
    # the server's limit is a ceiling a session cannot raise
    assert session.execute("SET statement_timeout = '5min'").to_pylist() == [{"statement_timeout": "30s"}]
    assert session.execute("RESET statement_timeout").to_pylist() == [{"statement_timeout": "30s"}]
    with pytest.raises(ValidationError) as invalid:
        session.execute("SET statement_timeout = 'soon'")
    assert invalid.value.code == "RAISE-V093"
    unlimited = Engine(tmp_path / "u").session()
    assert unlimited.execute("SET statement_timeout = 0").to_pylist() == [{"statement_timeout": "0"}]


# -- 2. dtype limits -------------------------------------------------------------------------

BOUNDARY_DTYPES = {
    "embedding": f"FLOAT32[{MAX_EMBEDDING_DIM}]",
    "array cap": f"INT64[:{MAX_ARRAY_LENGTH}]",
    "string bound": f"STRING[{MAX_STRING_LENGTH}]",
    "struct depth": "STRUCT<a: " * MAX_STRUCT_DEPTH + "INT64" + ">" * MAX_STRUCT_DEPTH,
    "struct fields": "STRUCT<" + ", ".join(f"f{i}: INT8" for i in range(256)) + ">",
}


@pytest.mark.parametrize("dtype", BOUNDARY_DTYPES.values(), ids=BOUNDARY_DTYPES.keys())
def test_each_boundary_dtype_is_accepted_and_its_group_stays_readable(store, dtype):
    store.execute(f"CREATE FEATURE users.edge {dtype}")
    result = store.execute("SELECT * FROM users ORDER BY user_id")
    assert result.column("user_id").to_pylist() == [1, 2] and result.column("edge").null_count == 2
    assert _rows(store) == [(1, 10), (2, 20)]


def test_a_full_size_embedding_is_written_and_read_back(store):
    store.execute(f"CREATE FEATURE users.big FLOAT32[{MAX_EMBEDDING_DIM}]")
    vector = [float(i % 7) for i in range(MAX_EMBEDDING_DIM)]
    store.ingest("users", pa.table({"user_id": [3], "big": pa.array([vector], pa.list_(pa.float32()))}))
    [row] = store.execute("SELECT big FROM users WHERE user_id = 3").to_pylist()
    assert row["big"] == vector


@pytest.mark.parametrize("dtype, limit", [
    ("FLOAT32[2147483648]", "embedding dimensions are at most 65,536"),
    (f"FLOAT32[{MAX_EMBEDDING_DIM + 1}]", "embedding dimensions are at most 65,536"),
    (f"INT64[:{MAX_ARRAY_LENGTH + 1}]", "array length caps are at most 1,048,576"),
    ("STRING[99999999999999999999]", "string bounds are at most 16,777,216"),
    ("STRUCT<" + ", ".join(f"f{i}: INT8" for i in range(257)) + ">", "at most 256 fields"),
])
def test_dtypes_past_a_limit_are_refused_at_create(store, dtype, limit):
    with pytest.raises(InvalidDType, match=re.escape(limit)):
        store.execute(f"CREATE FEATURE users.e0 {dtype}")
    assert store.execute("SELECT * FROM users").num_rows == 2


def test_struct_nesting_is_bounded_as_sql_spells_it(store):
    too_deep = "struct<a: " * (MAX_STRUCT_DEPTH + 1) + "int64" + ">" * (MAX_STRUCT_DEPTH + 1)
    with pytest.raises(InvalidDType, match="structs nest at most 3 deep"):
        parse_dtype(too_deep)
    with pytest.raises(RaiseError):
        store.execute(f"CREATE FEATURE users.e0 {too_deep}")


def test_stored_metadata_past_a_limit_never_makes_its_group_unreadable(store):
    engine = store.engine
    store.execute("CREATE FEATURE users.e0 FLOAT32[4]")
    key = "acme/ml/rec/users/e0@v1"
    record = engine.catalog.get("feature", key)
    with engine.catalog.transaction():  # as a store written before the limits would hold it
        engine.catalog.put("feature", key, {**record, "dtype": "float32[2147483648]"}, parent="acme/ml/rec/users")
    session = Engine(engine.home).session(project="acme/ml/rec")
    assert _rows(session) == [(1, 10), (2, 20)]
    assert "e0" not in session.execute("SELECT * FROM users").column_names
    with pytest.raises(InvalidDType, match="feature 'e0' cannot be computed"):
        session.execute("SELECT e0 FROM users")
    assert session.ingest("users", pa.table({"user_id": [3], "clicks": [30]})) == 1


# -- 3. user mistakes are Raise errors with a code and a position ---------------------------

def test_negative_limit(store):
    with pytest.raises(ValidationError) as refused:
        store.execute("SELECT user_id FROM users LIMIT -1")
    assert (refused.value.code, refused.value.name, refused.value.column) == ("RAISE-V094", "LIMIT", 27)


@pytest.mark.parametrize("value", ["x", b"x", [1], {"a": 1}, dt.datetime(2026, 1, 1), True],
                         ids=["string", "bytes", "list", "dict", "datetime", "bool"])
def test_parameters_of_the_wrong_type(store, value):
    sql = "SELECT user_id FROM users WHERE user_id = $1"
    with pytest.raises(TypeMismatch) as refused:
        store.execute(sql, [value])
    assert refused.value.code == "RAISE-V028" and refused.value.name == "$1"
    assert (refused.value.line, refused.value.column) == (1, sql.index("$1") + 1)


@pytest.mark.parametrize("value, problem", [(1 << 70, "outside INT64"), (object(), "is not a SQL value"),
                                            ([1, {2}], "is not a SQL value")])
def test_parameters_no_sql_type_holds(store, value, problem):
    with pytest.raises(TypeMismatch, match=problem) as refused:
        store.execute("SELECT $1 AS v", [value])
    assert refused.value.code == "RAISE-V092"


def test_list_struct_and_binary_parameters_carry_their_sql_types(store):
    result = store.execute("SELECT $1 AS l, $2 AS s, $3 AS b", [[1, 2], {"a": 1}, b"\x00\x01"])
    assert result.to_pylist() == [{"l": [1, 2], "s": {"a": 1}, "b": b"\x00\x01"}]
    assert result.schema.types == [pa.list_(pa.int64()), pa.struct([("a", pa.int64())]), pa.binary()]


def test_path_names_are_refused_before_authorization(store):
    with pytest.raises(ValidationError) as refused:
        store.execute('CREATE FEATURE GROUP "../../etc" KEY (id INT64)')
    assert refused.value.code == "RAISE-V002" and refused.value.name == "../../etc"


# -- 4. input that used to be accepted silently ---------------------------------------------

@pytest.mark.parametrize("sql, params", [
    ("SELECT user_id FROM users WHERE user_id = $1", [1, 2]),
    ("INSERT INTO users (user_id, clicks) VALUES ($1, $2)", [3, 30, 300]),
    ("SELECT user_id FROM users WHERE user_id = $1 OR user_id = $2", [1]),
    ("SELECT 1 AS one", [1]),
])
def test_the_bound_parameters_must_match_the_placeholders(store, sql, params):
    with pytest.raises(ValidationError) as refused:
        store.execute(sql, params)
    assert refused.value.code == "RAISE-V091"
    assert _rows(store) == [(1, 10), (2, 20)]


@pytest.mark.parametrize("column, value", [("event_time", 12345), ("clicks", True), ("seen", 1.5)])
def test_values_convert_only_where_sql_does_implicitly(store, column, value):
    with pytest.raises(TypeMismatch, match="without a CAST") as refused:
        store.execute(f"INSERT INTO users (user_id, {column}) VALUES ($1, $2)", [3, value])
    assert refused.value.name == column
    with pytest.raises(TypeMismatch, match="without a CAST"):
        store.ingest("users", pa.table({"user_id": [3], column: [value]}))
    assert _rows(store) == [(1, 10), (2, 20)]


def test_queries_compare_parameters_only_where_sql_does(store):
    for sql, value in [("SELECT user_id FROM users WHERE event_time > $1", 12345),
                       ("SELECT user_id FROM users WHERE clicks = $1", True)]:
        with pytest.raises(TypeMismatch) as refused:
            store.execute(sql, [value])
        assert (refused.value.code, refused.value.name) == ("RAISE-V028", "$1")
    assert store.execute("SELECT user_id FROM users WHERE clicks = $1", [10.0]).to_pylist() == [{"user_id": 1}]


def test_the_implicit_conversions_sql_makes_still_apply(store):
    store.execute("INSERT INTO users (user_id, clicks, event_time, seen) VALUES ($1, $2, $3, $4)",
                  [3, "30", "2026-01-02 03:04:05", dt.date(2026, 1, 2)])
    [row] = store.execute("SELECT clicks, event_time, seen FROM users WHERE user_id = 3").to_pylist()
    assert row == {"clicks": 30, "event_time": dt.datetime(2026, 1, 2, 3, 4, 5), "seen": dt.datetime(2026, 1, 2)}


# -- 5. names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    'CREATE ORGANIZATION "../o"',
    'CREATE DOMAIN acme/"a/b"',
    'CREATE PROJECT acme/ml/"x..y"',
    'CREATE FEATURE GROUP "a\\b" KEY (id INT64)',
    'CREATE FEATURE GROUP g KEY ("../k" INT64)',
    'CREATE FEATURE GROUP g KEY (id INT64) TIMESTAMP ".."',
    'CREATE FEATURE users."../f" INT64',
    'CREATE FEATURE users."a b" INT64',
    "CREATE MODEL \"../m\" FROM 'file:///m.onnx' FRAMEWORK onnx",
    'USE acme/".."/rec',
    'GRANT READ ON FEATURE GROUP users TO ORGANIZATION "../evil"',
    'SET ACL ON FEATURE GROUP "../users" READERS (\'bob@acme.com\')',
    "CREATE PRINCIPAL GROUP '../ml@acme.com'",
    'SELECT * FROM "../users" VERSION AS OF 1',
    f'CREATE FEATURE users.{"f" * (MAX_NAME_CHARS + 1)} INT64',
])
def test_every_entry_point_applies_the_name_rule(store, sql):
    before = store.execute("SHOW FEATURES IN users").num_rows
    with pytest.raises(ValidationError) as refused:
        store.execute(sql)
    assert refused.value.code == "RAISE-V002"
    assert store.execute("SHOW FEATURES IN users").num_rows == before
    assert store.execute("SHOW ORGANIZATIONS").column("name").to_pylist() == ["acme"]


def test_ingest_targets_apply_the_name_rule(store):
    with pytest.raises(ValidationError) as refused:
        store.ingest("acme/../rec/users", pa.table({"user_id": [3]}))
    assert refused.value.code == "RAISE-V002"


def test_names_within_the_rule_are_accepted(store):
    store.execute(f'CREATE FEATURE users."{"f" * MAX_NAME_CHARS}" INT64; CREATE FEATURE users."v1.2-beta_x" INT64')
    assert {"f" * MAX_NAME_CHARS, "v1.2-beta_x"} <= set(store.execute("SELECT * FROM users").column_names)


# -- over Flight: the server survives and clients see only Raise errors ---------------------

FLIGHT_CASES = {
    "operator chain": "SELECT 1" + "+1" * 20_000,
    "conjuncts": "SELECT 1 WHERE " + " AND ".join(["1 >= 0"] * 50_000),
    "nesting": "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    "negative limit": "SELECT 1 LIMIT -1",
    "path name": 'CREATE FEATURE GROUP "../../etc" KEY (id INT64)',
    "derived chain": "CREATE FEATURE g.d INT64 DERIVED AS x" + " + 1" * 1000,
    "huge dimension": "CREATE FEATURE g.e0 FLOAT32[2147483648]",
    "timeout": SLOW,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory, start_flight_server):
    home = tmp_path_factory.mktemp("hardened")
    server = start_flight_server(home, "--insecure-no-auth", "--statement-timeout", "2s")
    client = flight.connect(server.url)
    _run(client, "CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec;"
                 "CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x INT64")
    _run(client, "INSERT INTO g (id, x) VALUES (1, 10), (2, 20)")
    yield server, client
    client.close()


def _run(client, sql: str) -> pa.Table:
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))))
    return client.do_get(info.endpoints[0].ticket).read_all()


def assert_raise_error_only(error: Exception, code: str | None = None) -> None:
    """A status from the server: a Raise code (not the internal E000), no traceback, and no
    Python exception class but Raise's (the client library's own "Client context" is not
    the server's answer)."""
    text = str(error).split(". Client context: ")[0]
    found = re.search(r"\[(RAISE-[A-Z]\d+)\]", text)
    assert found and found.group(1) != "RAISE-E000" and (code is None or found.group(1) == code), text
    assert "Traceback" not in text, text
    named = set(re.findall(r"\b([A-Z]\w+)\b", text)) & PYTHON_CLASSES
    assert not named, text
    detail = re.findall(r"Python exception: ([\w.]+)", text)
    assert all(name.rsplit(".", 1)[-1] in RAISE_CLASSES for name in detail), text


def _holds_its_data(client) -> None:
    assert _run(client, "SELECT 40 + 2 AS answer").to_pylist() == [{"answer": 42}]
    assert _run(client, "SELECT id, x FROM g ORDER BY id").to_pylist() == [{"id": 1, "x": 10}, {"id": 2, "x": 20}]


@pytest.mark.parametrize("sql", FLIGHT_CASES.values(), ids=FLIGHT_CASES.keys())
def test_the_server_answers_bad_statements_with_raise_errors(served, sql):
    server, client = served
    code = {"negative limit": "RAISE-V094", "path name": "RAISE-V002", "huge dimension": "RAISE-V010",
            "timeout": "RAISE-X020"}.get(next(k for k, v in FLIGHT_CASES.items() if v == sql), "RAISE-V090")
    with pytest.raises(flight.FlightError if code == "RAISE-X020" else pa.ArrowException) as failed:
        _run(client, sql)
    assert_raise_error_only(failed.value, code)
    assert server.process.poll() is None
    _holds_its_data(client)


@pytest.mark.parametrize("params, code", [
    (pa.table({"p": ["x"]}), "RAISE-V028"), (pa.table({"p": [b"x"]}), "RAISE-V028"),
    (pa.table({"p": [[1, 2]]}), "RAISE-V028"), (pa.table({"p": [{"a": 1}]}), "RAISE-V028"),
    (pa.table({"p": [dt.datetime(2026, 1, 1)]}), "RAISE-V028"), (pa.table({"p": [1], "q": [2]}), "RAISE-V091"),
])
def test_prepared_parameters_of_the_wrong_type_or_count(served, params, code):
    _, client = served
    request = pack(pb.ActionCreatePreparedStatementRequest(query="SELECT id FROM g WHERE id = ?"))
    [result] = client.do_action(flight.Action("CreatePreparedStatement", request))
    created = pb.ActionCreatePreparedStatementResult()
    any_pb2.Any.FromString(result.body.to_pybytes()).Unpack(created)
    command = pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=created.prepared_statement_handle))
    descriptor = flight.FlightDescriptor.for_command(command)
    writer, _ = client.do_put(descriptor, params.schema)
    writer.write_table(params)
    writer.close()
    with pytest.raises(pa.ArrowException) as failed:
        info = client.get_flight_info(descriptor)
        client.do_get(info.endpoints[0].ticket).read_all()
    assert_raise_error_only(failed.value, code)
    _holds_its_data(client)


def test_the_sdk_gets_the_error_classes_back(served):
    server, _ = served
    from raise_.client.flight import FlightConnection

    with FlightConnection(server.url, project="acme/ml/rec") as conn:
        with pytest.raises(StatementTimeout):
            conn.execute(SLOW)
        with pytest.raises(TypeMismatch) as wrong:
            conn.execute("INSERT INTO g (id, x) VALUES (?, ?)", [3, True])
        assert (wrong.value.code, wrong.value.name) == ("RAISE-V020", "x")
        with pytest.raises(ValidationError) as extra:
            conn.execute("SELECT id FROM g WHERE id = ?", [1, 2])
        assert extra.value.code == "RAISE-V091"
        assert conn.execute("SELECT count(*) AS n FROM g").to_pylist() == [{"n": 2}]


def test_a_writer_kept_waiting_by_another_gets_a_raise_error_and_changes_nothing(tmp_path, monkeypatch):
    import sqlite3

    from grammar.errors import ExecutionError
    from raise_.engine import catalog as catalog_module

    monkeypatch.setattr(catalog_module, "_LOCK_TIMEOUT_S", 0.2)
    engine = Engine(tmp_path / "home")
    session = engine.session()
    session.execute("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; USE acme/ml/rec")
    before = session.execute("SHOW FEATURE GROUPS").num_rows
    holder = sqlite3.connect(tmp_path / "home" / "catalog.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ExecutionError) as caught:
            session.execute('CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time')
        assert caught.value.code == "RAISE-X030"
        assert "locked by another writer" in caught.value.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert session.execute("SHOW FEATURE GROUPS").num_rows == before
    session.execute('CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time')
    assert session.execute("SHOW FEATURE GROUPS").num_rows == before + 1
