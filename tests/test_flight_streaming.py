"""Query results streamed by DoGet: planned at GetFlightInfo, computed while they are sent."""
from __future__ import annotations

import argparse
import itertools

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server import flight_sql_pb2 as pb
from flight_server.cli import parse_size
from flight_server.protocol import pack
from raise_.batches import TARGET_BATCH_BYTES, split_batch
from grammar import errors

pytest_plugins = ["conftest_flight"]

_numbers = itertools.count(1)
ROWS = 300_000


@pytest.fixture(scope="module")
def project(flight_server) -> str:
    """``wide`` (ROWS rows: ``id``, ``a``, ``b`` float64, ~7 MB) and ``words`` (2 rows)."""
    org = f"stream{next(_numbers)}"
    with flight_server.new_project(org) as conn:
        conn.execute("CREATE FEATURE GROUP wide KEY (id INT64); CREATE FEATURE wide.a FLOAT64; "
                     "CREATE FEATURE wide.b FLOAT64; "
                     "CREATE FEATURE GROUP words KEY (id INT64); CREATE FEATURE words.word STRING")
        ids = np.arange(ROWS, dtype=np.int64)
        conn.ingest("wide", pa.table({"id": ids, "a": ids * 0.5, "b": -ids.astype(np.float64)}))
        conn.ingest("words", pa.table({"id": [1, 2], "word": ["12", "twelve"]}))
    return f"{org}/ml/rec"


@pytest.fixture
def client(flight_server, project):
    """A raw Flight client logged in, its session's current project set to ``project``."""
    client = flight.connect(flight_server.url)
    headers = [client.authenticate_basic_token(flight_server.user, flight_server.password)]
    options = flight.FlightCallOptions(headers=headers)
    org, domain, name = project.split("/")
    request = pb.SetSessionOptionsRequest()
    request.session_options["catalog"].string_value = org
    request.session_options["schema"].string_value = f"{domain}/{name}"
    list(client.do_action(flight.Action("SetSessionOptions", request.SerializeToString()), options))
    yield client, options
    client.close()


def _info(client, options, sql: str) -> flight.FlightInfo:
    command = pack(pb.CommandStatementQuery(query=sql))
    return client.get_flight_info(flight.FlightDescriptor.for_command(command), options)


def test_large_results_arrive_whole_in_messages_under_the_limit(client):
    client, options = client
    info = _info(client, options, "SELECT id, a, b FROM wide")
    assert info.schema.names == ["id", "a", "b"]
    chunks = [chunk.data for chunk in client.do_get(info.endpoints[0].ticket, options)]
    assert len(chunks) > 1
    assert max(batch.nbytes for batch in chunks) <= TARGET_BATCH_BYTES
    table = pa.Table.from_batches(chunks).sort_by("id")
    assert table.num_rows == ROWS
    assert table["id"].to_pylist()[:3] == [0, 1, 2] and table["id"].to_pylist()[-1] == ROWS - 1
    assert table["a"].to_pylist()[-1] == (ROWS - 1) * 0.5
    assert sum(table["b"].to_pylist()) == -ROWS * (ROWS - 1) / 2


def test_result_is_the_data_as_of_planning(flight_server, project, client):
    client, options = client
    with flight_server.connect(project=project) as conn:
        conn.execute("CREATE FEATURE GROUP growing KEY (id INT64); CREATE FEATURE growing.v INT64")
        conn.ingest("growing", pa.table({"id": [1, 2], "v": [10, 20]}))
        info = _info(client, options, "SELECT id, v FROM growing ORDER BY id")
        assert conn.ingest("growing", pa.table({"id": [3], "v": [30]})) == 1
        assert client.do_get(info.endpoints[0].ticket, options).read_all().to_pydict() == {
            "id": [1, 2], "v": [10, 20]}
        assert conn.execute("SELECT count(*) AS n FROM growing").to_pylist() == [{"n": 3}]


def test_errors_found_while_streaming_keep_their_class_and_code(flight_server, project):
    with flight_server.connect(project=project) as conn:
        with pytest.raises(errors.ExecutionError) as info:
            conn.execute("SELECT CAST(word AS INT) AS n FROM words")
        assert info.value.code == "RAISE-X001"
        assert "Cannot cast string 'twelve'" in info.value.message
        assert "Traceback" not in str(info.value)
        assert conn.execute("SELECT count(*) AS n FROM words").to_pylist() == [{"n": 2}]


