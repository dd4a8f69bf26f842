"""The spec's Transformations snippets through the SDK, embedded and over Flight.

Object-store paths point at local ``file://`` Parquet files; every result is compared with the
same aggregation computed by pandas over the source rows.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raise_ import (
    FeatureGroupSource, IncrementalConfig, NullCheck, ObjectStorage, RangeCheck, RowCountCheck, Schedule,
    SQLTransform, Target,
)
from raise_.transforms import CheckSeverity

pytest_plugins = ["conftest_sdk"]

T0 = dt.datetime(2026, 1, 1)
DAILY_SQL = """
    SELECT user_id, DATE(event_time) as date, COUNT(*) as clicks
    FROM source
    WHERE event_time >= '{{checkpoint}}'
    GROUP BY user_id, DATE(event_time)
"""


def events(rows: int, start: int = 0) -> pa.Table:
    """Click events: user ``i % 7``, one every 5 hours from T0 + 5h * start."""
    ids = range(start, start + rows)
    return pa.table({"user_id": pa.array([i % 7 for i in ids], pa.int64()),
                     "event_time": pa.array([T0 + dt.timedelta(hours=5 * i) for i in ids], pa.timestamp("us")),
                     "revenue": pa.array([float(i % 11) for i in ids])})


def expected_daily(table: pa.Table) -> dict[tuple[int, dt.date], int]:
    frame = table.to_pandas()
    frame["date"] = frame["event_time"].dt.date
    counts = frame.groupby(["user_id", "date"]).size()
    return {(int(u), d): int(n) for (u, d), n in counts.items()}


@pytest.fixture
def lake(tmp_path):
    folder = tmp_path / "data-lake" / "events" / "clickstream"
    folder.mkdir(parents=True)
    pq.write_table(events(40), folder / "part-0.parquet")
    return folder


@pytest.fixture
def user_signals(store):
    group = store.create_feature_group("user-signals", key_columns={"user_id": "int64", "date": "date"})
    group.create_feature("daily_clicks", dtype="int64")
    return group


def create_daily(store, lake, **extra):
    return store.create_job(
        name="compute_daily_clicks",
        sources=[ObjectStorage(path=f"file://{lake}/", format="parquet")],
        transform=SQLTransform(name="daily_clicks_transform", sql=DAILY_SQL),
        target=Target(feature_group="user-signals", features={"clicks": "daily_clicks"}, write_mode="upsert",
                      key_columns=["user_id", "date"]),
        schedule=Schedule.daily(hour=2),
        incremental=IncrementalConfig.incremental("event_time"),
        **extra,
    )


def written(group) -> dict[tuple[int, dt.date], int]:
    frame = group.read().to_pandas() if hasattr(group.read(), "to_pandas") else pd.DataFrame(group.read())
    return {(int(r.user_id), r.date): int(r.daily_clicks) for r in frame.itertuples()}


def test_creating_jobs_snippet_deploys_and_runs_incrementally(store, lake, user_signals):
    job = create_daily(store, lake)
    job.activate()
    result = store.deploy_job(job)
    assert result.url == "raise://acme/mlplatform/recommendation/compute_daily_clicks"
    assert job.status == "active" and job.schedule.cron == "0 2 * * *"
    assert job.next_run.hour == 2 and job.next_run > dt.datetime.now(dt.timezone.utc)

    run_id = store.trigger_job(job)
    run = job.runs[-1]
    assert (run.id, run.status, run.rows_read) == (run_id, "completed", 40)
    assert written(user_signals) == expected_daily(events(40))
    assert run.checkpoint_after == T0 + dt.timedelta(hours=5 * 39)

    # 10 new events: only they are read; their (user, day) counts replace the stored ones
    pq.write_table(events(10, start=40), lake / "part-1.parquet")
    second = store.get_job("compute_daily_clicks").runs
    store.trigger_job("compute_daily_clicks")
    latest = job.runs[-1]
    assert len(job.runs) == len(second) + 1 and latest.rows_read == 10
    assert latest.checkpoint_before == run.checkpoint_after
    new = expected_daily(events(10, start=40))
    assert {k: v for k, v in written(user_signals).items() if k in new} == new


def test_a_failed_error_check_writes_nothing_and_keeps_the_checkpoint(store, lake, user_signals):
    job = create_daily(store, lake, quality_checks=[
        RangeCheck(name="sane_counts", column="daily_clicks", min_value=0, max_value=10,
                   severity=CheckSeverity.WARNING),
        RowCountCheck(name="check_minimum_rows", min_rows=1000),
    ])
    store.trigger_job(job)
    run = job.runs[-1]
    assert run.status == "failed" and "check_minimum_rows" in run.error and run.rows_written == 0
    assert [(c["name"], c["result"]) for c in run.checks] == [("sane_counts", "passed"),
                                                              ("check_minimum_rows", "failed")]
    assert run.checks[1]["details"]["row_count"] == len(expected_daily(events(40)))
    assert user_signals.read().num_rows == 0 and job.checkpoint is None


def test_list_jobs_filters_by_status_and_tags_and_pause_stops_scheduling(store, lake, user_signals):
    create_daily(store, lake, tags=["raise", "clicks"])
    other = store.create_job(name="copy_signals", sources=[FeatureGroupSource(feature_group="user-signals")],
                             transform=SQLTransform(name="copy", sql="SELECT * FROM source"),
                             target="user-signals", schedule=Schedule.on_change())
    other.activate()
    assert [j.name for j in store.list_jobs(status="active")] == ["copy_signals"]
    assert [j.name for j in store.list_jobs(tags=["clicks"])] == ["compute_daily_clicks"]
    other.pause()
    assert other.status == "paused" and other.next_run is None
    assert store.get_job("copy_signals").schedule == Schedule.on_change()


def test_checks_run_on_their_own_with_documented_results():
    data = pd.DataFrame({"user_id": [1, 2, None, 4], "click_through_rate": [0.1, 0.5, 0.9, 1.2]})
    nulls = NullCheck(name="check_user_id", column="user_id", max_null_rate=0.0).check(data)
    assert nulls.result.value == "failed" and nulls.details["null_rate"] == data["user_id"].isna().mean()
    ranged = RangeCheck(name="check_ctr", column="click_through_rate", min_value=0.0, max_value=1.0).check(data)
    assert ranged.details["out_of_range_count"] == int((data["click_through_rate"] > 1.0).sum())
    assert RowCountCheck(name="check_minimum_rows", min_rows=4).check(data).passed
