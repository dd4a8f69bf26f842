"""Every analysis' values against NumPy, SciPy and pandas on the same data, embedded and over
Flight: one store per connection kind for the module (the tests only read its groups)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pandas as pd
import pytest
from scipy import stats

from analytics_data import CONNECTION_KINDS, T0, create_group, frame, open_store
from raise_ import Aggregation, Correlation, Distribution, RecordLookup, StatTest, VersionDiff
from raise_.analytics.finish import DRIFT_FLOOR
from raise_.errors import ValidationError

EPOCH = pd.Timestamp("1970-01-01")


@pytest.fixture(scope="module", params=CONNECTION_KINDS)
def store(request, tmp_path_factory):
    yield from open_store(request.param, tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame()


@pytest.fixture(scope="module")
def group(store, data):
    return create_group(store, data)


def _window_start(times: pd.Series, days: int) -> pd.Series:
    width = pd.Timedelta(days=days)
    return EPOCH + ((pd.to_datetime(times) - EPOCH) // width) * width


def test_aggregation_metrics_match_pandas(group, data):
    clicks = data["click_count"].astype("float64")
    result = group.analyze(Aggregation(feature="click_count", metrics=[
        "count", "sum", "avg", "min", "max", "null_rate", "stddev", "variance", "median", "distinct_count"]))
    metrics = result.metrics
    assert metrics["count"] == clicks.count() and metrics["sum"] == clicks.sum()
    assert metrics["avg"] == pytest.approx(clicks.mean()) and metrics["median"] == clicks.median()
    assert (metrics["min"], metrics["max"]) == (clicks.min(), clicks.max())
    assert metrics["null_rate"] == pytest.approx(clicks.isna().mean())
    assert metrics["stddev"] == pytest.approx(clicks.std()) and metrics["variance"] == pytest.approx(clicks.var())
    assert metrics["distinct_count"] == clicks.nunique()
    assert "SUM(\"click_count\")" in result.sql and result.from_cache is False


def test_windowed_grouped_aggregation_matches_pandas(group, data):
    result = group.analyze(Aggregation(feature="revenue", metrics=["sum", "avg"], window="7d", group_by="user_tier"))
    expected = data.assign(date=_window_start(data["event_time"], 7)).groupby(["user_tier", "date"])["revenue"] \
        .agg(["sum", "mean"]).reset_index()
    got = result.to_dataframe()
    assert list(got.columns) == ["user_tier", "date", "sum", "avg"]
    assert got["user_tier"].tolist() == expected["user_tier"].tolist()
    assert pd.to_datetime(got["date"]).tolist() == expected["date"].tolist()
    np.testing.assert_allclose(got["sum"], expected["sum"])
    np.testing.assert_allclose(got["avg"], expected["mean"])
    assert result.metrics is None and len(result.rows) == len(expected)


def test_rolling_aggregation_is_the_trailing_windows(group, data):
    result = group.analyze(Aggregation(feature="click_count", metrics=["sum", "avg", "stddev", "null_rate"],
                                       window="1d", rolling=True, periods=30))
    rows = result.rows
    assert len(rows) == 30
    days = _window_start(data["event_time"], 1)
    last = days.max()
    assert [r["date"] for r in rows] == list(pd.date_range(last - pd.Timedelta(days=29), last, freq="D"))
    for row in (rows[0], rows[-1]):
        start = pd.Timestamp(row["date"])
        inside = data[(days > start - pd.Timedelta(days=30)) & (days <= start)]["click_count"].astype("float64")
        assert row["sum"] == inside.sum()
        assert row["avg"] == pytest.approx(inside.mean())
        assert row["stddev"] == pytest.approx(inside.std())
        assert row["null_rate"] == pytest.approx(inside.isna().mean())


def test_distribution_histogram_and_linear_percentiles(group, data):
    revenue = data["revenue"].to_numpy()
    result = group.analyze(Distribution(feature="revenue", metrics=["histogram", "percentiles"], bins=50))
    counts, edges = np.histogram(revenue, bins=50)
    assert result.histogram["counts"] == counts.tolist()
    np.testing.assert_allclose(result.histogram["bin_edges"], edges)
    expected = np.percentile(revenue, [50, 75, 90, 95, 99])
    assert list(result.percentiles) == ["p50", "p75", "p90", "p95", "p99"]
    np.testing.assert_allclose(list(result.percentiles.values()), expected)
    assert len(result.to_dataframe()) == 50 and "<svg" in result._repr_html_()
    alone = group.analyze(Distribution(feature="revenue", metrics=["percentiles"]))
    assert alone.percentiles == result.percentiles and alone.histogram is None and alone.data["count"] == len(revenue)


def test_segmented_distribution_shares_the_edges(group, data):
    result = group.analyze(Distribution(feature="revenue", segment_by="user_tier", metrics=["histogram", "percentiles"]))
    _, edges = np.histogram(data["revenue"], bins=10)
    assert sorted(result.segments) == sorted(data["user_tier"].unique())
    for tier, values in data.groupby("user_tier")["revenue"]:
        assert result.histogram[tier]["counts"] == np.histogram(values, bins=edges)[0].tolist()
        np.testing.assert_allclose(list(result.percentiles[tier].values()), np.percentile(values, [50, 75, 90, 95, 99]))
        assert result.segments[tier]["count"] == len(values)


def test_percentiles_of_tied_counts_are_exact_per_segment(group, data):
    """Integer counts tie heavily, so the ranks a percentile interpolates between fall in
    crowded bins: the order statistics still match NumPy's linear percentiles exactly."""
    result = group.analyze(Distribution(feature="click_count", segment_by="user_tier", metrics=["percentiles"]))
    for tier, values in data.groupby("user_tier")["click_count"]:
        values = values.dropna().to_numpy(dtype=float)
        assert list(result.percentiles[tier].values()) == np.percentile(values, [50, 75, 90, 95, 99]).tolist()
        assert result.segments[tier]["count"] == len(values)