def test_errors_found_while_streaming_reach_adbc_as_invalid_argument(flight_server, project):
    import adbc_driver_manager

    org, domain, name = project.split("/")
    with flight_server.dbapi() as conn, conn.cursor() as cursor:
        conn.adbc_connection.set_options(**{"adbc.connection.catalog": org,
                                            "adbc.connection.db_schema": f"{domain}/{name}"})
        cursor.execute("SELECT id / (id - 1) AS q FROM words")
        with pytest.raises(adbc_driver_manager.Error) as info:
            cursor.fetch_arrow_table()
        assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT
        assert "RAISE-X001" in str(info.value) and "Divide by zero" in str(info.value)
        cursor.execute("SELECT word FROM words ORDER BY id")
        assert cursor.fetch_arrow_table()["word"].to_pylist() == ["12", "twelve"]


def test_split_batch_cuts_zero_copy_slices_in_order():
    batch = pa.record_batch({"x": np.arange(10_000, dtype=np.int64)})
    parts = list(split_batch(batch, target_bytes=8 * 1_000))
    assert [part.num_rows for part in parts] == [1_000] * 10
    assert pa.Table.from_batches(parts)["x"].to_pylist() == list(range(10_000))
    assert all(part.column(0).buffers()[1].address == batch.column(0).buffers()[1].address
               for part in parts)
    assert list(split_batch(batch)) == [batch]


def test_split_batch_cuts_again_where_rows_are_bigger_than_average():
    values = ["x" * 1_000] * 10 + [""] * 990
    batch = pa.record_batch({"s": pa.array(values)})
    parts = list(split_batch(batch, target_bytes=2_000))
    assert all(part.nbytes <= 2_000 or part.num_rows == 1 for part in parts)
    assert pa.Table.from_batches(parts)["s"].to_pylist() == values


@pytest.mark.parametrize("text, size", [("0", 0), ("512MiB", 512 << 20), ("8GiB", 8 << 30), ("1.5g", 3 << 29),
                                        ("2048", 2048), (" 64 kb ", 64 << 10)])
def test_cache_sizes_parse_with_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "5 parsecs", "-1GiB", "1e9"])
def test_bad_cache_sizes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        parse_size(text)


def test_a_server_without_a_cache_streams_from_the_delta_files(tmp_path, start_flight_server):
    from raise_.engine import Engine

    session = Engine(tmp_path).session()
    session.execute("CREATE ORGANIZATION o; CREATE DOMAIN o/d; CREATE PROJECT o/d/p; USE o/d/p; "
                    "CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.v FLOAT64")
    ids = np.arange(ROWS, dtype=np.int64)
    session.ingest("g", pa.table({"id": ids, "v": ids * 2.0}))
    server = start_flight_server(tmp_path, "--cache", "0", "--insecure-no-auth")
    client = flight.connect(server.url)
    request = pb.SetSessionOptionsRequest()
    request.session_options["catalog"].string_value = "o"
    request.session_options["schema"].string_value = "d/p"
    list(client.do_action(flight.Action("SetSessionOptions", request.SerializeToString())))
    info = _info(client, flight.FlightCallOptions(), "SELECT id, v FROM g WHERE id % 1000 = 0")
    table = client.do_get(info.endpoints[0].ticket).read_all().sort_by("id")
    assert table["id"].to_pylist() == list(range(0, ROWS, 1000))
    assert table["v"].to_pylist() == [2.0 * i for i in range(0, ROWS, 1000)]
    info = _info(client, flight.FlightCallOptions(), "SELECT id, v FROM g")
    session.execute("DROP FEATURE GROUP g CASCADE")
    with pytest.raises(pa.ArrowKeyError) as gone:  # NOT_FOUND
        client.do_get(info.endpoints[0].ticket).read_all()
    assert "RAISE-N004" in str(gone.value) and str(tmp_path) not in str(gone.value)
    client.close()
    assert server.stop() == 0


def test_rows_much_larger_than_average_still_go_out_in_small_messages(flight_server, project, client):
    raw, options = client
    with flight_server.connect(project=project) as conn:
        conn.execute("CREATE FEATURE GROUP docs KEY (id INT64); CREATE FEATURE docs.body STRING")
        rows = 65_536
        bodies = ["x" * 100_000] * 300 + [""] * (rows - 300)  # 30 MB in the first 300 rows
        conn.ingest("docs", pa.table({"id": np.arange(rows, dtype=np.int64), "body": bodies}))
        result = conn.execute("SELECT id, length(body) AS n FROM docs WHERE length(body) > 0")
        assert result.num_rows == 300
        whole = conn.execute("SELECT id, body FROM docs")
        assert whole.num_rows == rows and sum(len(b) for b in whole["body"].to_pylist()) == 30_000_000
    info = _info(raw, options, "SELECT id, body FROM docs")
    sizes = [chunk.data.nbytes for chunk in raw.do_get(info.endpoints[0].ticket, options)]
    assert sum(sizes) >= 30_000_000 and max(sizes) <= TARGET_BATCH_BYTES
