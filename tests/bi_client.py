"""A BI tool's session against ``raise serve``, in a process of its own: SQLAlchemy with the
``flightsql-dbapi`` dialect (``datafusion``), as Superset connects.

``python tests/bi_client.py URL USER PASSWORD ORG`` browses catalogs, schemas, tables and
columns, runs queries by qualified name, and prints what it saw as one JSON object.
flightsql-dbapi ships its own compiled Flight SQL protobuf module, which cannot be loaded in a
process that has loaded Raise's (the symbols clash in protobuf's default pool): so the test
suite runs this script instead of importing the dialect.
"""
from __future__ import annotations

import json
import sys

import sqlalchemy as sa


def browse(engine: sa.engine.Engine, org: str) -> dict:
    inspector = sa.inspect(engine)
    columns = inspector.get_columns("user-signals", schema="ml/rec")
    with engine.connect() as connection:
        client = connection.connection.connection.client  # the dialect's Flight SQL client
        catalogs = client.do_get(client.get_catalogs().endpoints[0].ticket).read_all()
    return {
        "catalogs": catalogs.column("catalog_name").to_pylist(),
        "schemas": inspector.get_schema_names(),
        "tables": inspector.get_table_names(schema="ml/rec"),
        "columns": {c["name"]: type(c["type"]).__name__ for c in columns},
    }


def query(engine: sa.engine.Engine, org: str) -> dict:
    # A BI connection has no current project: it names the catalog (organization) too.
    table = f'{org}."ml/rec"."user-signals"'
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT user_id, clicks FROM {table} ORDER BY user_id")).fetchall()
        grouped = connection.execute(sa.text(
            f"SELECT country, SUM(clicks) AS clicks FROM {table} GROUP BY country ORDER BY country")).fetchall()
        # The dialect inlines SQLAlchemy bind parameters itself (a ``text()`` parameter comes out
        # as NULL in flightsql-dbapi 0.2.2); its DB-API cursor sends ``?`` parameters to the
        # server as a prepared statement.
        cursor = connection.connection.cursor()
        cursor.execute(f"SELECT user_id FROM {table} WHERE country = ? AND clicks > ? ORDER BY user_id", ["fr", 5])
        bound = cursor.fetchall()
    return {"rows": [list(r) for r in rows], "grouped": [list(r) for r in grouped], "bound": bound}


def main(url: str, user: str, password: str, org: str) -> None:
    host, port = url.removeprefix("grpc://").rsplit(":", 1)
    engine = sa.create_engine(sa.engine.URL.create("datafusion", username=user, password=password, host=host,
                                                   port=int(port), query={"insecure": "true"}))
    try:
        print(json.dumps({**browse(engine, org), **query(engine, org)}))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:5])
