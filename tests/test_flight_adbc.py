"""The server through ADBC's Flight SQL driver (``adbc_driver_flightsql.dbapi``), as BI tools use it."""
from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server import flight_sql_pb2 as pb
from flight_server.protocol import pack
from grammar import errors

pytest_plugins = ["conftest_flight"]

_numbers = itertools.count(1)


@pytest.fixture
def project(flight_server) -> str:
    """A fresh organization/domain/project holding feature group ``user-signals`` (3 rows)."""
    org = f"org{next(_numbers)}"
    with flight_server.new_project(org) as conn:
        conn.execute('CREATE FEATURE GROUP "user-signals" KEY (user_id INT64); '
                     'CREATE FEATURE "user-signals".clicks INT64; '
                     'CREATE FEATURE "user-signals".country STRING')
        rows = pa.table({"user_id": [1, 2, 3], "clicks": [10, 20, 30], "country": ["fr", "de", "fr"]})
        assert conn.ingest("user-signals", rows) == 3
    return f"{org}/ml/rec"


@pytest.fixture
def dbapi(flight_server, project: str):
    org, domain, name = project.split("/")
    with flight_server.dbapi() as conn:
        conn.adbc_connection.set_options(**{"adbc.connection.catalog": org,
                                            "adbc.connection.db_schema": f"{domain}/{name}"})
        yield conn


def test_query_without_parameters(dbapi):
    with dbapi.cursor() as cursor:
        cursor.execute('SELECT user_id, clicks FROM "user-signals" ORDER BY user_id')
        assert cursor.fetch_arrow_table().to_pydict() == {"user_id": [1, 2, 3], "clicks": [10, 20, 30]}


def test_query_with_parameters_prepared_once_executed_repeatedly(dbapi):
    sql = 'SELECT user_id FROM "user-signals" WHERE country = ? AND clicks >= ? ORDER BY user_id'
    with dbapi.cursor() as cursor:
        cursor.execute(sql, ["fr", 0])
        assert cursor.fetchall() == [(1,), (3,)]
        cursor.execute(sql, ["fr", 15])
        assert cursor.fetchall() == [(3,)]
        cursor.execute(sql, ["de", 0])
        assert cursor.fetchall() == [(2,)]


def test_ddl_and_insert_report_affected_rows(dbapi, project):
    with dbapi.cursor() as cursor:
        cursor.execute('CREATE FEATURE "user-signals".score FLOAT64')
        assert cursor.fetch_arrow_table().to_pylist()[0]["rows_affected"] == 1
        cursor.executemany('INSERT INTO "user-signals" (user_id, clicks, country, score) VALUES (?, ?, ?, ?)',
                           [(4, 40, "es", 0.5), (5, 50, "es", 1.5)])
        assert cursor.rowcount == 2
        cursor.execute('SELECT user_id, score FROM "user-signals" WHERE country = ? ORDER BY user_id', ["es"])
        assert cursor.fetchall() == [(4, 0.5), (5, 1.5)]


def test_insert_values_by_position_with_bound_parameters(dbapi):
    with dbapi.cursor() as cursor:
        cursor.executemany('INSERT INTO "user-signals" VALUES (?, ?, ?)', [(8, 80, "pt"), (9, 90, "pt")])
        assert cursor.rowcount == 2
        cursor.execute('SELECT user_id, clicks FROM "user-signals" WHERE country = ? ORDER BY user_id', ["pt"])
        assert cursor.fetchall() == [(8, 80), (9, 90)]


def test_statement_update_counts_through_execute_update(dbapi):
    statement = adbc_driver_manager.AdbcStatement(dbapi.adbc_connection)
    try:
        statement.set_sql_query('INSERT INTO "user-signals" (user_id, clicks, country) VALUES (7, 70, \'it\')')
        assert statement.execute_update() == 1
    finally:
        statement.close()


def test_adbc_get_info(dbapi):
    info = dbapi.adbc_get_info()
    assert info["vendor_name"] == "Raise"
    assert info["vendor_arrow_version"] == pa.__version__
    assert info["vendor_version"]


