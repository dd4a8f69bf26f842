"""``raise serve --http-port``: PUBLISH DASHBOARD answers an http:// URL of the server, which
serves the published page (and lists nothing)."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from analytics_data import CONTEXT, PASSWORD, USER, frame
from conftest_flight import add_user, start_server
from dashboards_data import setup_store
from raise_ import Aggregation, Chart, ChartType, FeatureStore


@pytest.fixture
def served(tmp_path):
    home = tmp_path / "store"
    home.mkdir()
    add_user(home, USER, PASSWORD)
    server = start_server(home, "--http-port", "0")
    store = FeatureStore(CONTEXT, url=server.url, user=USER, password=PASSWORD)
    yield store, home
    store.close()
    server.stop()


@pytest.mark.slow
def test_a_published_dashboard_is_served_over_http(served):
    store, home = served
    setup_store(store, frame(120))
    board = store.create_dashboard("tiers", description="revenue by tier")
    board.add_chart(Chart(title="Revenue by Tier", chart_type=ChartType.PIE, x="user_tier", y="sum",
                          analysis=Aggregation(feature="revenue", metrics=["sum"], group_by="user_tier")))
    url = board.publish()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/acme/mlplatform/recommendation/tiers.html")
    with urllib.request.urlopen(url, timeout=30) as response:
        page = response.read()
    assert page == (home / "dashboards" / "acme" / "mlplatform" / "recommendation" / "tiers.html").read_bytes()
    assert b"Revenue by Tier" in page
    with pytest.raises(urllib.error.HTTPError) as listing:
        urllib.request.urlopen(url.rsplit("/", 1)[0] + "/", timeout=30)
    assert listing.value.code == 404
