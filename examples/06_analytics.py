"""Analytics: analyses, freshness, live tables, alerts and async analyses on one feature group.

Run it with ``python examples/06_analytics.py``. It uses the embedded store in ``$RAISE_HOME``
(a fresh temporary folder when that is not set) as ``$RAISE_USER``. Alert messages are written
to ``$RAISE_HOME/outbox/<channel>/``; ``raise alerts check`` evaluates due alerts from cron.
The dashboard is published to ``$RAISE_HOME/dashboards/``: open the printed URL in a browser
(it works offline).
"""
import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import (  # noqa: E402
    Aggregation, Chart, ChartType, Condition, Correlation, DashboardParameter, Distribution, FeatureStore,
    Freshness, RecordLookup, StatTest,
)
from raise_.analytics import RefreshPolicy  # noqa: E402
from raise_.errors import RaiseError  # noqa: E402

HOME = Path(os.environ["RAISE_HOME"])
rng = np.random.default_rng(42)
ROWS = 2000


def rows(start: int, count: int) -> dict:
    arm = rng.choice(["control", "variant_a"], count)
    clicks = rng.poisson(12, count).astype(float)
    clicks[rng.random(count) < 0.08] = np.nan  # some users were not tracked
    return {
        "user_id": np.arange(start, start + count),
        "event_time": [dt.datetime(2026, 1, 1) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, count)],
        "click_count": [None if np.isnan(c) else int(c) for c in clicks],
        "impression_count": rng.poisson(200, count),
        "revenue": np.round(rng.gamma(3.0, 4.0, count), 2),
        "user_tier": rng.choice(["bronze", "silver", "gold", "platinum"], count),
        "experiment_group": arm,
        "conversion_rate": rng.normal(0.10, 0.02, count) + np.where(arm == "variant_a", 0.01, 0.0),
    }


fs = FeatureStore("acme/mlplatform/recommendation")
signals = fs.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
signals.create_features_from_schema({
    "click_count": "int64", "impression_count": "int64", "revenue": "float64", "user_tier": "string",
    "experiment_group": "string", "conversion_rate": "float64",
})
signals.write(rows(0, ROWS))

# -- Analyses (each is one SQL query the engine runs under your rights) -------------------------
totals = signals.analyze(Aggregation(feature="click_count", metrics=["count", "null_rate", "avg"]))
print("clicks:", {k: round(v, 3) for k, v in totals.metrics.items()})
by_tier = signals.analyze(Aggregation(feature="revenue", metrics=["sum"], group_by="user_tier"))
print("revenue tiers:", sorted(r["user_tier"] for r in by_tier.rows))
spread = signals.analyze(Distribution(feature="revenue", metrics=["histogram", "percentiles"], bins=5))
print("histogram counts sum:", sum(spread.histogram["counts"]), "| p50 <= p90:",
      spread.percentiles["p50"] <= spread.percentiles["p90"])
corr = signals.analyze(Correlation(features=["click_count", "impression_count", "revenue"]))
print("correlation diagonal:", [corr.correlation_matrix[f][f] for f in corr.features])
test = signals.analyze(StatTest(feature="conversion_rate", test="ttest", segment_by="experiment_group",
                                control="control", treatment="variant_a"))
print("ab test significant:", test.significant, "| effect size measure:", test.effect_size_measure)
gold = signals.analyze(RecordLookup(features=["revenue"], filter="user_tier = 'gold'", limit=3))
print("gold records:", len(gold.records))
again = signals.analyze(Aggregation(feature="click_count", metrics=["count", "null_rate", "avg"]),
                        freshness=Freshness.CACHED)
print("second run from cache:", again.from_cache)

# -- Live tables ----------------------------------------------------------------------------------
daily = signals.create_live_table(
    name="daily_engagement",
    analysis=Aggregation(feature="click_count", metrics=["sum", "avg", "count"], window="1d", group_by="user_tier"),
    refresh="on_change",
    description="Daily engagement metrics by tier",
)
print("live table:", daily.status, daily.refresh_policy, type(daily.last_refresh).__name__)
frame = daily.query()
print("live rows:", len(frame), "| gold rows:", len(daily.query(filter="user_tier = 'gold'")))
total = fs.sql("SELECT SUM(count) AS n FROM daily_engagement").to_pylist()[0]["n"]
print("clicks counted by SQL over the live table:", total)
signals.write(rows(ROWS, 100))  # new data: the next query refreshes the table first
print("after a write:", fs.sql("SELECT SUM(count) AS n FROM daily_engagement").to_pylist()[0]["n"] <
      daily.query()["count"].sum())
