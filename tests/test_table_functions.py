"""Built-in table functions: those that only generate rows are allowed; anything else is refused."""
from __future__ import annotations

import glob

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from datafusion import udtf
from datafusion.catalog import Table

from grammar.errors import PermissionDenied

pytest_plugins = ["conftest_sdk"]

OUTSIDER = "mallory@elsewhere.com"  # no right on anything in the store


@pytest.fixture
def stored(engine):
    """A group with written rows, and the path of one of its Parquet files."""
    alice = engine.session("alice@acme.com")
    alice.execute("CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/rec; "
                  "USE acme/ml/rec; CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.secret INT64")
    alice.ingest("g", pa.table({"id": [1, 2], "secret": [7, 8]}))
    return glob.glob(f"{engine.home}/**/*.parquet", recursive=True)[0]


@pytest.mark.parametrize("sql, expected", [
    ("SELECT COUNT(*) AS n FROM generate_series(1, 5000000)", {"n": [5000000]}),
    ("SELECT SUM(value) AS s FROM generate_series(1, 100)", {"s": [5050]}),
    ("SELECT value FROM range(1, 10, 3)", {"value": [1, 4, 7]}),
    ("SELECT COUNT(*) AS n FROM generate_series(TIMESTAMP '2026-01-01 00:00:00', "
     "TIMESTAMP '2026-01-02 00:00:00', INTERVAL '1 hour')", {"n": [25]}),
    ("SELECT x FROM unnest([3, 1, 2]) AS t(x) ORDER BY x", {"x": [1, 2, 3]}),
])
def test_generating_table_functions_need_no_right(engine, stored, sql, expected):
    assert engine.session(OUTSIDER).execute(sql).to_pydict() == expected


def test_a_generated_series_joined_with_a_group_still_needs_read_on_it(engine, stored):
    sql = 'SELECT s.value, g.secret FROM generate_series(1, 2) AS s JOIN acme."ml/rec".g AS g ON g.id = s.value'
    with pytest.raises(PermissionDenied) as refused:
        engine.session(OUTSIDER).execute(sql)
    assert refused.value.code == "RAISE-P001"
    assert engine.session("alice@acme.com").execute(sql + " ORDER BY 1").to_pydict() == {
        "value": [1, 2], "secret": [7, 8]}


def test_a_table_function_that_reads_files_is_refused(engine, stored):
    context = engine.session(OUTSIDER).query_context("SELECT 1")
    context.ctx.register_udtf(udtf(lambda path: Table(ds.dataset(stored)), "read_file"))
    with pytest.raises(PermissionDenied) as refused:
        context.run(f"SELECT * FROM read_file('{stored}')")
    assert refused.value.code == "RAISE-P005" and refused.value.name == "read_file()"
    for sql in (f"SELECT * FROM read_parquet('{stored}')", f"SELECT * FROM '{stored}'"):
        with pytest.raises(Exception) as failed:  # DataFusion knows no such table or function
            engine.session(OUTSIDER).execute(sql)
        assert failed.value.code in ("RAISE-X001", "RAISE-N003")


def test_generate_series_through_the_sdk(store):
    assert store.sql("SELECT COUNT(*) AS n FROM generate_series(1, 5000000)").column("n").to_pylist() == [5000000]
