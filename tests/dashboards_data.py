"""The dashboards the dashboard tests build: the spec's snippet as written, and one chart of
every ``ChartType``, over the analytics test data (``analytics_data``)."""
from __future__ import annotations

import pandas as pd

from analytics_data import create_group
from raise_ import (
    Aggregation, Chart, ChartType, Correlation, Dashboard, DashboardParameter, Distribution, RecordLookup,
)

TIERS = ["all", "bronze", "silver", "gold", "platinum"]


def build_spec_dashboard(fs) -> Dashboard:
    """The spec's Dashboards snippet, as written."""
    dashboard = fs.create_dashboard(
        name="engagement-overview",
        description="User engagement metrics dashboard",
    )
    dashboard.add_parameter(
        DashboardParameter.date_range(
            name="date_range",
            label="Date Range",
        )
    )
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
            analysis=Aggregation(
                feature="click_count",
                metrics=["sum"],
                window="1d",
                rolling=True,
                periods=30,
            ),
            chart_type=ChartType.LINE,
            x="date",
            y="sum",
        )
    )
    dashboard.add_chart(
        Chart(
            title="Revenue by Tier",
            analysis=Aggregation(
                feature="revenue",
                metrics=["sum"],
                group_by="user_tier",
            ),
            chart_type=ChartType.BAR,
            x="user_tier",
            y="sum",
        )
    )
    dashboard.add_chart(
        Chart(
            title="Click Distribution",
            analysis=Distribution(
                feature="click_count",
                metrics=["histogram"],
            ),
            chart_type=ChartType.HISTOGRAM,
        )
    )
    dashboard.add_chart(
        Chart(
            title="Feature Correlations",
            analysis=Correlation(
                features=["click_count", "impression_count", "revenue"],
            ),
            chart_type=ChartType.HEATMAP,
        )
    )
    dashboard.add_chart(
        Chart(
            title="Live Engagement Metrics",
            live_table="daily_engagement",
            chart_type=ChartType.TABLE,
        )
    )
    return dashboard


def setup_store(fs, data: pd.DataFrame):
    group = create_group(fs, data)
    group.create_live_table(
        name="daily_engagement",
        analysis=Aggregation(feature="click_count", metrics=["sum", "avg", "count"], window="1d",
                             group_by="user_tier"),
        refresh="on_change",
        description="Daily engagement metrics by tier",
    )
    return group


#: chart type -> (the chart's data, x, y, the Plotly trace type it draws)
EVERY_TYPE = {
    ChartType.LINE: ("rolling", "date", "sum", "scatter"),
    ChartType.BAR: ("tiers", "user_tier", "sum", "bar"),
    ChartType.HISTOGRAM: ("sample", None, "revenue", "histogram"),
    ChartType.SCATTER: ("sample", "click_count", "revenue", "scatter"),
    ChartType.HEATMAP: ("correlation", None, None, "heatmap"),
    ChartType.PIE: ("tiers", "user_tier", "sum", "pie"),
    ChartType.AREA: ("live", "date", "sum", "scatter"),
    ChartType.TABLE: ("tiers", None, None, "table"),
    ChartType.METRIC: ("total", None, "count", "indicator"),
    ChartType.GAUGE: ("total", None, "null_rate", "indicator"),
    ChartType.BOX: ("sample", "user_tier", "revenue", "box"),
    ChartType.VIOLIN: ("sample", "user_tier", "revenue", "violin"),
}
SOURCES = {
    "rolling": dict(analysis=Aggregation(feature="click_count", metrics=["sum"], window="1d", rolling=True,
                                         periods=7)),
    "tiers": dict(analysis=Aggregation(feature="revenue", metrics=["sum"], group_by="user_tier")),
    "sample": dict(analysis=RecordLookup(features=["revenue", "click_count", "user_tier"], sample=120, seed=3)),
    "correlation": dict(analysis=Correlation(features=["click_count", "revenue"], method="spearman")),
    "live": dict(live_table="daily_engagement"),
    "total": dict(analysis=Aggregation(feature="click_count", metrics=["count", "null_rate"])),
}


def build_every_type_dashboard(fs) -> Dashboard:
    dashboard = fs.create_dashboard("every-chart-type", description="one chart of each type")
    dashboard.add_parameter(DashboardParameter.dropdown(name="tier", options=TIERS, default="all"))
    for chart_type, (source, x, y, _) in EVERY_TYPE.items():
        dashboard.add_chart(Chart(title=chart_type.value, chart_type=chart_type, x=x, y=y, **SOURCES[source]))
    return dashboard