@pytest.mark.parametrize("depth", ["catalogs", "db_schemas", "tables", "columns", "all"])
def test_adbc_get_objects_at_every_depth(dbapi, project, depth):
    org = project.split("/")[0]
    objects = dbapi.adbc_get_objects(depth=depth, catalog_filter=org).read_all().to_pylist()
    assert [c["catalog_name"] for c in objects] == [org]
    schemas = objects[0]["catalog_db_schemas"]
    if depth == "catalogs":
        assert schemas is None
        return
    assert [s["db_schema_name"] for s in schemas] == ["ml/rec"]
    tables = schemas[0]["db_schema_tables"]
    if depth == "db_schemas":
        assert tables is None
        return
    assert [(t["table_name"], t["table_type"]) for t in tables] == [("user-signals", "TABLE")]
    columns = tables[0]["table_columns"]
    if depth == "tables":
        assert columns is None
        return
    types = {c["column_name"]: c["xdbc_type_name"] for c in columns}
    assert columns[0]["column_name"] == "user_id"
    assert (types["user_id"], types["clicks"], types["country"]) == ("int64", "int64", "string")


def test_adbc_get_objects_filters_by_pattern(dbapi, project):
    org = project.split("/")[0]
    found = dbapi.adbc_get_objects(depth="tables", catalog_filter=org, db_schema_filter="ml/%",
                                   table_name_filter="user%").read_all().to_pylist()
    assert found[0]["catalog_db_schemas"][0]["db_schema_tables"][0]["table_name"] == "user-signals"
    none = dbapi.adbc_get_objects(depth="tables", catalog_filter=org, table_name_filter="item%").read_all()
    assert none.to_pylist()[0]["catalog_db_schemas"][0]["db_schema_tables"] == []


def test_adbc_get_table_schema_and_types(dbapi, project):
    org = project.split("/")[0]
    schema = dbapi.adbc_get_table_schema("user-signals", catalog_filter=org, db_schema_filter="ml/rec")
    assert schema.names[0] == "user_id" and {"clicks", "country"} <= set(schema.names)
    assert schema.field("clicks").type == pa.int64() and schema.field("country").type == pa.string()
    assert dbapi.adbc_get_table_types() == ["TABLE"]


def test_adbc_ingest_append_replace_and_create(dbapi):
    with dbapi.cursor() as cursor:
        more = pa.table({"user_id": [8, 9], "clicks": [80, 90], "country": ["us", "us"]})
        assert cursor.adbc_ingest("user-signals", more, mode="append") == 2
        cursor.execute('SELECT count(*) AS n FROM "user-signals"')
        assert cursor.fetchone() == (5,)
        assert cursor.adbc_ingest("user-signals", more, mode="replace") == 2
        cursor.execute('SELECT count(*) AS n FROM "user-signals"')
        assert cursor.fetchone() == (2,)
        with pytest.raises(adbc_driver_manager.Error, match="RAISE-A001"):
            cursor.adbc_ingest("user-signals", more, mode="create")
        with pytest.raises(adbc_driver_manager.Error, match="CREATE FEATURE GROUP") as info:
            cursor.adbc_ingest("no-such-group", more, mode="create")
        assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND


def test_ingest_upsert_through_the_sdk_connection(flight_server, project):
    with flight_server.connect(project=project) as conn:
        changed = pa.table({"user_id": [3, 4], "clicks": [33, 44], "country": ["fr", "pt"]})
        assert conn.ingest(f"{project}/user-signals", changed, mode="upsert") == 2
        result = conn.execute('SELECT user_id, clicks FROM "user-signals" ORDER BY user_id')
        assert result.to_pydict() == {"user_id": [1, 2, 3, 4], "clicks": [10, 20, 33, 44]}


