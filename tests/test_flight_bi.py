"""A BI tool's path to ``raise serve``: SQLAlchemy over Flight SQL with ``flightsql-dbapi``
(dialect ``datafusion``, the one Superset uses), browsing catalogs, schemas, tables and
columns, then querying by qualified name."""
from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

pytest.importorskip("flightsql.sqlalchemy", reason="the BI test needs flightsql-dbapi (pip install -e '.[test]')")
sa = pytest.importorskip("sqlalchemy", reason="flightsql-dbapi brings SQLAlchemy")

pytest_plugins = ["conftest_flight"]

_numbers = itertools.count(1)


@pytest.fixture
def org(flight_server) -> str:
    """A fresh organization whose ``ml/rec`` project holds ``user-signals`` (3 rows)."""
    name = f"bi{next(_numbers)}"
    with flight_server.new_project(name) as conn:
        conn.execute('CREATE FEATURE GROUP "user-signals" KEY (user_id INT64); '
                     'CREATE FEATURE "user-signals".clicks INT64; '
                     'CREATE FEATURE "user-signals".country STRING')
        rows = pa.table({"user_id": [1, 2, 3], "clicks": [10, 20, 30], "country": ["fr", "de", "fr"]})
        assert conn.ingest("user-signals", rows) == 3
    return name


@pytest.fixture
def sqlalchemy_engine(flight_server):
    host, port = flight_server.url.removeprefix("grpc://").rsplit(":", 1)
    url = sa.engine.URL.create("datafusion", username=flight_server.user, password=flight_server.password,
                               host=host, port=int(port), query={"insecure": "true"})
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_browse_catalogs_schemas_tables_and_columns(sqlalchemy_engine, org):
    inspector = sa.inspect(sqlalchemy_engine)
    assert "ml/rec" in inspector.get_schema_names()
    assert "user-signals" in inspector.get_table_names(schema="ml/rec")
    columns = {c["name"]: type(c["type"]) for c in inspector.get_columns("user-signals", schema="ml/rec")}
    # Pinned versions (``clicks@v1``) may be listed too: a BI tool sees at least the features.
    assert {"user_id": sa.BIGINT, "clicks": sa.BIGINT, "country": sa.TEXT}.items() <= columns.items()
    with sqlalchemy_engine.connect() as connection:
        client = connection.connection.connection.client  # the dialect's Flight SQL client
        catalogs = client.do_get(client.get_catalogs().endpoints[0].ticket).read_all()
    assert org in catalogs.column("catalog_name").to_pylist()


def test_query_by_qualified_name(sqlalchemy_engine, org):
    # A BI connection has no current project: it names the catalog (organization) too.
    table = f'{org}."ml/rec"."user-signals"'
    with sqlalchemy_engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT user_id, clicks FROM {table} ORDER BY user_id")).fetchall()
        assert [tuple(r) for r in rows] == [(1, 10), (2, 20), (3, 30)]
        grouped = connection.execute(sa.text(
            f"SELECT country, SUM(clicks) AS clicks FROM {table} GROUP BY country ORDER BY country")).fetchall()
        assert [tuple(r) for r in grouped] == [("de", 20), ("fr", 40)]
        # The dialect inlines SQLAlchemy bind parameters itself (a ``text()`` parameter comes out
        # as NULL in flightsql-dbapi 0.2.2); its DB-API cursor sends ``?`` parameters to the
        # server as a prepared statement.
        cursor = connection.connection.cursor()
        cursor.execute(f"SELECT user_id FROM {table} WHERE country = ? AND clicks > ? ORDER BY user_id", ["fr", 5])
        assert cursor.fetchall() == [[1], [3]]
