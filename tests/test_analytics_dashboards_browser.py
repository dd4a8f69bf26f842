"""Published dashboards in a real browser: headless Chromium opens the page offline (every
network request goes to a dead proxy), every chart draws Plotly SVG traces with data, the
controls re-filter the charts (set through the URL fragment), and a screenshot is kept as an
artifact of the test. Skipped where Debian's ``chromium`` is not installed."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from analytics_data import frame, open_store
from dashboards_data import build_every_type_dashboard, build_spec_dashboard, setup_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")]
#: what Plotly draws for a chart's traces: a trace group (scatter, bars, pie, box, violin,
#: indicator), a heatmap image or a table
_DRAWN = re.compile(r'class="(?:trace(?:[ "])|hm"|table")')


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    home = tmp_path_factory.mktemp("dashboards-browser") / "store"
    home.mkdir()
    for fs in open_store("embedded", home):
        setup_store(fs, frame(300))
        spec = build_spec_dashboard(fs)
        every = build_every_type_dashboard(fs)
        yield {"spec": (spec.publish(), json.loads(spec.render())),
               "every": (every.publish(), json.loads(every.render()))}


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--hide-scrollbars",
               "--virtual-time-budget=15000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _charts(dom: str) -> list[tuple[dict[str, str], str]]:
    """(attributes, inner DOM) of every chart ``div`` of a dumped page."""
    found = list(re.finditer(r'<div id="raise-chart-\d+"([^>]*)>', dom))
    ends = [m.start() for m in found[1:]] + [dom.index("</main>")]
    return [(dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1))), dom[m.end():end]) for m, end in zip(found, ends)]


def _dump(tmp_path: Path, url: str) -> str:
    return _chromium(tmp_path / "profile", "--dump-dom", url).stdout


@pytest.mark.parametrize("which", ["spec", "every"])
def test_every_chart_renders_with_data_offline(published, tmp_path, which):
    url, spec = published[which]
    page = Path(urlparse(url).path).read_text()
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.DOTALL)
    assert "<script src" not in page and not re.search(r'(?:src|href)="|@import|url\(', markup)
    dom = _dump(tmp_path, url)
    assert f'data-rendered="{len(spec["charts"])}"' in dom
    charts = _charts(dom)
    assert [a["data-title"] for a, _ in charts] == [c["title"] for c in spec["charts"]]
    for (attributes, inner), chart in zip(charts, spec["charts"]):
        assert "main-svg" in inner, chart["title"]
        assert len(_DRAWN.findall(inner)) >= len(chart["figure"]["data"]), chart["title"]
        assert int(attributes["data-points"]) > 0, chart["title"]


def test_the_controls_filter_the_charts(published, tmp_path):
    url, spec = published["spec"]
    trend = _rows(spec, "Daily Click Trend")
    start, end = trend["date"].str[:10].iloc[5], trend["date"].str[:10].iloc[15]  # inside the last 30 days
    dom = _dump(tmp_path, f"{url}#tier=gold&date_range={start},{end}")
    charts = {a["data-title"]: (a, inner) for a, inner in _charts(dom)}
    bars = charts["Revenue by Tier"][1]
    assert bars.count('class="point"') == 1  # only gold's bar
    live = _rows(spec, "Live Engagement Metrics")
    kept = live[(live["user_tier"] == "gold") & (live["date"].str[:10] >= start) & (live["date"].str[:10] <= end)]
    assert int(charts["Live Engagement Metrics"][0]["data-points"]) == len(kept) > 0
    in_range = trend[(trend["date"].str[:10] >= start) & (trend["date"].str[:10] <= end)]
    assert int(charts["Daily Click Trend"][0]["data-points"]) == len(in_range) > 0
    histogram = _rows(spec, "Click Distribution")  # no tier or date column: unfiltered
    assert int(charts["Click Distribution"][0]["data-points"]) == len(histogram)


def _rows(spec: dict, title: str) -> pd.DataFrame:
    chart = next(c for c in spec["charts"] if c["title"] == title)
    return pd.DataFrame(chart["rows"], columns=chart["columns"])


def test_a_screenshot_of_the_published_dashboard(published, tmp_path):
    url, _ = published["spec"]
    shot = tmp_path / "engagement-overview.png"
    _chromium(tmp_path / "profile", "--window-size=1400,1800", f"--screenshot={shot}", url)
    print(f"dashboard screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
