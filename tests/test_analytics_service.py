"""Analyses as a service: checked before they run, cached by table version, run in the
background, refused like queries, and exported in every format; embedded and over Flight."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from analytics_data import create_group, frame
from raise_ import (
    ACL, Aggregation, Analysis, Correlation, Distribution, FeatureStore, Freshness, RecordLookup, StatTest,
    VersionDiff,
)
from raise_.errors import ExecutionError, NotFound, PermissionDenied, RaiseError, ValidationError

pytest_plugins = ["conftest_sdk"]

EVERY_KIND = [
    Aggregation(feature="click_count", metrics=["sum", "avg"], window="7d", group_by="user_tier"),
    Distribution(feature="revenue", bins=5, segment_by="user_tier"),
    Correlation(features=["click_count", "revenue"], method="spearman"),
    VersionDiff(feature="revenue", version_a="v1", version_b="v2"),
    StatTest(feature="conversion_rate", test="ttest", segment_by="experiment_group", control="control",
             treatment="variant_a"),
    RecordLookup(features=["click_count", "revenue"], filter="user_tier = 'gold'", limit=3),
]


@pytest.fixture
def group(store):
    data = frame(600)
    group = create_group(store, data)
    group.create_feature("revenue", dtype="float64", version="v2", description="net of refunds")
    group.write({"user_id": data["user_id"], "revenue": data["revenue"] * 0.9}, mode="upsert")
    return group


def _selects(store: FeatureStore) -> int:
    return sum(text.startswith(("SELECT", "WITH")) for text in store.history)


@pytest.mark.parametrize("analysis", EVERY_KIND, ids=lambda a: a.kind)
def test_analysis_round_trips_through_a_dict(analysis):
    data = json.loads(json.dumps(analysis.to_dict()))
    assert Analysis.from_dict(data) == analysis


@pytest.mark.parametrize("build, code", [
    (lambda: Aggregation(feature="click_count", metrics=["sum", "p42"]), "RAISE-V401"),
    (lambda: Aggregation(feature="click_count", metrics=["sum"], window="7 days"), "RAISE-V402"),
    (lambda: Aggregation(feature="click_count", metrics=["sum"], window="0d"), "RAISE-V402"),
    (lambda: Aggregation(feature="click_count", metrics=["median"], window="1d", rolling=True, periods=3), "RAISE-V401"),
    (lambda: Aggregation(feature="click_count", rolling=True, periods=3), "RAISE-V402"),
    (lambda: Distribution(feature="revenue", bins=0), "RAISE-V405"),
    (lambda: Correlation(features=["revenue"]), "RAISE-V405"),
    (lambda: Correlation(features=["a", "b"], method="cosine"), "RAISE-V401"),
    (lambda: StatTest(feature="x", test="anova", segment_by="g", control="a", treatment="b"), "RAISE-V401"),
    (lambda: StatTest(feature="x", test="ttest", segment_by="g", control="a", treatment="a"), "RAISE-V407"),
    (lambda: VersionDiff(feature="x", version_a="1", version_b="v2"), "RAISE-V405"),
    (lambda: RecordLookup(features=["x"], sample=0), "RAISE-V405"),
    (lambda: Analysis.from_dict({"kind": "aggregation", "feature": "x", "bogus": 1}), "RAISE-V400"),
    (lambda: Freshness.WITHIN("soon"), "RAISE-V402"),
])
def test_bad_specs_fail_when_built(build, code):
    with pytest.raises(ValidationError) as raised:
        build()
    assert raised.value.code == code


REFUSED = [
    (Aggregation(feature="clicks", metrics=["sum"]), NotFound, "RAISE-N400"),
    (Correlation(features=["click_count", "user_tier"]), ValidationError, "RAISE-V404"),
    (Aggregation(feature="user_tier", metrics=["avg"]), ValidationError, "RAISE-V404"),
    (Distribution(feature="revenue", segment_by="no_such_column"), NotFound, "RAISE-N400"),
    (Aggregation(feature="revenue", metrics=["sum"], window="1d"), ValidationError, "RAISE-V406"),
]


def test_bad_analyses_are_refused_before_any_query(store, group):
    store.create_feature_group("no-time", key_columns=["id"]).create_feature("revenue", dtype="float64")
    before = _selects(store)
    for analysis, error, code in REFUSED:
        target = store.feature_group("no-time") if code == "RAISE-V406" else group
        with pytest.raises(error) as raised:
            target.analyze(analysis)
        assert raised.value.code == code and raised.value.name, analysis
    assert _selects(store) == before
    with pytest.raises(ValidationError, match="RAISE-V400"):
        group.analyze("SELECT 1")
    with pytest.raises(ValidationError, match="RAISE-V408"):
        store.analyze(Aggregation(feature="revenue", metrics=["sum"]))


def test_freshness_cache_is_keyed_by_table_version(store, group):
    spec = Aggregation(feature="click_count", metrics=["sum"])
    first = group.analyze(spec, freshness=Freshness.REAL_TIME)
    selects = _selects(store)
    cached = group.analyze(spec, freshness=Freshness.CACHED)
    within = group.analyze(spec, freshness=Freshness.WITHIN("1h"))
    assert (cached.from_cache, within.from_cache) == (True, True) and _selects(store) == selects
    assert cached.metrics == first.metrics and cached.computed_at == first.computed_at
    assert group.analyze(spec).from_cache is False  # no freshness: always computed
    assert first.table_version == group.refresh().info.table_version is not None
    group.write({"user_id": [10_000], "click_count": [1000]})
    fresh = group.analyze(spec, freshness=Freshness.CACHED)
    assert fresh.from_cache is False and fresh.metrics["sum"] == first.metrics["sum"] + 1000
    assert fresh.table_version == first.table_version + 1
    assert repr(Freshness.WITHIN("1h")) == "Freshness.WITHIN(1:00:00)"


def test_async_analysis_completes_and_fails(store, group):
    with store._executor.lock:  # the caller holds the connection, so the job cannot finish yet
        job = store.analyze_async(Correlation(features=["click_count", "impression_count", "revenue"],
                                              method="spearman"))
        assert job.status in ("pending", "running") and len(job.id) == 32
        with pytest.raises(ExecutionError, match="RAISE-X400"):
            job.wait(timeout=0.05)
    result = job.wait(timeout=60)
    assert job.status == "completed" and job.result() is result
    assert result.to_dict()["data"]["features"] == ["click_count", "impression_count", "revenue"]
    failing = store.analyze_async(RecordLookup(features=["revenue"], filter="no_such_column > 1"), group=group.name)
    with pytest.raises(RaiseError):
        failing.wait(timeout=60)
    assert failing.refresh().status == "failed" and failing.error is not None
    with pytest.raises(RaiseError):
        failing.result()


def test_an_analysis_over_an_unreadable_feature_is_refused(make_store, group, tmp_path, server_url):
    group.feature("revenue").set_acl(ACL(readers=["alice@acme.com"], inherit=False))
    group.set_acl(ACL(readers=["bob@acme.com"]))
    if server_url is None:
        bob = FeatureStore("acme/mlplatform/recommendation", home=str(tmp_path / "store"), user="bob@acme.com")
    else:
        from conftest_flight import add_user

        add_user(tmp_path / "store", "bob@acme.com", "bob-password")
        bob = FeatureStore("acme/mlplatform/recommendation", url=server_url, user="bob@acme.com",
                           password="bob-password")
    with bob:
        bobs = bob.feature_group("user-signals")
        assert bobs.analyze(Aggregation(feature="click_count", metrics=["count"])).metrics["count"] > 0
        for analysis in (Aggregation(feature="revenue", metrics=["sum"]),
                         Distribution(feature="revenue"),
                         RecordLookup(features=["click_count"], filter="revenue > 10")):
            with pytest.raises(PermissionDenied) as raised:
                bobs.analyze(analysis)
            assert "revenue" in str(raised.value)


def test_every_result_exports_every_format(group):
    for analysis in EVERY_KIND:
        result = group.analyze(analysis)
        frame_ = result.to_dataframe()
        assert isinstance(frame_, pd.DataFrame) and len(frame_) > 0, analysis.kind
        exported = json.loads(result.to_json())
        assert exported["analysis"] == result.analysis.to_dict() and exported["from_cache"] is False
        assert exported["data"].keys() == result.data.keys() == result.to_dict()["data"].keys()
        assert len(pd.read_csv(io.StringIO(result.to_csv()))) == len(frame_)
        page = result._repr_html_()
        assert page.startswith("<table") and "</table>" in page
        assert analysis.kind in repr(result)
