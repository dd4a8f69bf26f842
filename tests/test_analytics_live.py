"""Live tables: materialized analyses in the catalog and a Delta table, queryable from SQL,
refreshed by policy, refused and audited like queries; embedded and over Flight."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics_data import create_group, frame
from raise_ import ACL, Aggregation, Correlation, RefreshPolicy
from raise_.errors import NotFound, PermissionDenied, RaiseError, ValidationError

pytest_plugins = ["conftest_sdk"]

PER_TIER = Aggregation(feature="revenue", metrics=["sum", "avg", "count"], group_by="user_tier")


@pytest.fixture
def data():
    return frame(400)


@pytest.fixture
def group(store, data):
    return create_group(store, data)


def _expected(data: pd.DataFrame) -> pd.DataFrame:
    grouped = data.groupby("user_tier")["revenue"]
    return pd.DataFrame({"sum": grouped.sum(), "avg": grouped.mean(), "count": grouped.count()})


def _by_tier(frame_: pd.DataFrame) -> pd.DataFrame:
    return frame_.set_index("user_tier").sort_index()[["sum", "avg", "count"]]


def _assert_matches(got: pd.DataFrame, data: pd.DataFrame) -> None:
    expected = _expected(data)
    got = _by_tier(got)
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got["sum"], expected["sum"], rtol=1e-12)
    np.testing.assert_allclose(got["avg"], expected["avg"], rtol=1e-12)
    assert got["count"].tolist() == expected["count"].tolist()


def test_a_live_table_holds_the_analysis_and_sql_reads_it_by_name(store, group, data):
    before = dt.datetime.now(dt.timezone.utc)
    live = group.create_live_table("tier_revenue", PER_TIER, refresh="on_change",
                                   description="revenue by tier")
    assert live.status == "active"
    assert repr(live.refresh_policy) == 'RefreshPolicy(type="on_change")'
    assert live.last_refresh >= before and live.description == "revenue by tier"
    _assert_matches(live.query(), data)
    _assert_matches(store.sql('SELECT * FROM tier_revenue').to_pandas(), data)
    gold = live.query(filter="user_tier = 'gold'")
    assert gold["user_tier"].tolist() == ["gold"]
    assert gold["sum"].iloc[0] == pytest.approx(data.loc[data.user_tier == "gold", "revenue"].sum(), rel=1e-12)
    listed = store.sql("SHOW LIVE TABLES").to_pylist()
    assert [(t["name"], t["group"], t["rows"]) for t in listed] == [
        ("tier_revenue", "acme/mlplatform/recommendation/user-signals", 4)]


def test_on_change_refreshes_when_the_group_moved_and_keeps_history(group, data):
    live = group.create_live_table("tier_revenue", PER_TIER)
    more = frame(50, seed=11).assign(user_id=lambda f: f.user_id + 10_000)
    group.write(more)
    _assert_matches(live.query(), pd.concat([data, more]))
    event = live.refresh()
    assert (event.status, event.trigger, event.rows) == ("completed", "manual", 4)
    history = live.refresh_history(limit=5)
    assert [e.trigger for e in history] == ["manual", "on_change", "create"]
    assert [e.id for e in history] == [3, 2, 1]
    assert history[1].source_version > history[2].source_version
    assert live.refresh_history(limit=1) == history[:1]


def test_a_query_without_changes_does_not_refresh(group):
    live = group.create_live_table("tier_revenue", PER_TIER)
    live.query()
    live.query()
    assert [e.trigger for e in live.refresh_history()] == ["create"]


def test_a_manual_table_changes_only_when_refreshed(group, data):
    live = group.create_live_table("tier_revenue", PER_TIER, refresh=RefreshPolicy.manual())
    group.write(frame(30, seed=3).assign(user_id=lambda f: f.user_id + 20_000))
    _assert_matches(live.query(), data)
    assert live.refresh().status == "completed"
    assert live.query()["count"].sum() == len(data) + 30


def test_scheduled_policies_keep_their_cron_schedule(store, group):
    live = group.create_live_table("six_hourly", PER_TIER, refresh=RefreshPolicy.cron("0 */6 * * *"))
    assert repr(live.refresh_policy) == 'RefreshPolicy(type="cron", cron="0 */6 * * *")'
    hourly = group.create_live_table("hourly", PER_TIER, refresh=RefreshPolicy.hourly())
    assert hourly.refresh_policy == RefreshPolicy.hourly()
    assert RefreshPolicy.daily().schedule == "0 0 * * *"
    rows = {r["name"]: r["cron"] for r in store.sql("SHOW LIVE TABLES").to_pylist()}
    assert rows == {"six_hourly": "0 */6 * * *", "hourly": "0 * * * *"}


def test_a_correlation_matrix_keeps_its_row_labels(group, data):
    live = group.create_live_table("corr", Correlation(features=["revenue", "conversion_rate"]))
    table = live.query().set_index("feature")
    assert table.loc["revenue", "conversion_rate"] == pytest.approx(
        data["revenue"].corr(data["conversion_rate"]), abs=1e-12)


@pytest.mark.parametrize("make, code", [
    (lambda: RefreshPolicy.cron("61 * * * *"), "RAISE-V410"),
    (lambda: RefreshPolicy.cron("every six hours"), "RAISE-V410"),
    (lambda: "weekly", "RAISE-V410"),
])
def test_a_bad_refresh_policy_is_refused_and_nothing_is_written(store, group, make, code):
    with pytest.raises(RaiseError) as refused:
        group.create_live_table("bad", PER_TIER, refresh=make())
    assert refused.value.code == code
    assert store.sql("SHOW LIVE TABLES").num_rows == 0


def test_a_bad_analysis_is_refused_and_nothing_is_written(store, group):
    with pytest.raises(NotFound):
        group.create_live_table("bad", Aggregation(feature="no_such_feature", metrics=["sum"]))
    with pytest.raises(ValidationError) as refused:
        store.sql("CREATE LIVE TABLE bad ON \"user-signals\" AS ANALYZE '{\"feature\": 1}'")
    assert refused.value.code == "RAISE-V413"
    assert store.sql("SHOW LIVE TABLES").num_rows == 0


def test_reading_and_refreshing_need_read_on_the_analysed_features(make_store, store, group):
    live = group.create_live_table("tier_revenue", PER_TIER)
    bob = make_store(user="bob@acme.com")
    with pytest.raises(PermissionDenied):
        bob.sql("SELECT * FROM tier_revenue")
    with pytest.raises(PermissionDenied):
        bob.sql('REFRESH LIVE TABLE tier_revenue')
    with pytest.raises(PermissionDenied):
        bob.sql("DROP LIVE TABLE tier_revenue")
    group.set_acl(ACL(readers=["bob@acme.com"]))
    assert bob.sql("SELECT count(*) AS n FROM tier_revenue").to_pylist() == [{"n": 4}]
    assert [t["name"] for t in bob.sql("SHOW LIVE TABLES").to_pylist()] == ["tier_revenue"]
    assert live.status == "active"


def test_live_tables_are_audited_and_dropped(store, group):
    live = group.create_live_table("tier_revenue", PER_TIER)
    live.refresh()
    live.delete()
    entries = [(e.action, e.resource) for e in store.audit.query(resource="*live table:*")]
    resource = "acme/mlplatform/recommendation/live table:tier_revenue"
    assert entries == [("CREATE", resource), ("WRITE", resource), ("DELETE", resource)]
    assert store.sql("SHOW LIVE TABLES").num_rows == 0
    with pytest.raises(RaiseError):
        store.sql("SELECT * FROM tier_revenue")


@pytest.mark.parametrize("text", [
    "CREATE OR REPLACE LIVE TABLE \"t\" ON \"p\"/\"g\" AS ANALYZE '{\"kind\": \"aggregation\"}' REFRESH CRON "
    "'0 */6 * * *' DESCRIPTION 'it''s daily'",
    "CREATE LIVE TABLE IF NOT EXISTS \"t\" ON \"g\" AS ANALYZE '{\"kind\": \"x\"}' REFRESH MANUAL",
    'REFRESH LIVE TABLE "a"/"b"/"c"/"t" IF STALE', 'SHOW LIVE TABLES IN "a"/"b"/"c"',
    'DESCRIBE LIVE TABLE "t"', 'SHOW REFRESHES OF LIVE TABLE "t" LIMIT 3', 'DROP LIVE TABLE IF EXISTS "t"',
    "CREATE ALERT \"a\" ON \"g\" AS ANALYZE '{\"kind\": \"x\"}' WHEN OUTSIDE(-1, 2.5) NOTIFY ('x@y.com') "
    "CHANNELS ('email', 'slack') EVERY '6h'",
    'SHOW ALERTS', 'SHOW FIRINGS OF ALERT "a"', 'DROP ALERT "a"', 'CHECK ALERTS IN "a"/"b"/"c" FORCE',
])
def test_analytics_statements_round_trip(text):
    from grammar import parse, render

    [statement] = parse(text)
    assert render(statement) == text and parse(render(statement)) == [statement]


def test_a_project_dropped_with_cascade_takes_its_live_tables_and_alerts(tmp_path):
    from raise_.engine import Engine

    session = Engine(tmp_path / "store").session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64;
        INSERT INTO g VALUES (1, 2.0), (2, 4.0);
        CREATE LIVE TABLE t ON g AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["avg"]}';
        CREATE ALERT a ON g AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["avg"]}'
            WHEN EQUALS(3)""")
    assert session.execute("SELECT avg FROM t").to_pylist() == [{"avg": 3.0}]
    uri = Path(session.catalog.get("live table", "acme/ml/rec/t")["uri"])
    assert uri.exists()
    with pytest.raises(RaiseError):
        session.execute("DROP PROJECT acme/ml/rec")
    session.execute("DROP PROJECT acme/ml/rec CASCADE")
    session.execute("CREATE PROJECT acme/ml/rec")
    assert session.execute("SHOW LIVE TABLES").num_rows == 0 and session.execute("SHOW ALERTS").num_rows == 0
    assert not uri.exists()


