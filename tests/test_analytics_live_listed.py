"""Live tables as SQL clients see them: Flight SQL GetTables lists the live tables the principal
may read beside the groups, and a qualified name (``org."domain/project".name``) reads them."""
from __future__ import annotations

import pyarrow as pa

pytest_plugins = ["conftest_flight"]


def test_get_tables_lists_live_tables_and_qualified_names_read_them(flight_server):
    with flight_server.new_project("livelisted") as conn:
        conn.execute('CREATE FEATURE GROUP signals KEY (user_id INT64); CREATE FEATURE signals.clicks INT64; '
                     'CREATE FEATURE signals.tier STRING')
        conn.ingest("signals", pa.table({"user_id": [1, 2, 3], "clicks": [10, 20, 30], "tier": ["a", "b", "a"]}))
        conn.execute("""CREATE LIVE TABLE per_tier ON signals AS ANALYZE
            '{"kind": "aggregation", "feature": "clicks", "metrics": ["sum"], "group_by": "tier"}'""")
    with flight_server.dbapi() as dbapi:
        objects = dbapi.adbc_get_objects(depth="columns", catalog_filter="livelisted").read_all().to_pylist()
        tables = {t["table_name"]: t for t in objects[0]["catalog_db_schemas"][0]["db_schema_tables"]}
        assert sorted(tables) == ["per_tier", "signals"] and tables["per_tier"]["table_type"] == "TABLE"
        assert [c["column_name"] for c in tables["per_tier"]["table_columns"]] == ["tier", "sum"]
        with dbapi.cursor() as cursor:
            cursor.execute('SELECT tier, "sum" FROM livelisted."ml/rec".per_tier ORDER BY tier')
            assert cursor.fetch_arrow_table().to_pydict() == {"tier": ["a", "b"], "sum": [40, 20]}


def test_only_live_tables_whose_features_the_principal_reads_are_listed(tmp_path):
    from flight_server import flight_sql_pb2 as pb
    from flight_server.metadata import tables_table
    from raise_.engine import Engine

    engine = Engine(tmp_path / "store")
    engine.session("alice@acme.com").execute("""
        USE acme/ml/rec;
        CREATE FEATURE GROUP signals KEY (user_id INT64); CREATE FEATURE signals.clicks INT64;
        INSERT INTO signals (user_id, clicks) VALUES (1, 5);
        CREATE LIVE TABLE total ON signals AS ANALYZE '{"kind": "aggregation", "feature": "clicks", "metrics": ["sum"]}'
    """)
    listed = {who: tables_table(engine.session(who), pb.CommandGetTables()).column("table_name").to_pylist()
              for who in ("alice@acme.com", "mallory@evil.com")}
    assert listed == {"alice@acme.com": ["signals", "total"], "mallory@evil.com": []}
