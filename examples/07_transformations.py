"""Transformations: jobs that fill feature groups from files, tables and other groups.

Run it with ``python examples/07_transformations.py``. It uses the embedded store in
``$RAISE_HOME`` (a fresh temporary folder when that is not set) as ``$RAISE_USER``; the spec's
``s3://`` paths point at local ``file://`` folders written here. Active jobs run from
``raise serve`` (its scheduler) or ``raise jobs run-due`` (cron); here they are triggered.
"""
import datetime as dt
import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from deltalake import write_deltalake

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import (  # noqa: E402
    ColumnarSource, FeatureGroupSource, FeatureStore, FileSystem, IncrementalConfig, NullCheck, ObjectStorage,
    RangeCheck, RowCountCheck, Schedule, SQLTransform, Target,
)
from raise_.transforms import CheckSeverity, python_transform  # noqa: E402

DATA = Path(os.environ["RAISE_HOME"]).parent / "example-07-data"
rng = np.random.default_rng(7)


def clickstream(start: dt.datetime, hours: int, count: int) -> pa.Table:
    return pa.table({
        "user_id": pa.array(rng.integers(1, 21, count), pa.int64()),
        "event_time": pa.array([start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * hours, count)],
                               pa.timestamp("us")),
        "revenue": pa.array(np.round(rng.gamma(2.0, 3.0, count), 2)),
    })


lake = DATA / "data-lake" / "events" / "clickstream"
lake.mkdir(parents=True, exist_ok=True)
day1 = clickstream(dt.datetime(2026, 1, 1), 48, 600)
pq.write_table(day1, lake / "part-0.parquet")

fs = FeatureStore("acme/mlplatform/recommendation")
signals = fs.create_feature_group("user-signals", key_columns={"user_id": "int64", "date": "date"})
signals.create_features_from_schema({"daily_clicks": "int64", "daily_revenue": "float64", "clicks": "int64",
                                     "revenue": "float64", "segment": "string"})

# -- Creating jobs ------------------------------------------------------------------------------
job = fs.create_job(
    name="compute_daily_clicks",
    sources=[ObjectStorage(path=f"file://{lake}/", format="parquet")],
    transform=SQLTransform(
        name="daily_clicks_transform",
        sql="""
            SELECT user_id, DATE(event_time) as date, COUNT(*) as clicks
            FROM source
            WHERE event_time >= '{{checkpoint}}'
            GROUP BY user_id, DATE(event_time)
        """,
    ),
    target=Target(
        feature_group="user-signals",
        features={"clicks": "daily_clicks"},
        write_mode="upsert",
        key_columns=["user_id", "date"],
    ),
    schedule=Schedule.daily(hour=2),
    incremental=IncrementalConfig.incremental("event_time"),
)
job.activate()
result = fs.deploy_job(job)
print(f"Deployed: {result.url}")
print("status:", job.status, "| cron:", job.schedule.cron, "| next run at 02:00:", job.next_run.hour == 2)

fs.trigger_job(job)
run = job.runs[-1]
print(f"run 1: {run.status}, read {run.rows_read}, wrote {run.rows_written}, checkpoint {run.checkpoint_after}")
stored = signals.read().to_pandas()
frame = day1.to_pandas()
expected = frame.groupby(["user_id", frame["event_time"].dt.date]).size()
print("daily clicks match pandas:", int(stored["daily_clicks"].sum()) == int(expected.sum()) == 600)

# a day later: only the new events are read
day3 = clickstream(dt.datetime(2026, 1, 3), 24, 120)
pq.write_table(day3, lake / "part-1.parquet")
fs.trigger_job("compute_daily_clicks")
print(f"run 2 read {job.runs[-1].rows_read} new rows, {len(job.runs)} runs so far")

# -- Sources ------------------------------------------------------------------------------------
exports = DATA / "exports"
exports.mkdir(exist_ok=True)
pacsv.write_csv(day1.slice(0, 50), exports / "2026-01-01.csv")
warehouse = DATA / "warehouse" / "events"
write_deltalake(str(warehouse), day1, mode="overwrite")
fs.sql(f"CREATE EXTERNAL TABLE IF NOT EXISTS analytics.production.events LOCATION '{warehouse}' FORMAT DELTA")

s3 = ObjectStorage(path=f"file://{lake}/", format="parquet")
local = FileSystem(path=str(exports), format="csv", glob_pattern="*.csv")
warehouse_events = ColumnarSource(catalog="analytics", database="production", table="events",
                                  filter="event_time >= TIMESTAMP '2026-01-02 00:00:00'")