def test_a_live_table_over_a_group_without_rows_fills_on_its_first_refresh(tmp_path):
    from raise_.engine import Engine

    session = Engine(tmp_path / "store").session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64; CREATE FEATURE g.k STRING;
        CREATE LIVE TABLE t ON g
            AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["sum"], "group_by": ["k"]}'""")
    assert session.execute("SHOW LIVE TABLES").to_pylist()[0]["rows"] == 0
    with pytest.raises(NotFound):
        session.execute("SELECT * FROM t")
    session.execute("INSERT INTO g VALUES (1, 2.0, 'a'), (2, 4.0, 'a'), (3, 1.0, 'b')")
    assert session.execute("REFRESH LIVE TABLE t IF STALE").to_pylist()[0]["trigger"] == "on_change"
    assert session.execute("SELECT k, sum FROM t ORDER BY k").to_pylist() == [
        {"k": "a", "sum": 6.0}, {"k": "b", "sum": 1.0}]


def test_raise_live_refresh_brings_due_tables_up_to_date(tmp_path, capsys):
    from raise_.cli import main
    from raise_.engine import Engine

    home = tmp_path / "store"
    session = Engine(home).session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64;
        INSERT INTO g VALUES (1, 2.0);
        CREATE LIVE TABLE changes ON g AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["count"]}';
        CREATE LIVE TABLE by_hand ON g AS ANALYZE '{"kind": "aggregation", "feature": "x", "metrics": ["count"]}'
            REFRESH MANUAL""")
    session.execute("INSERT INTO g VALUES (2, 3.0)")
    assert main(["live", "refresh", "--home", str(home), "--format", "json"]) == 0
    rows = {r["live_table"].rsplit("/", 1)[1]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert (rows["changes"]["status"], rows["changes"]["trigger"]) == ("completed", "on_change")
    assert rows["by_hand"]["status"] == "up_to_date"
    assert session.execute("SELECT count FROM changes").to_pylist() == [{"count": 2}]
    assert session.execute("SELECT count FROM by_hand").to_pylist() == [{"count": 1}]


MERGEABLE = [
    Aggregation(feature="revenue", metrics=["sum", "count", "min", "max"], window="7d", group_by="user_tier"),
    Aggregation(feature="click_count", metrics=["count", "sum", "min", "max"]),
]


@pytest.mark.parametrize("analysis", MERGEABLE, ids=["windowed-by-tier", "ungrouped"])
def test_appends_refresh_incrementally_and_match_a_full_recompute(group, data, analysis):
    live = group.create_live_table("merged", analysis)
    group.write(frame(80, seed=5).assign(user_id=lambda f: f.user_id + 50_000))
    got = live.query()
    [event] = live.refresh_history(limit=1)
    assert (event.trigger, event.mode) == ("on_change", "incremental")
    full = group.analyze(analysis).to_dataframe()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), full.reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-12)
    clicks = pd.concat([data, frame(80, seed=5)])["click_count"]
    if analysis.group_by is None:
        assert got.to_dict("records") == [{"count": clicks.count(), "sum": clicks.sum(),
                                           "min": clicks.min(), "max": clicks.max()}]


def test_an_upsert_is_recomputed_in_full(group, data):
    analysis = MERGEABLE[1]
    live = group.create_live_table("merged", analysis)
    group.write({"user_id": data["user_id"][:10], "click_count": [1000] * 10}, mode="upsert")
    got = live.query()
    assert live.refresh_history(limit=1)[0].mode == "full"
    assert got["max"].tolist() == [1000]
    pd.testing.assert_frame_equal(got, group.analyze(analysis).to_dataframe(), check_dtype=False)


BY_PARTS = [
    Aggregation(feature="click_count", metrics=["count", "avg", "null_rate", "stddev", "variance", "max"],
                window="7d", group_by="user_tier"),
    Aggregation(feature="click_count", metrics=["avg", "null_rate", "stddev", "variance", "sum"]),
]


@pytest.mark.parametrize("analysis", BY_PARTS, ids=["windowed-by-tier", "ungrouped"])
def test_averages_null_rates_and_spreads_merge_through_partial_sums(group, data, analysis):
    live = group.create_live_table("merged", analysis)
    added = [frame(80, seed=seed).assign(user_id=lambda f, s=seed: f.user_id + 50_000 * s) for seed in (5, 6)]
    for more in added:  # the second merge adds to partials the first one stored
        group.write(more)
        got = live.query()
        assert live.refresh_history(limit=1)[0].mode == "incremental"
    full = group.analyze(analysis).to_dataframe()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), full.reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-9)
    if analysis.group_by is None:
        clicks = pd.concat([data, *added])["click_count"]
        values = clicks.dropna().to_numpy(dtype="float64")
        [row] = got.to_dict("records")
        np.testing.assert_allclose([row["avg"], row["stddev"], row["variance"]],
                                   [values.mean(), values.std(ddof=1), values.var(ddof=1)], rtol=1e-9)
        assert row["null_rate"] == pytest.approx(clicks.isna().mean(), rel=1e-12)
        assert row["sum"] == values.sum()


@pytest.mark.parametrize("kept", [True, False], ids=["rows-in-memory", "rows-read-back"])
def test_rows_left_by_a_refresh_whose_statement_failed_are_not_merged(tmp_path, kept):
    import pyarrow as pa

    from raise_.analytics import incremental
    from raise_.engine import Engine

    engine = Engine(tmp_path / "store")
    session = engine.session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64; CREATE FEATURE g.k STRING;
        INSERT INTO g VALUES (1, 2.0, 'a'), (2, 4.0, 'a'), (3, 1.0, 'b');
        CREATE LIVE TABLE t ON g AS ANALYZE
            '{"kind": "aggregation", "feature": "x", "metrics": ["sum", "count"], "group_by": ["k"]}'""")
    uri = session.catalog.get("live table", "acme/ml/rec/t")["uri"]
    # what a refresh that wrote its rows and then failed to commit leaves: a newer Delta version
    engine.storage.write(uri, pa.table({"k": ["a", "b"], "sum": [100.0, 100.0], "count": [9, 9]}), "overwrite", ())
    if not kept:
        incremental._KEPT.clear()
    session.execute("INSERT INTO g VALUES (4, 8.0, 'b'), (5, 1.0, 'c')")
    [event] = session.execute("REFRESH LIVE TABLE t IF STALE").to_pylist()
    assert (event["status"], event["mode"]) == ("completed", "incremental")
    assert session.execute("SELECT k, sum, count FROM t ORDER BY k").to_pylist() == [
        {"k": "a", "sum": 6.0, "count": 2}, {"k": "b", "sum": 9.0, "count": 2}, {"k": "c", "sum": 1.0, "count": 1}]


