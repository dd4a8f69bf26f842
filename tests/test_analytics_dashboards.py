"""Dashboards: the spec's snippet as written, its documented values against pandas/NumPy, the
JSON/YAML/HTML renderings, publishing, the SQL the SDK sends, errors, access control and audit;
embedded and over Flight (one store per connection kind for the module)."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
import yaml

from analytics_data import CONNECTION_KINDS, frame, open_store
from dashboards_data import EVERY_TYPE, TIERS, build_every_type_dashboard, build_spec_dashboard, setup_store
from raise_ import ACL, Aggregation, Chart, ChartType, DashboardParameter, FeatureStore
from raise_.errors import NotFound, PermissionDenied, RaiseError, ValidationError

ROWS = 400


@pytest.fixture(scope="module", params=CONNECTION_KINDS)
def board(request, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"dashboards-{request.param}") / "store"
    home.mkdir()
    data = frame(ROWS)
    for fs in open_store(request.param, home):
        group = setup_store(fs, data)
        dashboard = build_spec_dashboard(fs)
        spec = json.loads(dashboard.render(format="json"))
        yield {"fs": fs, "group": group, "data": data, "dashboard": dashboard, "spec": spec, "home": home,
               "kind": request.param}


def _chart(spec: dict, title: str) -> dict:
    return next(c for c in spec["charts"] if c["title"] == title)


def _frame(chart: dict) -> pd.DataFrame:
    return pd.DataFrame(chart["rows"], columns=chart["columns"])


# -- the documented values -----------------------------------------------------------------------


def test_the_spec_dashboard_renders_its_parameters_and_charts(board):
    spec = board["spec"]
    assert spec["name"] == "engagement-overview"
    assert spec["description"] == "User engagement metrics dashboard"
    assert spec["path"] == "acme/mlplatform/recommendation/engagement-overview"
    date_range, tier = spec["parameters"]
    assert (date_range["name"], date_range["type"], date_range["label"]) == ("date_range", "date_range", "Date Range")
    days = board["data"]["event_time"].dt.strftime("%Y-%m-%d")
    assert date_range["span"] == [days.min(), days.max()]
    assert (tier["name"], tier["type"], tier["label"], tier["options"], tier["default"]) == \
        ("tier", "dropdown", "User Tier", TIERS, "all")
    assert [(c["title"], c["chart_type"]) for c in spec["charts"]] == [
        ("Daily Click Trend", "line"), ("Revenue by Tier", "bar"), ("Click Distribution", "histogram"),
        ("Feature Correlations", "heatmap"), ("Live Engagement Metrics", "table")]
    assert [c["figure"]["data"][0]["type"] for c in spec["charts"]] == ["scatter", "bar", "bar", "heatmap", "table"]
    assert _chart(spec, "Live Engagement Metrics")["source"] == \
        {"live_table": "acme/mlplatform/recommendation/daily_engagement"}


def test_revenue_by_tier_is_pandas_groupby_sum(board):
    chart = _chart(board["spec"], "Revenue by Tier")
    expected = board["data"].groupby("user_tier")["revenue"].sum()
    got = _frame(chart).set_index("user_tier")["sum"].sort_index()
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    trace = chart["figure"]["data"][0]
    assert (chart["x"], chart["y"]) == ("user_tier", ["sum"])
    np.testing.assert_allclose(trace["y"], [dict(zip(trace["x"], trace["y"]))[t] for t in trace["x"]])
    assert sorted(trace["x"]) == sorted(expected.index)


def test_daily_click_trend_is_the_trailing_30_day_sum(board):
    chart = _chart(board["spec"], "Daily Click Trend")
    data = board["data"]
    daily = data.groupby(data["event_time"].dt.floor("D"))["click_count"].sum().astype(float)
    daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max(), freq="D"), fill_value=0.0)
    expected = daily.rolling(30, min_periods=1).sum().tail(30)
    got = _frame(chart)
    assert got["date"].str[:10].tolist() == [d.strftime("%Y-%m-%d") for d in expected.index]
    np.testing.assert_allclose(got["sum"].to_numpy(dtype=float), expected.to_numpy())
    assert chart["figure"]["data"][0]["mode"] == "lines+markers"


def test_click_distribution_is_numpy_histogram(board):
    chart = _chart(board["spec"], "Click Distribution")
    clicks = board["data"]["click_count"].dropna().to_numpy(dtype=float)
    counts, edges = np.histogram(clicks, bins=10)
    got = _frame(chart)
    assert got["count"].tolist() == counts.tolist()
    np.testing.assert_allclose(got["bin_start"], edges[:-1])
    bars = chart["figure"]["data"][0]
    np.testing.assert_allclose(bars["x"], (edges[:-1] + edges[1:]) / 2)
    np.testing.assert_allclose(bars["width"], np.diff(edges))


def test_feature_correlations_are_pandas_pearson(board):
    chart = _chart(board["spec"], "Feature Correlations")
    features = ["click_count", "impression_count", "revenue"]
    expected = board["data"][features].astype(float).dropna().corr()
    heat = chart["figure"]["data"][0]
    assert heat["x"] == features and heat["y"] == features
    np.testing.assert_allclose(np.array(heat["z"], dtype=float), expected.to_numpy(), rtol=1e-9)


def test_the_live_table_chart_shows_the_live_table(board):
    fs = board["fs"]
    chart = _chart(board["spec"], "Live Engagement Metrics")
    live = fs.sql("SELECT * FROM daily_engagement").to_pandas()
    assert chart["columns"] == list(live.columns)
    assert len(chart["rows"]) == len(live)
    table = chart["figure"]["data"][0]
    assert table["header"]["values"] == chart["columns"]
    assert sum(_frame(chart)["count"]) == int(board["data"]["click_count"].count())


def test_yaml_is_the_json_document(board):
    dashboard = board["dashboard"]
    as_yaml, as_json = yaml.safe_load(dashboard.render(format="yaml")), board["spec"]
    for document in (as_yaml, as_json):
        document.pop("rendered_at")
    assert as_yaml == as_json


def test_html_is_one_offline_page_with_working_controls(board):
    page = board["dashboard"].render(format="html")
    assert page.startswith("<!DOCTYPE html>") and "<script src" not in page and "<link" not in page
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js itself is embedded
    assert '<input type="date" data-parameter="date_range" data-bound="from"' in page
    assert page.count("<option ") == len(TIERS) and '<option value="all" selected>' in page
    assert page.count('class="raise-chart"') == 5


def test_publish_writes_the_page_under_the_store_home(board):
    url = board["dashboard"].publish()
    print(f"Published at: {url}")
    assert url.startswith("file://")
    path = Path(urlparse(url).path)
    assert path == (board["home"] / "dashboards" / "acme" / "mlplatform" / "recommendation" /
                    "engagement-overview.html").resolve()
    assert path.read_text().startswith("<!DOCTYPE html>")


# -- catalog object, SQL, errors -----------------------------------------------------------------


def test_dashboards_are_listed_and_described(board):
    fs = board["fs"]
    assert [d.name for d in fs.list_dashboards()] == ["engagement-overview"]
    again = fs.dashboard("engagement-overview")
    assert again.description == "User engagement metrics dashboard"
    assert [p["name"] for p in again.parameters] == ["date_range", "tier"]
    assert [c["title"] for c in again.charts][-1] == "Live Engagement Metrics"
    assert "engagement-overview" in again._repr_html_()
    row = fs.sql("SHOW DASHBOARDS").to_pylist()[0]
    assert row["groups"] == ["acme/mlplatform/recommendation/user-signals"]
    rendered = fs.sql("RENDER DASHBOARD \"engagement-overview\" FORMAT YAML").to_pylist()[0]
    assert rendered["format"] == "yaml" and "Daily Click Trend" in rendered["content"]


def test_the_sdk_sends_raise_sql(board):
    fs = board["fs"]
    board_ = fs.create_dashboard("sql-check", description="d")
    board_.add_parameter(DashboardParameter.dropdown(name="tier", options=["all", "gold"], default="all"))
    board_.add_chart(Chart(title="Tiers", analysis=Aggregation(feature="revenue", metrics=["sum"],
                                                               group_by="user_tier"),
                           chart_type=ChartType.PIE, x="user_tier", y="sum"))
    sent = [s for s in fs.history if "DASHBOARD" in s and "sql-check" in s]
    assert sent[:3] == [
        'CREATE DASHBOARD "acme"/"mlplatform"/"recommendation"/"sql-check" DESCRIPTION \'d\'',
        'ALTER DASHBOARD "acme"/"mlplatform"/"recommendation"/"sql-check" ADD PARAMETER "tier" DROPDOWN '
        "OPTIONS ('all', 'gold') DEFAULT 'all'",
        'ALTER DASHBOARD "acme"/"mlplatform"/"recommendation"/"sql-check" ADD CHART \'Tiers\' AS PIE ON '
        '"acme"/"mlplatform"/"recommendation"/"user-signals" ANALYZE \'{"feature": "revenue", "group_by": '
        '["user_tier"], "kind": "aggregation", "metrics": ["sum"], "periods": null, "rolling": false, '
        '"window": null}\' X "user_tier" Y ("sum")',
    ]
    board_.delete()
    assert [d.name for d in fs.list_dashboards()] == ["engagement-overview"]


@pytest.mark.parametrize("make, code", [
    (lambda: Chart(title="x", analysis=Aggregation(feature="revenue", metrics=["sum"]), chart_type="sparkline"),
     "RAISE-V420"),
    (lambda: Chart(title="x", analysis=Aggregation(feature="revenue", metrics=["sum"]), live_table="t",
                   chart_type=ChartType.BAR), "RAISE-V423"),
    (lambda: Chart(title="x", chart_type=ChartType.BAR), "RAISE-V423"),
    (lambda: DashboardParameter.dropdown(name="tier", options=["all"], default="gold").statement(None),
     "RAISE-V421"),
    (lambda: DashboardParameter.date_range(name="d", default=("2026-02-01", "2026-01-01")).statement(None),
     "RAISE-V421"),
    (lambda: DashboardParameter.date_range(name="d", default=("yesterday", "today")).statement(None),
     "RAISE-V421"),
])
def test_bad_charts_and_parameters_are_refused_with_a_code(make, code):
    with pytest.raises(ValidationError) as refused:
        make()
    assert refused.value.code == code


def test_bad_input_against_the_store_is_refused(board):
    fs, dashboard = board["fs"], board["dashboard"]
    with pytest.raises(ValidationError) as bad_format:
        dashboard.render(format="pdf")
    assert bad_format.value.code == "RAISE-V422"
    with pytest.raises(NotFound) as missing:
        fs.dashboard("no-such-board")
    assert missing.value.code == "RAISE-N420"
    # over Flight a code of its own arrives as the class of its status (the code is kept)
    with pytest.raises(RaiseError) as twice:
        fs.create_dashboard("engagement-overview")
    assert twice.value.code == "RAISE-A420"
    with pytest.raises(RaiseError) as same_title:
        dashboard.add_chart(Chart(title="Revenue by Tier", live_table="daily_engagement"))
    assert same_title.value.code == "RAISE-A421"
    with pytest.raises(RaiseError) as unknown:
        dashboard.add_chart(Chart(title="Ghost", analysis=Aggregation(feature="ghost_feature", metrics=["sum"]),
                                  group="user-signals"))
    assert "ghost_feature" in unknown.value.message
    with pytest.raises(NotFound):
        dashboard.add_chart(Chart(title="No live", live_table="no_such_live_table"))
    broken = fs.create_dashboard("broken")
    broken.add_chart(Chart(title="Wrong y", analysis=Aggregation(feature="revenue", metrics=["sum"],
                                                                 group_by="user_tier"),
                           chart_type=ChartType.BAR, y="avg"))
    with pytest.raises(ValidationError) as wrong_y:
        broken.render()
    assert wrong_y.value.code == "RAISE-V424" and wrong_y.value.name == "avg"
    broken.delete()
    assert [c["title"] for c in dashboard.charts] == [c["title"] for c in board["spec"]["charts"]]


# -- every chart type ----------------------------------------------------------------------------

def test_every_chart_type_draws_its_plotly_trace(board):
    fs, data = board["fs"], board["data"]
    spec = json.loads(build_every_type_dashboard(fs).render())
    assert [c["chart_type"] for c in spec["charts"]] == [t.value for t in ChartType]
    assert len(ChartType) == 12
    for chart in spec["charts"]:
        trace = chart["figure"]["data"][0]
        assert trace["type"] == EVERY_TYPE[ChartType(chart["chart_type"])][3], chart["title"]
        assert chart["rows"], chart["title"]
    by_type = {c["chart_type"]: c for c in spec["charts"]}
    assert by_type["metric"]["figure"]["data"][0]["value"] == int(data["click_count"].count())
    gauge = by_type["gauge"]["figure"]["data"][0]
    assert gauge["value"] == pytest.approx(data["click_count"].isna().mean()) and gauge["mode"] == "gauge+number"
    assert by_type["area"]["figure"]["data"][0]["stackgroup"] == "one"
    assert len(by_type["area"]["figure"]["data"]) == 4  # one series per tier of the live table
    assert sorted(by_type["pie"]["figure"]["data"][0]["labels"]) == sorted(TIERS[1:])
    assert len(by_type["box"]["figure"]["data"][0]["y"]) == 120


def test_charts_need_read_on_what_they_read_and_outsiders_see_nothing(board):
    if board["kind"] != "embedded":
        pytest.skip("the same engine rules run over Flight; checked embedded")
    fs, home = board["fs"], str(board["home"])
    outsider = FeatureStore(fs.context, home=home, user="mallory@evil.com")
    assert outsider.sql("SHOW DASHBOARDS").num_rows == 0
    for statement in ('RENDER DASHBOARD "engagement-overview"', 'PUBLISH DASHBOARD "engagement-overview"',
                      'DROP DASHBOARD "engagement-overview"'):
        with pytest.raises(PermissionDenied):
            outsider.sql(statement)
    fs.project().set_acl(ACL(admins=["bob@acme.com"]))
    fs.feature_group("user-signals").feature("revenue").set_acl(ACL(readers=["alice@acme.com"], inherit=False))
    bob = FeatureStore(fs.context, home=home, user="bob@acme.com")
    mine = bob.create_dashboard("bobs-board")
    mine.add_chart(Chart(title="Clicks", analysis=Aggregation(feature="click_count", metrics=["sum"]),
                         chart_type=ChartType.METRIC))
    with pytest.raises(PermissionDenied):
        mine.add_chart(Chart(title="Revenue", analysis=Aggregation(feature="revenue", metrics=["sum"]),
                             chart_type=ChartType.METRIC, group="user-signals"))
    with pytest.raises(PermissionDenied):
        bob.dashboard("engagement-overview").render()  # its charts read revenue
    assert [c["title"] for c in mine.charts] == ["Clicks"]
    mine.delete()
    for store in (outsider, bob):
        store.close()


def test_dashboard_statements_are_audited(board):
    entries = board["fs"].audit.query(resource="*dashboard:engagement-overview")
    actions = [e.action for e in entries]
    assert actions[:8] == ["CREATE"] + ["UPDATE_METADATA"] * 7 and "READ" in actions[8:]


def test_a_project_drop_cascade_removes_its_dashboards(tmp_path):
    from raise_.engine import Engine

    session = Engine(tmp_path / "store").session("alice@acme.com")
    session.execute("CREATE ORGANIZATION scratch; CREATE DOMAIN scratch/d; CREATE PROJECT scratch/d/p; "
                    "USE scratch/d/p; CREATE DASHBOARD board; PUBLISH DASHBOARD board")
    page = tmp_path / "store" / "dashboards" / "scratch" / "d" / "p" / "board.html"
    assert page.exists()
    with pytest.raises(RaiseError):
        session.execute("DROP PROJECT scratch/d/p")
    session.execute("DROP PROJECT scratch/d/p CASCADE")
    assert not page.exists()
    assert Engine(tmp_path / "store").session(None).execute("SHOW DASHBOARDS").num_rows == 0