def test_a_constant_sample_fills_the_middle_bin_and_nan_is_read_without_bins(store):
    flat = store.create_feature_group("flat", key_columns=["id"])
    flat.create_features_from_schema({"x": "int64", "y": "float64"})
    flat.write(pa.table({"id": np.arange(5), "x": [7] * 5, "y": [1.0, 2.0, float("nan"), 3.0, 4.0]}))
    result = flat.analyze(Distribution(feature="x", metrics=["histogram", "percentiles"], bins=4))
    counts, edges = np.histogram([7] * 5, bins=4)
    assert result.histogram["counts"] == counts.tolist() and result.histogram["bin_edges"] == edges.tolist()
    assert set(result.percentiles.values()) == {7.0}
    spiky = flat.analyze(Distribution(feature="y", metrics=["percentiles"]))  # PERCENTILE_CONT, NaN last
    assert spiky.data["count"] == 5 and spiky.percentiles["p50"] == 3.0
    for metrics in (["histogram"], ["histogram", "percentiles"]):  # numpy.histogram refuses NaN too
        with pytest.raises(ValidationError) as refused:
            flat.analyze(Distribution(feature="y", metrics=metrics, bins=4))
        assert refused.value.code == "RAISE-V409" and "'y'" in refused.value.message


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_correlation_matches_pandas(group, data, method):
    features = ["click_count", "impression_count", "revenue"]
    result = group.analyze(Correlation(features=features, method=method))
    expected = data[features].astype("float64").dropna().corr(method=method)
    pd.testing.assert_frame_equal(result.to_dataframe(), expected, check_exact=False, rtol=1e-9)
    assert result.correlation_matrix["click_count"]["impression_count"] == pytest.approx(
        expected.loc["click_count", "impression_count"])
    assert result.data["n"] == len(data[features].dropna())
    if method == "pearson":  # well conditioned: one pass over the raw values, no shift or join
        assert "JOIN" not in result.sql


def test_a_correlation_far_from_zero_is_read_from_shifted_sums(store):
    far = store.create_feature_group("far", key_columns=["id"])
    far.create_features_from_schema({"x": "float64", "y": "float64", "c": "int64"})
    rng = np.random.default_rng(3)
    noise = rng.normal(size=1000)
    values = {"id": np.arange(1000), "x": 1e9 + noise, "y": noise + rng.normal(size=1000), "c": [5] * 1000}
    far.write(pa.table(values))
    result = far.analyze(Correlation(features=["x", "y", "c"]))
    # raw sums of squares near 1e21 cancel to nothing: the shifted query is what ran
    assert '"shift"' in result.sql
    assert result.correlation_matrix["x"]["y"] == pytest.approx(np.corrcoef(values["x"], values["y"])[0, 1], rel=1e-9)
    assert result.correlation_matrix["x"]["c"] is None and result.correlation_matrix["c"]["c"] == 1.0


def _arms(data: pd.DataFrame, feature: str) -> tuple[np.ndarray, np.ndarray]:
    arm = data.groupby("experiment_group")[feature]
    return arm.get_group("variant_a").to_numpy(float), arm.get_group("control").to_numpy(float)