def test_a_feature_resolving_to_a_new_version_is_recomputed_in_full(group, data):
    live = group.create_live_table("merged", MERGEABLE[1])
    group.create_feature("click_count", dtype="int64", version="v2")
    group.write(frame(80, seed=5).assign(user_id=lambda f: f.user_id + 50_000))
    got = live.query()
    assert live.refresh_history(limit=1)[0].mode == "full"
    pd.testing.assert_frame_equal(got, group.analyze(MERGEABLE[1]).to_dataframe(), check_dtype=False)


def test_a_feature_without_values_yet_merges_once_it_has_some(tmp_path):
    from raise_.engine import Engine

    session = Engine(tmp_path / "store").session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64; CREATE FEATURE g.k STRING;
        INSERT INTO g (id, k) VALUES (1, 'a');
        CREATE LIVE TABLE t ON g AS ANALYZE
            '{"kind": "aggregation", "feature": "x", "metrics": ["sum", "count"], "group_by": ["k"]}'""")
    modes = []
    for values in ("(2, NULL, 'b')", "(3, 2.5, 'b')", "(4, 1.5, 'a')"):
        session.execute(f"INSERT INTO g VALUES {values}")
        modes.append(session.execute("REFRESH LIVE TABLE t IF STALE").to_pylist()[0]["mode"])
    # a sum of no values has no type to merge into: recomputed until there is one
    assert modes == ["full", "full", "incremental"]
    assert session.execute("SELECT k, sum, count FROM t ORDER BY k").to_pylist() == [
        {"k": "a", "sum": 1.5, "count": 1}, {"k": "b", "sum": 2.5, "count": 1}]


def test_rows_kept_in_memory_by_one_store_are_not_served_to_another(tmp_path):
    import pyarrow as pa

    from raise_.analytics import incremental
    from raise_.engine import Engine

    first = Engine(tmp_path / "store")
    session = first.session(None, "acme/ml/rec")
    session.execute("""CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.x FLOAT64; CREATE FEATURE g.k STRING;
        INSERT INTO g VALUES (1, 2.0, 'a'), (2, 4.0, 'a'), (3, 1.0, 'b');
        CREATE LIVE TABLE t ON g AS ANALYZE
            '{"kind": "aggregation", "feature": "x", "metrics": ["sum", "count"], "group_by": ["k"]}'""")
    record = dict(session.catalog.get("live table", "acme/ml/rec/t"))
    since = record["rows_at"][0]
    stored = incremental._stored_rows(session, record, since)
    assert sorted(stored.to_pylist(), key=lambda r: r["k"]) == [
        {"k": "a", "sum": 6.0, "count": 2}, {"k": "b", "sum": 1.0, "count": 1}]
    # the first store keeps other rows for the same table and version in memory
    incremental.kept(session, record, pa.table({"k": ["z"], "sum": [0.0], "count": [0]}), since)
    assert incremental._stored_rows(session, record, since).to_pylist() == [{"k": "z", "sum": 0.0, "count": 0}]
    other = Engine(tmp_path / "store").session(None, "acme/ml/rec")
    assert sorted(incremental._stored_rows(other, record, since).to_pylist(), key=lambda r: r["k"]) == [
        {"k": "a", "sum": 6.0, "count": 2}, {"k": "b", "sum": 1.0, "count": 1}]
