"""A feature group as a table: SELECT * shows each feature once, DESCRIBE says where the data
lives, and Polars and DuckDB read the same Delta table directly."""
from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

pytest_plugins = ["conftest_sdk"]

T0 = dt.datetime(2026, 1, 1)


@pytest.fixture
def versioned(store):
    group = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_feature("clicks", dtype="int64")
    group.create_feature("impressions", dtype="int64")
    group.create_feature("clicks", dtype="float64", version="v2")
    group.create_feature("ctr", dtype="float64", derived_from="clicks / NULLIF(impressions, 0)")
    group.write([{"user_id": 1, "event_time": T0, "clicks": 2.5, "clicks@v1": 2, "impressions": 10},
                 {"user_id": 2, "event_time": T0, "clicks": 4.0, "clicks@v1": 4, "impressions": 0}])
    return group


def test_select_star_shows_each_feature_once(store, versioned):
    star = store.sql('SELECT * FROM "user-signals" ORDER BY user_id')
    assert star.column_names == ["user_id", "event_time", "clicks", "ctr", "impressions"]
    assert star.column("clicks").to_pylist() == [2.5, 4.0] and star.column("ctr").to_pylist() == [0.25, None]
    assert versioned.read().column_names == star.column_names
    pinned = store.sql('SELECT "clicks@v1", "clicks@v2" FROM "user-signals" ORDER BY user_id')
    assert pinned.to_pydict() == {"clicks@v1": [2, 4], "clicks@v2": [2.5, 4.0]}
    assert versioned.read(["clicks@v1"]).column_names == ["user_id", "event_time", "clicks@v1"]


def test_describe_lists_the_table_uri_and_every_versions_column(store, versioned):
    row = store.sql('DESCRIBE FEATURE GROUP "user-signals"').to_pylist()[0]
    assert row["table_uri"] == versioned.table_uri and DeltaTable(row["table_uri"]).version() >= 1
    assert row["feature_columns"] == [
        {"feature": "clicks@v1", "version": "v1", "column": "clicks@v1", "is_latest": False, "status": "active"},
        {"feature": "clicks@v2", "version": "v2", "column": "clicks@v2", "is_latest": True, "status": "active"},
        {"feature": "ctr@v1", "version": "v1", "column": None, "is_latest": True, "status": "active"},
        {"feature": "impressions@v1", "version": "v1", "column": "impressions@v1", "is_latest": True,
         "status": "active"},
    ]
    assert versioned.physical_columns == {"clicks@v1": "clicks@v1", "clicks@v2": "clicks@v2", "ctr@v1": None,
                                          "impressions@v1": "impressions@v1"}


def test_polars_and_duckdb_read_the_same_delta_table(versioned):
    column = versioned.physical_columns["clicks@v2"]
    frame = pl.read_delta(versioned.table_uri).select("user_id", pl.col(column).alias("clicks")).sort("user_id")
    expected = versioned.read(["clicks"]).select(["user_id", "clicks"]).sort_by("user_id")
    assert frame.to_arrow().to_pylist() == expected.to_pylist() == [{"user_id": 1, "clicks": 2.5},
                                                                    {"user_id": 2, "clicks": 4.0}]
    dataset = DeltaTable(versioned.table_uri).to_pyarrow_dataset()  # noqa: F841 - DuckDB scans it by name
    total = duckdb.sql('SELECT SUM("impressions@v1") AS s, COUNT(*) AS n FROM dataset').fetchall()
    assert total == [(10, 2)]
