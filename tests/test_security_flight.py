"""Access control over Flight SQL: queries, prepared statements, adbc_ingest and catalog listings.

A server of its own with three users: ``owner`` (creates and so administers ``acme``),
``reader`` (reads the project, not ``secret``) and ``outsider`` (nothing).
"""
from __future__ import annotations

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pytest

from grammar import errors
from raise_.engine import Engine

pytest_plugins = ["conftest_flight"]

USERS = {"owner": "owner-password", "reader": "reader-password", "outsider": "outsider-password"}
SETUP = """
CREATE ORGANIZATION acme;
USE acme/ml/rec;
CREATE FEATURE GROUP "user-signals" KEY (user_id INT64);
CREATE FEATURE "user-signals".clicks INT64;
CREATE FEATURE "user-signals".secret INT64;
INSERT INTO "user-signals" (user_id, clicks, secret) VALUES (1, 10, 42), (2, 20, 7);
ALTER PRINCIPAL 'reader' SET ORGANIZATION acme;
SET ACL ON PROJECT acme/ml/rec READERS ('reader');
SET ACL ON FEATURE "user-signals".secret READERS ('owner') NO INHERIT
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, start_flight_server, add_flight_user):
    home = tmp_path_factory.mktemp("secure-flight")
    for name, password in USERS.items():
        add_flight_user(home, name, password)
    process = start_flight_server(home)
    from conftest_flight import FlightServerInfo

    info = FlightServerInfo(process.url, "owner", USERS["owner"], home)
    with info.connect() as conn:
        conn.execute(SETUP)
    return info


def connect(server, user: str):
    return server.connect(project="acme/ml/rec", user=user, password=USERS[user])


def dbapi(server, user: str):
    conn = adbc_driver_flightsql.dbapi.connect(server.url, db_kwargs={"username": user, "password": USERS[user]},
                                               autocommit=True)
    conn.adbc_connection.set_options(**{"adbc.connection.catalog": "acme", "adbc.connection.db_schema": "ml/rec"})
    return conn


def denied(server, actor: str) -> int:
    root = Engine(server.home).session(None)
    return root.execute(f"SHOW AUDIT OUTCOMES ('DENIED') ACTORS ('{actor}')").num_rows


def rows(server) -> list[dict]:
    root = Engine(server.home).session(None, "acme/ml/rec")
    return root.execute('SELECT user_id, clicks, secret FROM "user-signals" ORDER BY user_id').to_pylist()


def test_queries_and_prepared_statements(server):
    before = denied(server, "reader")
    with connect(server, "reader") as conn:
        with pytest.raises(errors.PermissionDenied) as caught:
            conn.execute('SELECT user_id FROM "user-signals" WHERE secret = 42')
        assert caught.value.code == "RAISE-P001"
        assert conn.execute('SELECT clicks FROM "user-signals" ORDER BY user_id').column(0).to_pylist() == [10, 20]
    with dbapi(server, "reader") as conn, conn.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error):
            cursor.execute('SELECT secret FROM "user-signals" WHERE user_id = ?', parameters=(1,))
        cursor.execute('SELECT clicks FROM "user-signals" WHERE user_id = ?', parameters=(1,))
        assert cursor.fetchall() == [(10,)]
    with dbapi(server, "owner") as conn, conn.cursor() as cursor:
        cursor.execute('SELECT secret FROM "user-signals" WHERE user_id = ?', parameters=(1,))
        assert cursor.fetchall() == [(42,)]
    assert denied(server, "reader") >= before + 2


def test_adbc_ingest_needs_write(server):
    before, data = denied(server, "reader"), rows(server)
    more = pa.table({"user_id": [3], "clicks": [30]})
    with dbapi(server, "reader") as conn, conn.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as caught:
            cursor.adbc_ingest("user-signals", more, mode="append")
    assert "PERMISSION" in str(caught.value).upper() or "RAISE-P" in str(caught.value)
    assert rows(server) == data and denied(server, "reader") == before + 1
    with dbapi(server, "owner") as conn, conn.cursor() as cursor:
        assert cursor.adbc_ingest("user-signals", more, mode="append") == 1


def test_listings_show_only_what_may_be_seen(server):
    def columns(user: str) -> dict[str, list[str]]:
        with dbapi(server, user) as conn:
            objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        found = {}
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or ():
                for table in schema["db_schema_tables"] or ():
                    found[table["table_name"]] = [c["column_name"] for c in table["table_columns"] or ()]
        return found

    assert "secret" in columns("owner")["user-signals"]
    reader = columns("reader")["user-signals"]
    assert "clicks" in reader and "secret" not in reader
    assert columns("outsider") == {}
    with dbapi(server, "outsider") as conn:
        assert conn.adbc_get_objects(depth="catalogs").read_all().num_rows == 0
    with dbapi(server, "reader") as conn:
        catalogs = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
    assert [(c["catalog_name"], [s["db_schema_name"] for s in c["catalog_db_schemas"]]) for c in catalogs] == [
        ("acme", ["ml/rec"])]
    with dbapi(server, "outsider") as conn:
        with pytest.raises(adbc_driver_manager.Error):
            conn.adbc_get_table_schema("user-signals", catalog_filter="acme", db_schema_filter="ml/rec")


def test_a_prepared_lookup_follows_acl_changes_and_token_revocation(server, add_flight_user):
    """The server caches a token's user and the lookup's access decision per catalog
    generation: an ACL change and a removed user count from the next execution of the same
    prepared statement on the same connection."""
    add_flight_user(server.home, "lena", "lena-password")
    with connect(server, "owner") as owner:
        owner.execute("""CREATE FEATURE GROUP "lena-signals" KEY (user_id INT64);
                         CREATE FEATURE "lena-signals".clicks INT64;
                         INSERT INTO "lena-signals" (user_id, clicks) VALUES (1, 10), (2, 20);
                         ALTER PRINCIPAL 'lena' SET ORGANIZATION acme;
                         SET ACL ON FEATURE GROUP "lena-signals" READERS ('lena');
                         MATERIALIZE "lena-signals" """)
        lena = server.connect(project="acme/ml/rec", user="lena", password="lena-password")
        lookup = lena.prepare('LOOKUP ONLINE "lena-signals" (clicks) WHERE user_id IN (?)')
        assert [lookup.execute([k]).column("clicks").to_pylist() for k in (2, 1, 3)] == [[20], [10], [None]]
        owner.execute("""SET ACL ON FEATURE GROUP "lena-signals" READERS ('owner')""")
        with pytest.raises(errors.PermissionDenied):
            lookup.execute([1])
        owner.execute("""SET ACL ON FEATURE GROUP "lena-signals" READERS ('lena')""")
        assert lookup.execute([1]).column("clicks").to_pylist() == [10]
    from flight_server.users import UserStore

    UserStore(Engine(server.home).catalog).remove("lena")
    with pytest.raises(errors.Unauthenticated, match="no longer exists"):
        lookup.execute([1])
