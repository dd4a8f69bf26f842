"""The spec's Analytics snippets (Analysis Types, Freshness Control, Async Analysis, Result
Formats) as written, on a group holding every feature they name."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from analytics_data import frame
from raise_ import (
    Aggregation, AnalysisJob, Correlation, Distribution, Freshness, RecordLookup, StatTest, VersionDiff,
)

pytest_plugins = ["conftest_sdk"]


@pytest.fixture
def feature_group(store):
    data = frame(800)
    group = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({
        "click_count": "int64", "impression_count": "int64", "revenue": "float64", "user_tier": "string",
        "experiment_group": "string", "conversion_rate": "float64", "user_embedding": "float32[512]",
    })
    rng = np.random.default_rng(0)
    data["user_embedding"] = list(rng.normal(size=(len(data), 512)).astype("float32"))
    group.write(data.drop(columns=["converted"]))
    group.create_feature("user_embedding", dtype="float32[768]", version="v2")
    group.write({"user_id": data["user_id"], "user_embedding": list(rng.normal(size=(len(data), 768)).astype("float32"))},
                mode="upsert")
    return group


def test_analysis_types_as_written(feature_group):
    result = feature_group.analyze(
        Aggregation(
            feature="click_count",
            metrics=["count", "sum", "avg", "min", "max", "null_rate"],
        )
    )
    assert list(result.metrics) == ["count", "sum", "avg", "min", "max", "null_rate"]
    assert result.metrics["avg"] == pytest.approx(result.metrics["sum"] / result.metrics["count"])
    result = feature_group.analyze(
        Aggregation(feature="revenue", metrics=["sum", "avg"], window="7d", group_by="user_tier")
    )
    assert {"user_tier", "date", "sum", "avg"} <= set(result.to_dataframe().columns)
    result = feature_group.analyze(
        Aggregation(feature="click_count", metrics=["sum"], window="1d", rolling=True, periods=30)
    )
    assert len(result.rows) == 30
    result = feature_group.analyze(Distribution(feature="revenue", metrics=["histogram", "percentiles"], bins=50))
    assert set(result.histogram) == {"bin_edges", "counts"} and len(result.histogram["counts"]) == 50
    assert list(result.percentiles) == ["p50", "p75", "p90", "p95", "p99"]
    result = feature_group.analyze(Distribution(feature="revenue", segment_by="user_tier",
                                                metrics=["histogram", "percentiles"]))
    assert set(result.segments) == {"bronze", "gold", "platinum", "silver"}
    result = feature_group.analyze(Correlation(features=["click_count", "impression_count", "revenue"],
                                               method="pearson"))
    assert result.to_dataframe().shape == (3, 3) and result.correlation_matrix["revenue"]["revenue"] == 1.0


def test_version_diff_and_tests_as_written(feature_group):
    result = feature_group.analyze(
        VersionDiff(feature="user_embedding", version_a="v1", version_b="v2", compare=["schema", "distribution"])
    )
    assert result.schema_changes == {"dtype": {"old": "float32[512]", "new": "float32[768]"}}
    assert set(result.distribution_drift) == {"psi", "kl_divergence"} and result.distribution_drift["psi"] > 1
    result = feature_group.analyze(StatTest(feature="conversion_rate", test="ttest", segment_by="experiment_group",
                                            control="control", treatment="variant_a"))
    assert 0 <= result.p_value <= 1 and len(result.confidence_interval) == 2
    assert isinstance(result.p_value < 0.05, bool) and result.effect_size > 0
    result = feature_group.analyze(RecordLookup(features=["click_count", "revenue", "user_tier"], sample=10))
    assert len(result.records) == 10
    result = feature_group.analyze(RecordLookup(features=["click_count", "revenue"], filter="user_tier = 'gold'", limit=5))
    assert len(result.records) == 5


def test_freshness_async_and_formats_as_written(store, feature_group):
    fresh = feature_group.analyze(Aggregation(feature="click_count", metrics=["sum"]), freshness=Freshness.REAL_TIME)
    within = feature_group.analyze(Aggregation(feature="click_count", metrics=["sum"]), freshness=Freshness.WITHIN("1h"))
    cached = feature_group.analyze(Aggregation(feature="click_count", metrics=["sum"]), freshness=Freshness.CACHED)
    assert (fresh.from_cache, within.from_cache, cached.from_cache) == (False, True, True)
    fs = store
    job = fs.analyze_async(
        Correlation(features=["click_count", "impression_count", "revenue", "conversion_rate"], method="spearman")
    )
    assert isinstance(job, AnalysisJob) and job.status in ("pending", "running", "completed")
    result = job.wait(timeout=60)
    assert result.to_dict()["data"]["method"] == "spearman"
    while job.status in ("pending", "running"):
        time.sleep(0.1)
        job.refresh()
    assert job.status == "completed" and job.result() is result
    result = feature_group.analyze(Correlation(features=["click_count", "revenue"]))
    df = result.to_dataframe()
    json_str = result.to_json()
    csv_str = result.to_csv()
    assert isinstance(df, pd.DataFrame) and json.loads(json_str)["data"] == result.data
    assert csv_str.splitlines()[0] == "feature,click_count,revenue" and result.data["method"] == "pearson"
