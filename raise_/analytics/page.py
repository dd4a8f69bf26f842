"""A rendered dashboard as one self-contained HTML page (and as JSON or YAML).

The page embeds Plotly's bundled plotly.js (``plotly.offline.get_plotlyjs()``) and the
dashboard's document (parameters, charts, their rows and figures), so it works offline and
fetches nothing. The parameters are controls: a date range (two date inputs) and dropdowns;
changing one keeps, in every chart whose data has the parameter's column, only the rows that
match, and redraws it (``Plotly.react``). The URL's fragment sets the controls
(``#tier=gold&date_range=2026-01-01,2026-01-15``), so a filtered view can be linked. When every
chart is drawn, ``<body data-rendered="N">`` says how many are.
"""
from __future__ import annotations

import json
from html import escape
from typing import Any


__all__ = ["render_document", "html_page"]


def render_document(document: dict[str, Any], format: str) -> str:
    """The document as ``json`` or ``yaml`` text (without the page's row bookkeeping), or the
    HTML page."""
    if format == "html":
        return html_page(document)
    public = {**document, "charts": [{k: v for k, v in c.items() if k != "traces"} for c in document["charts"]]}
    if format == "yaml":
        import yaml  # loaded here: only a YAML export needs it, not every start

        return yaml.safe_dump(public, sort_keys=False, allow_unicode=True)
    return json.dumps(public, indent=2)


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no HTML comment)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _controls(parameters: list[dict[str, Any]]) -> str:
    parts = []
    for p in parameters:
        label = escape(p.get("label") or p["name"])
        name = escape(p["name"], quote=True)
        if p["type"] == "date_range":
            low, high = (p.get("default") or p.get("span") or ["", ""])
            span_low, span_high = p.get("span") or ["", ""]
            parts.append(
                f'<label class="raise-control">{label} <input type="date" data-parameter="{name}" data-bound="from" '
                f'value="{escape(low or "")}" min="{escape(span_low or "")}" max="{escape(span_high or "")}"> to '
                f'<input type="date" data-parameter="{name}" data-bound="to" value="{escape(high or "")}" '
                f'min="{escape(span_low or "")}" max="{escape(span_high or "")}"></label>')
        else:
            chosen = p.get("default") or p["options"][0]
            options = "".join(f'<option value="{escape(o, quote=True)}"{" selected" if o == chosen else ""}>'
                              f'{escape(o)}</option>' for o in p["options"])
            parts.append(f'<label class="raise-control">{label} <select data-parameter="{name}">{options}'
                         f'</select></label>')
    return "".join(parts)


def _template() -> dict[str, Any]:
    """Plotly's default template, which the page applies to every chart's layout."""
    import plotly.graph_objects as go

    return json.loads(go.Figure(layout={"template": "plotly"}).to_json())["layout"]["template"]