def test_welch_ttest_matches_scipy(group, data):
    result = group.analyze(StatTest(feature="conversion_rate", test="ttest", segment_by="experiment_group",
                                    control="control", treatment="variant_a"))
    treatment, control = _arms(data, "conversion_rate")
    expected = stats.ttest_ind(treatment, control, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert result.statistic == pytest.approx(expected.statistic)
    np.testing.assert_allclose(result.confidence_interval, tuple(expected.confidence_interval(0.95)), rtol=1e-6)
    n1, n2 = len(treatment), len(control)
    pooled = np.sqrt(((n1 - 1) * treatment.var(ddof=1) + (n2 - 1) * control.var(ddof=1)) / (n1 + n2 - 2))
    assert result.effect_size == pytest.approx((treatment.mean() - control.mean()) / pooled)
    assert result.significant == (result.p_value < 0.05)


def test_rank_and_count_tests_match_scipy(group, data):
    def run(test: str, feature: str):
        return group.analyze(StatTest(feature=feature, test=test, segment_by="experiment_group",
                                      control="control", treatment="variant_a"))

    treatment, control = _arms(data, "revenue")
    mann_whitney = run("mann_whitney", "revenue")
    expected = stats.mannwhitneyu(treatment, control)
    assert (mann_whitney.statistic, mann_whitney.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert mann_whitney.effect_size == pytest.approx(2 * expected.statistic / (len(treatment) * len(control)) - 1)
    ks = run("ks_test", "revenue")
    expected = stats.ks_2samp(treatment, control)
    assert (ks.statistic, ks.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    chi = run("chi_squared", "converted")
    table = pd.crosstab(data["experiment_group"], data["converted"]).to_numpy()
    expected = stats.chi2_contingency(table)
    assert (chi.statistic, chi.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert chi.effect_size == pytest.approx(stats.contingency.association(table, method="cramer"))
    assert chi.effect_size_measure == "cramers_v" and chi.confidence_interval is None


def test_record_lookup_samples_reproducibly_and_filters(group, data):
    features = ["click_count", "revenue", "user_tier"]
    first = group.analyze(RecordLookup(features=features, sample=10, seed=3))
    again = group.analyze(RecordLookup(features=features, sample=10, seed=3))
    other = group.analyze(RecordLookup(features=features, sample=10, seed=4))
    ids = [r["user_id"] for r in first.records]
    assert len(set(ids)) == 10 and ids == [r["user_id"] for r in again.records]
    assert ids != [r["user_id"] for r in other.records]
    by_id = data.set_index("user_id")
    for record in first.records:
        assert list(record) == ["user_id", "event_time", *features]
        assert record["revenue"] == pytest.approx(by_id.loc[record["user_id"], "revenue"])
    unseeded = group.analyze(RecordLookup(features=features, sample=5))
    assert isinstance(unseeded.data["seed"], int) and len(unseeded.records) == 5
    gold = group.analyze(RecordLookup(features=["click_count", "revenue"], filter="user_tier = 'gold'", limit=5))
    assert [r["user_id"] for r in gold.records] == data[data["user_tier"] == "gold"]["user_id"].head(5).tolist()


def test_version_diff_schema_and_drift_over_the_norm(store):
    group = store.create_feature_group("items", key_columns=["item_id"])
    group.create_feature("embedding", dtype="float32[4]")
    rng = np.random.default_rng(1)
    old = rng.normal(size=(400, 4)).astype("float32")
    group.write({"item_id": np.arange(400), "embedding": old.tolist()})
    group.create_feature("embedding", dtype="float32[8]", version="v2", description="wider")
    new = (rng.normal(size=(300, 8)) * 0.8).astype("float32")
    group.write({"item_id": np.arange(400, 700), "embedding": new.tolist()})
    result = group.analyze(VersionDiff(feature="embedding", version_a="v1", version_b="v2",
                                       compare=["schema", "distribution"]))
    assert result.schema_changes == {"dtype": {"old": "float32[4]", "new": "float32[8]"},
                                     "description": {"old": None, "new": "wider"}}
    a, b = np.linalg.norm(old.astype(float), axis=1), np.linalg.norm(new.astype(float), axis=1)
    edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 11)
    p = np.maximum(np.histogram(a, edges)[0] / len(a), DRIFT_FLOOR)
    q = np.maximum(np.histogram(b, edges)[0] / len(b), DRIFT_FLOOR)
    drift = result.distribution_drift
    assert drift["psi"] == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-6)
    assert drift["kl_divergence"] == pytest.approx(stats.entropy(q, p), rel=1e-6)
    assert result.data["projection"] == "L2 norm of each vector" and result.data["rows"] == {"old": 400, "new": 300}
    schema_only = group.analyze(VersionDiff(feature="embedding", version_a="v1", version_b="v2", compare=["schema"]))
    assert schema_only.sql is None and schema_only.distribution_drift is None


def test_store_level_analyze_finds_the_group(store, group, data):
    result = store.analyze(Aggregation(feature="revenue", metrics=["max"]))
    assert result.metrics == {"max": pytest.approx(data["revenue"].max())}
    assert group.analyze(Aggregation(feature="revenue", metrics=["min"], window="1d")).rows[0]["date"] == \
        dt.datetime.combine(T0.date(), dt.time())