print("manual refresh:", daily.refresh().status)
print("history:", [e.trigger for e in daily.refresh_history(limit=5)])
six_hourly = signals.create_live_table("tier_revenue", Aggregation(feature="revenue", metrics=["sum"],
                                                                    group_by="user_tier"),
                                       refresh=RefreshPolicy.cron("0 */6 * * *"))
print("scheduled:", six_hourly.refresh_policy)
try:
    RefreshPolicy.cron("every six hours")
except RaiseError as error:
    print("bad cron refused:", error.code)

# -- Dashboards -----------------------------------------------------------------------------------
dashboard = fs.create_dashboard(
    name="engagement-overview",
    description="User engagement metrics dashboard",
)
dashboard.add_parameter(DashboardParameter.date_range(name="date_range", label="Date Range"))
dashboard.add_parameter(
    DashboardParameter.dropdown(
        name="tier",
        label="User Tier",
        options=["all", "bronze", "silver", "gold", "platinum"],
        default="all",
    )
)
dashboard.add_chart(
    Chart(
        title="Daily Click Trend",
        analysis=Aggregation(feature="click_count", metrics=["sum"], window="1d", rolling=True, periods=30),
        chart_type=ChartType.LINE,
        x="date",
        y="sum",
    )
)
dashboard.add_chart(
    Chart(
        title="Revenue by Tier",
        analysis=Aggregation(feature="revenue", metrics=["sum"], group_by="user_tier"),
        chart_type=ChartType.BAR,
        x="user_tier",
        y="sum",
    )
)
dashboard.add_chart(
    Chart(
        title="Click Distribution",
        analysis=Distribution(feature="click_count", metrics=["histogram"]),
        chart_type=ChartType.HISTOGRAM,
    )
)
dashboard.add_chart(
    Chart(
        title="Feature Correlations",
        analysis=Correlation(features=["click_count", "impression_count", "revenue"]),
        chart_type=ChartType.HEATMAP,
    )
)
dashboard.add_chart(Chart(title="Live Engagement Metrics", live_table="daily_engagement", chart_type=ChartType.TABLE))
spec = json.loads(dashboard.render(format="json"))
print("dashboard charts:", [(c["title"], c["chart_type"]) for c in spec["charts"]])
print("dashboard parameters:", [(p["name"], p["type"]) for p in spec["parameters"]])
url = dashboard.publish()
print(f"Published at: {url}")

# -- Alerts ---------------------------------------------------------------------------------------
fs.create_alert(
    name="high-null-rate",
    analysis=Aggregation(feature="click_count", metrics=["null_rate"]),
    condition=Condition.GREATER_THAN(0.05),
    notify=["data-quality@acme.com"],
    channels=["email", "slack"],
    check_interval="1h",
)
fs.create_alert(
    name="ab-test-significance",
    analysis=StatTest(feature="conversion_rate", test="ttest", segment_by="experiment_group",
                      control="control", treatment="variant_a"),
    condition=Condition.P_VALUE_LESS_THAN(0.05),
    notify=["experiments@acme.com"],
    check_interval="6h",
)
for alert in fs.list_alerts():
    print(f"{alert.name}: {alert.status}")
checked = fs.check_alerts()  # what `raise alerts check` does from cron
print("checked:", sorted((c["alert"].rsplit("/", 1)[1], c["status"]) for c in checked))
for alert in fs.list_alerts():
    print(f"{alert.name}: {alert.status}")
outbox = sorted(p.name for p in (HOME / "outbox" / "slack").glob("analytics-*.json"))
message = json.loads((HOME / "outbox" / "slack" / outbox[0]).read_text())
print("slack outbox:", len(outbox), "message for", message["alert"], "to", message["to"])
try:
    Condition("ABOVE", (1,))
except RaiseError as error:
    print("unknown condition refused:", error.code)

# -- Async analysis -------------------------------------------------------------------------------
job = fs.analyze_async(Correlation(features=["click_count", "impression_count", "revenue"]))
result = job.wait(timeout=120)
print("async job:", job.status, len(result.features))