def html_page(document: dict[str, Any]) -> str:
    """One HTML file: plotly.js, the document, the controls and a ``div`` per chart."""
    from plotly.offline import get_plotlyjs

    charts = "".join(
        f'<section class="raise-chart"><div id="raise-chart-{i}" data-chart-type="{escape(c["chart_type"])}" '
        f'data-title="{escape(c["title"], quote=True)}"></div></section>'
        for i, c in enumerate(document["charts"]))
    title = escape(document["name"])
    description = escape(document.get("description") or "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{_STYLE}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{title}</h1><p>{description}</p>"
        f"<p class=\"raise-meta\">{escape(document['path'])} · rendered {escape(document['rendered_at'])}</p>"
        f"<form class=\"raise-controls\" onsubmit=\"return false\">{_controls(document['parameters'])}</form></header>"
        f"<main>{charts}</main>"
        f"<script type=\"application/json\" id=\"raise-dashboard\">{_script_json({**document, 'template': _template()})}</script>"
        f"<script type=\"text/javascript\">{_SCRIPT}</script></body></html>\n"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #dde1e6; }
h1 { margin: 0 0 4px; font-size: 22px; } header p { margin: 2px 0; }
.raise-meta { color: #687080; font-size: 12px; }
.raise-controls { display: flex; gap: 24px; flex-wrap: wrap; margin-top: 8px; }
.raise-control { font-size: 14px; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; padding: 16px 24px; }
.raise-chart { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 8px; }
"""

# Row filtering: a chart keeps row r when every parameter that applies to its data accepts it;
# each trace's points are the rows listed in its ``traces`` entry, so filtering a trace keeps the
# points of kept rows in every attribute that holds them.
_SCRIPT = r"""
(function () {
  var doc = JSON.parse(document.getElementById('raise-dashboard').textContent);
  var state = {};
  function column(chart, p) {
    var cols = chart.columns;
    if (p.type === 'date_range') {
      if (p.column) { return cols.indexOf(p.column) >= 0 ? [p.column] : []; }
      return cols.filter(function (c) { return chart.types[c] === 'date'; });
    }
    var name = p.column || p.name;
    if (cols.indexOf(name) >= 0) { return [name]; }
    var found = cols.filter(function (c) { return c.slice(-(p.name.length + 1)) === '_' + p.name; });
    return found.slice(0, 1);
  }
  function accepts(p, value) {
    var chosen = state[p.name];
    if (p.type === 'date_range') {
      if (value === null) { return false; }
      var day = String(value).slice(0, 10);
      return (!chosen[0] || day >= chosen[0]) && (!chosen[1] || day <= chosen[1]);
    }
    if (chosen.toLowerCase() === 'all' && p.options.indexOf(chosen) >= 0) { return true; }
    return String(value) === chosen;
  }
  function keptRows(chart) {
    var checks = [];
    doc.parameters.forEach(function (p) {
      column(chart, p).forEach(function (c) { checks.push([p, chart.columns.indexOf(c)]); });
    });
    return chart.rows.map(function (row) {
      return checks.every(function (check) { return accepts(check[0], row[check[1]]); });
    });
  }
  function pick(values, rows, keep) {
    return values.filter(function (_, k) { return keep[rows[k]]; });
  }
  function filtered(chart, keep) {
    return chart.figure.data.map(function (trace, i) {
      var meta = chart.traces[i], copy = JSON.parse(JSON.stringify(trace));
      meta.fields.forEach(function (field) {
        if (field === 'cells.values') {
          copy.cells.values = trace.cells.values.map(function (col) { return pick(col, meta.rows, keep); });
        } else if (field === 'value') {
          var shown = pick(meta.values, meta.rows, keep).filter(function (v) { return v !== null; });
          copy.value = shown.length ? shown[shown.length - 1] : null;
        } else if (trace[field] !== undefined && Array.isArray(trace[field])) {
          copy[field] = pick(trace[field], meta.rows, keep);
        }
      });
      return copy;
    });
  }
  function points(data) {
    return data.reduce(function (n, t) {
      if (t.type === 'indicator') { return n + (t.value === null ? 0 : 1); }
      if (t.type === 'table') { return n + (t.cells.values.length ? t.cells.values[0].length : 0); }
      var arr = t.z || t.values || t.y || t.x || [];
      return n + arr.length;
    }, 0);
  }
  function draw(first) {
    var jobs = doc.charts.map(function (chart, i) {
      var div = document.getElementById('raise-chart-' + i), data = filtered(chart, keptRows(chart));
      div.setAttribute('data-points', String(points(data)));
      var config = {displaylogo: false, responsive: true, staticPlot: false};
      var layout = Object.assign({template: doc.template}, chart.figure.layout);
      return (first ? Plotly.newPlot : Plotly.react)(div, data, layout, config);
    });
    return Promise.all(jobs);
  }
  function read() {
    document.querySelectorAll('[data-parameter]').forEach(function (el) {
      var name = el.getAttribute('data-parameter'), bound = el.getAttribute('data-bound');
      if (bound === null) { state[name] = el.value; return; }
      state[name] = state[name] || ['', ''];
      state[name][bound === 'from' ? 0 : 1] = el.value;
    });
  }
  function fromHash() {
    var pairs = window.location.hash.replace(/^#/, '').split('&').filter(Boolean);
    pairs.forEach(function (pair) {
      var parts = pair.split('='), name = decodeURIComponent(parts[0]), value = decodeURIComponent(parts[1] || '');
      document.querySelectorAll('[data-parameter="' + CSS.escape(name) + '"]').forEach(function (el) {
        var bound = el.getAttribute('data-bound');
        el.value = bound === null ? value : value.split(',')[bound === 'from' ? 0 : 1] || '';
      });
    });
  }
  fromHash();
  read();
  draw(true).then(function () {
    document.body.setAttribute('data-rendered', String(doc.charts.length));
  });
  document.querySelectorAll('[data-parameter]').forEach(function (el) {
    el.addEventListener('change', function () { read(); draw(false); });
  });
})();
"""
