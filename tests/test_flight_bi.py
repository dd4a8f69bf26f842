"""A BI tool's path to ``raise serve``: SQLAlchemy over Flight SQL with ``flightsql-dbapi``
(dialect ``datafusion``, the one Superset uses), browsing catalogs, schemas, tables and
columns, then querying by qualified name. The client runs in its own process
(``tests/bi_client.py``), as a BI tool does."""
from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

pytest_plugins = ["conftest_flight"]

CLIENT = Path(__file__).with_name("bi_client.py")
_numbers = itertools.count(1)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("flightsql") is None or importlib.util.find_spec("sqlalchemy") is None,
    reason="the BI test needs flightsql-dbapi and SQLAlchemy (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def seen(flight_server) -> dict:
    """What the BI client saw of a fresh organization whose ``ml/rec`` holds ``user-signals``."""
    org = f"bi{next(_numbers)}"
    with flight_server.new_project(org) as conn:
        conn.execute('CREATE FEATURE GROUP "user-signals" KEY (user_id INT64); '
                     'CREATE FEATURE "user-signals".clicks INT64; '
                     'CREATE FEATURE "user-signals".country STRING')
        rows = pa.table({"user_id": [1, 2, 3], "clicks": [10, 20, 30], "country": ["fr", "de", "fr"]})
        assert conn.ingest("user-signals", rows) == 3
    done = subprocess.run([sys.executable, str(CLIENT), flight_server.url, flight_server.user,
                           flight_server.password, org], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {"org": org, **json.loads(done.stdout.strip().splitlines()[-1])}


def test_browse_catalogs_schemas_tables_and_columns(seen):
    assert seen["org"] in seen["catalogs"]
    assert "ml/rec" in seen["schemas"] and "user-signals" in seen["tables"]
    # Pinned versions (``clicks@v1``) may be listed too: a BI tool sees at least the features.
    assert {"user_id": "BIGINT", "clicks": "BIGINT", "country": "TEXT"}.items() <= seen["columns"].items()


def test_query_by_qualified_name(seen):
    assert seen["rows"] == [[1, 10], [2, 20], [3, 30]]
    assert seen["grouped"] == [["de", 20], ["fr", 40]]
    assert seen["bound"] == [[1], [3]]
