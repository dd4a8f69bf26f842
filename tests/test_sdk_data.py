"""Data in and out: write from Arrow, pandas, polars and dicts (type-checked), read with as_of and filter."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from raise_.errors import TypeMismatch, ValidationError

pytest_plugins = ["conftest_sdk"]

T0 = dt.datetime(2026, 1, 1)


def _vectors(n: int, dim: int = 512) -> np.ndarray:
    return np.arange(n * dim, dtype=np.float32).reshape(n, dim) / 1000


def test_write_list_of_dicts_and_read_back(signals):
    written = signals.write([
        {"user_id": 1, "event_time": T0, "click_count": 3, "impression_count": 30,
         "user_embedding": _vectors(1)[0].tolist()},
        {"user_id": 2, "event_time": T0, "click_count": 5},
    ])
    assert written == 2
    table = signals.read().sort_by("user_id")
    assert table.column_names == ["user_id", "event_time", "click_count", "impression_count", "user_embedding"]
    assert table.schema.field("user_embedding").type == pa.list_(pa.float32(), 512)
    assert table.column("click_count").to_pylist() == [3, 5]
    assert table.column("impression_count").to_pylist() == [30, None]
    assert table.column("user_embedding").to_pylist()[0] == pytest.approx(_vectors(1)[0].tolist())
    assert table.column("event_time").to_pylist() == [T0, T0]


def test_write_pandas_polars_arrow_and_dict_of_columns(signals):
    vectors = _vectors(2)
    frame = pd.DataFrame({"user_id": [1, 2], "click_count": [1, 2], "user_embedding": list(vectors)})
    assert signals.write(frame) == 2
    assert signals.write(pl.DataFrame({"user_id": [3], "click_count": [3]})) == 1
    assert signals.write(pa.table({"user_id": [4], "impression_count": [40]})) == 1
    assert signals.write({"user_id": [5], "click_count": [5]}) == 1
    table = signals.read(["click_count", "user_embedding"]).sort_by("user_id")
    assert table.column("user_id").to_pylist() == [1, 2, 3, 4, 5]
    assert table.column("click_count").to_pylist() == [1, 2, 3, None, 5]
    assert table.column("user_embedding").to_pylist()[1] == pytest.approx(vectors[1].tolist())
    as_pandas = table.to_pandas()
    assert list(as_pandas.columns) == ["user_id", "event_time", "click_count", "user_embedding"]
    assert len(as_pandas.loc[0, "user_embedding"]) == 512


def test_writes_are_type_checked_before_anything_is_written(signals):
    with pytest.raises(TypeMismatch) as info:
        signals.write([{"user_id": 1, "click_count": "many"}])
    assert (info.value.code, info.value.name) == ("RAISE-V020", "click_count")
    with pytest.raises(TypeMismatch) as info:
        signals.write(pd.DataFrame({"user_id": [1], "user_embedding": [np.zeros(3, np.float32)]}))
    assert (info.value.code, info.value.name) == ("RAISE-V026", "user_embedding")
    with pytest.raises(ValidationError) as info:
        signals.write([{"user_id": 1, "clicks": 1}])
    assert info.value.code == "RAISE-V053" and "click_count" in info.value.message
    with pytest.raises(ValidationError) as info:
        signals.write("user_id,click_count\n1,2")
    assert info.value.code == "RAISE-V056"
    assert signals.read().num_rows == 0


def test_derived_features_are_not_writable(signals):
    signals.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")
    with pytest.raises(ValidationError) as info:
        signals.write([{"user_id": 1, "ctr": 0.5}])
    assert info.value.name == "ctr"


def test_upsert_overwrite_and_modes(store, signals):
    signals.write([{"user_id": 1, "click_count": 1}, {"user_id": 2, "click_count": 2}])
    signals.write([{"user_id": 2, "click_count": 20}, {"user_id": 3, "click_count": 30}], mode="upsert")
    got = signals.read(["click_count"]).sort_by("user_id")
    assert got.column("click_count").to_pylist() == [1, 20, 30]
    signals.write([{"user_id": 9, "click_count": 9}], mode="overwrite")
    assert signals.read(["click_count"]).column("user_id").to_pylist() == [9]
    with pytest.raises(ValidationError):
        signals.write([{"user_id": 1}], mode="merge")
    keyless = store.create_feature_group("events", timestamp_column="at")
    with pytest.raises(ValidationError) as info:
        keyless.write([{"at": T0}], mode="upsert")
    assert info.value.code == "RAISE-V050"


def test_versioned_columns_are_written_and_read_by_name(signals):
    signals.create_feature("user_embedding", dtype="float32[4]", version="v2")
    signals.write([{"user_id": 1, "user_embedding": [1.0, 2.0, 3.0, 4.0],
                    "user_embedding@v1": _vectors(1)[0].tolist()}])
    table = signals.read(["user_embedding", "user_embedding@v1"])
    assert table.schema.field("user_embedding").type == pa.list_(pa.float32(), 4)
    assert table.schema.field("user_embedding@v1").type == pa.list_(pa.float32(), 512)
    assert "user_embedding@v1" not in signals.read().column_names


def test_read_as_of_a_version_and_a_timestamp(signals):
    signals.write([{"user_id": 1, "click_count": 1}])
    signals.write([{"user_id": 2, "click_count": 2}])
    assert signals.read(as_of=0).num_rows == 0
    assert signals.read(as_of=1).column("user_id").to_pylist() == [1]
    assert signals.read(as_of=2).num_rows == 2
    later = dt.datetime.now() + dt.timedelta(days=1)
    assert signals.read(["click_count"], as_of=later).num_rows == 2
    with pytest.raises(ValidationError):
        signals.read(as_of="yesterday")


def test_read_with_a_filter(signals):
    signals.write([{"user_id": i, "click_count": i * 10} for i in range(1, 6)])
    got = signals.read(["click_count"], filter="click_count >= 30 AND user_id <> 4")
    assert sorted(got.column("user_id").to_pylist()) == [3, 5]
    with pytest.raises(Exception) as info:
        signals.read(filter="click_count >>> 1")
    assert getattr(info.value, "code", "").startswith("RAISE-")