features = FeatureGroupSource(feature_group="acme/mlplatform/recommendation/user-signals",
                              features=["daily_clicks", "daily_revenue"])
print("sources:", [s.name for s in (s3, local, warehouse_events, features)])

# -- SQL transform over a warehouse table -------------------------------------------------------
revenue_job = fs.create_job(
    name="aggregate_clicks",
    sources=[warehouse_events],
    transform=SQLTransform(
        name="aggregate_clicks",
        sql="""
            SELECT
                user_id,
                DATE(event_time) as date,
                COUNT(*) as clicks,
                SUM(revenue) as revenue
            FROM source
            WHERE event_time >= '{{checkpoint}}'
            GROUP BY user_id, DATE(event_time)
        """,
    ),
    target=Target(feature_group="user-signals", features={"clicks": "clicks", "revenue": "revenue"}),
    incremental=IncrementalConfig.incremental("event_time"),
)
fs.trigger_job(revenue_job)
day2 = frame[frame["event_time"] >= "2026-01-02"]
print("warehouse run read the filtered rows:", revenue_job.runs[-1].rows_read == len(day2))


# -- Python transform ---------------------------------------------------------------------------
@python_transform(name="segment_users", dependencies=["pandas"])
def segment_users(context, data):
    import pandas as pd
    df = pd.DataFrame(data)

    def assign_segment(row):
        if row["revenue"] > 100:
            return "high_value"
        elif row["clicks"] > 50:
            return "engaged"
        else:
            return "casual"

    df["segment"] = df.apply(assign_segment, axis=1)
    return df[["user_id", "date", "segment"]].dropna(subset=["date"]).to_dict("records")


segment_job = fs.create_job(
    name="segment_users",
    sources=[FeatureGroupSource(feature_group="user-signals", features=["clicks", "revenue"])],
    transform=segment_users,
    target="user-signals",
    quality_checks=[NullCheck(name="check_user_id", column="user_id", max_null_rate=0.0)],
)
fs.trigger_job(segment_job)
segments = signals.read().to_pandas().dropna(subset=["segment"])["segment"]
print("segments:", sorted(segments.unique()), "| check:", segment_job.runs[-1].checks[0]["result"])

# -- Schedules and incremental modes ------------------------------------------------------------
for schedule in (Schedule.cron("0 */6 * * *"), Schedule.daily(hour=2, minute=30), Schedule.hourly(minute=15),
                 Schedule.every("30m"), Schedule.on_change(sources=["clickstream"]), Schedule.manual()):
    print(f"{schedule!r}: cron={schedule.cron}")
print([c.mode for c in (IncrementalConfig.full(),
                        IncrementalConfig.incremental(checkpoint_column="event_timestamp", lookback="1h"),
                        IncrementalConfig.append(checkpoint_column="id"),
                        IncrementalConfig.upsert(key_columns=["user_id", "date"], checkpoint_column="updated_at"))])

# -- Quality checks -----------------------------------------------------------------------------
null_check = NullCheck(name="check_user_id", column="user_id", max_null_rate=0.0)
range_check = RangeCheck(name="check_ctr", column="click_through_rate", min_value=0.0, max_value=1.0)
count_check = RowCountCheck(name="check_minimum_rows", min_rows=1000)
sample = {"user_id": [1, 2, 3], "click_through_rate": [0.1, 0.4, 1.3]}
for check in (null_check, range_check, count_check):
    outcome = check.check(sample)
    print(f"{check.name}: {outcome.result.value} {outcome.details}")

# an ERROR check that fails stops the run before anything is written
guarded = fs.create_job(
    name="guarded_clicks", sources=[s3],
    transform=SQLTransform(name="all_clicks", sql="SELECT user_id, DATE(event_time) AS date, COUNT(*) AS clicks "
                                                  "FROM source GROUP BY user_id, DATE(event_time)"),
    target=Target(feature_group="user-signals", features={"clicks": "daily_clicks"}),
    quality_checks=[count_check, RangeCheck(name="sane", column="daily_clicks", min_value=0,
                                            severity=CheckSeverity.WARNING)],
)
before = signals.read().to_pandas()["daily_clicks"].sum()
fs.trigger_job(guarded)
failed = guarded.runs[-1]
print("guarded run:", failed.status, "| target unchanged:", signals.read().to_pandas()["daily_clicks"].sum() == before)
print("jobs:", [j.name for j in fs.list_jobs()], "| active:", [j.name for j in fs.list_jobs(status="active")])