def test_errors_keep_status_class_and_code(flight_server, project, dbapi):
    with dbapi.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as info:
            cursor.execute('SELECT * FROM "no-such-group"')
    assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND
    assert "Traceback" not in str(info.value) and ".py" not in str(info.value)
    with flight_server.connect(project=project) as conn:
        with pytest.raises(errors.RaiseSyntaxError) as syntax:
            conn.execute("SELEC 1")
        assert (syntax.value.code, syntax.value.line, syntax.value.column) == ("RAISE-S001", 1, 1)
        with pytest.raises(errors.AlreadyExists) as exists:
            conn.execute(f"CREATE PROJECT {project}")
        assert exists.value.code == "RAISE-A001"
        with pytest.raises(errors.TypeMismatch) as mismatch:  # code V028, class code V020
            conn.execute("SELECT 1 = make_array(1) AS x")
        assert mismatch.value.code == "RAISE-V028"
        assert conn.execute("SELECT 1 AS ok").to_pylist() == [{"ok": 1}]


def _flight_get(client: flight.FlightClient, options, command) -> pa.Table:
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack(command)), options)
    return client.do_get(info.endpoints[0].ticket, options).read_all()


def test_primary_keys_xdbc_types_and_sql_info_over_raw_flight(flight_server, project):
    org = project.split("/")[0]
    client = flight.connect(flight_server.url)
    options = flight.FlightCallOptions(headers=[client.authenticate_basic_token(flight_server.user,
                                                                                flight_server.password)])
    keys = _flight_get(client, options, pb.CommandGetPrimaryKeys(catalog=org, db_schema="ml/rec",
                                                                 table="user-signals"))
    assert keys.select(["table_name", "column_name", "key_sequence"]).to_pylist() == [
        {"table_name": "user-signals", "column_name": "user_id", "key_sequence": 1}]
    types = _flight_get(client, options, pb.CommandGetXdbcTypeInfo(data_type=12))
    assert types["type_name"].to_pylist() == ["VARCHAR"]
    info = _flight_get(client, options, pb.CommandGetSqlInfo(info=[0, 504]))
    assert info["value"].to_pylist() == ["Raise", '"']
    schemas = _flight_get(client, options, pb.CommandGetDbSchemas(catalog=org))
    assert schemas.to_pylist() == [{"catalog_name": org, "db_schema_name": "ml/rec"}]
    client.close()


def test_eight_concurrent_clients(flight_server, project):
    def work(n: int) -> list:
        with flight_server.connect(project=project) as conn:
            conn.execute(f'CREATE FEATURE GROUP "g{n}" KEY (id INT64); CREATE FEATURE "g{n}".v INT64')
            conn.ingest(f"g{n}", pa.table({"id": list(range(100)), "v": [n] * 100}))
            return conn.execute(f'SELECT sum(v) AS s, count(*) AS c FROM "g{n}"').to_pylist()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[{"s": 100 * n, "c": 100}] for n in range(8)]


def test_table_schema_lists_what_select_star_returns_string_lists_included(flight_server, dbapi):
    with flight_server.new_project("versioned") as conn:
        conn.execute('CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.clicks INT64; '
                     'CREATE FEATURE g.clicks INT32 VERSION v2; CREATE FEATURE g.tags STRING[]')
        conn.ingest("g", pa.table({"id": [1], "clicks": [3], "tags": [["a", "b"]]}))
    schema = dbapi.adbc_get_table_schema("g", catalog_filter="versioned", db_schema_filter="ml/rec")
    assert schema.names == ["id", "clicks", "tags"] and schema.field("clicks").type == pa.int32()
    assert schema.field("tags").type == pa.list_(pa.string())
    objects = dbapi.adbc_get_objects(depth="columns", catalog_filter="versioned").read_all().to_pylist()
    columns = objects[0]["catalog_db_schemas"][0]["db_schema_tables"][0]["table_columns"]
    assert [(c["column_name"], c["xdbc_type_name"]) for c in columns] == [
        ("id", "int64"), ("clicks", "int32"), ("tags", "string[]")]
    with dbapi.cursor() as cursor:
        cursor.execute('SELECT * FROM versioned."ml/rec".g')
        assert cursor.fetch_arrow_table().to_pylist() == [{"id": 1, "clicks": 3, "tags": ["a", "b"]}]
        cursor.execute('SELECT "clicks@v1" FROM versioned."ml/rec".g')
        assert cursor.fetch_arrow_table().column_names == ["clicks@v1"]
