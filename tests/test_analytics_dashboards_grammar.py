"""The dashboards grammar: every statement round-trips (``parse(render(s)) == s``, Hypothesis),
and bad words are refused with their code and position."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grammar import dashboards as d
from grammar import parse, render
from grammar.analytics import ObjectRef
from grammar.ast import GroupRef
from grammar.errors import RaiseSyntaxError, ValidationError

names = st.text(st.characters(whitelist_categories=("L", "Nd"), whitelist_characters="_- '\""),
                min_size=1, max_size=12).filter(lambda s: s.strip() == s and s)
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
projects = st.none() | st.tuples(names, names, names)
refs = st.builds(ObjectRef, name=names, project=projects)
dates = st.dates().map(lambda v: v.isoformat())
date_ranges = st.builds(lambda n, label, low, high, column: d.Parameter(
    name=n, kind="date_range", label=label, default=tuple(sorted((low, high))), column=column),
    names, st.none() | texts, dates, dates, st.none() | names)
dropdowns = st.lists(texts, min_size=1, max_size=4, unique=True).flatmap(lambda options: st.builds(
    lambda n, label, default, column: d.Parameter(name=n, kind="dropdown", label=label, options=tuple(options),
                                                  default=default, column=column),
    names, st.none() | texts, st.sampled_from([(), *((o,) for o in options)]), st.none() | names))
analysis_charts = st.builds(
    lambda ref, title, kind, group, x, y: d.AddDashboardChart(
        dashboard=ref, title=title, chart_type=kind, group=group, analysis='{"kind": "aggregation"}', x=x, y=y),
    refs, texts, st.sampled_from(d.CHART_TYPES), st.builds(GroupRef, name=names, project=projects),
    st.none() | names, st.lists(names, max_size=3).map(tuple))
live_charts = st.builds(lambda ref, title, kind, table: d.AddDashboardChart(
    dashboard=ref, title=title, chart_type=kind, live_table=table), refs, texts, st.sampled_from(d.CHART_TYPES), refs)
statements = st.one_of(
    st.builds(d.CreateDashboard, dashboard=refs, description=st.none() | texts,
              conflict=st.sampled_from(["error", "skip", "update"])),
    st.builds(d.AddDashboardParameter, dashboard=refs, parameter=date_ranges | dropdowns),
    analysis_charts, live_charts,
    st.builds(d.ShowDashboards, within=projects), st.builds(d.DescribeDashboard, dashboard=refs),
    st.builds(d.RenderDashboard, dashboard=refs, format=st.sampled_from(d.FORMATS)),
    st.builds(d.PublishDashboard, dashboard=refs),
    st.builds(d.DropDashboard, dashboard=refs, if_exists=st.booleans()),
)


@settings(max_examples=80, deadline=None)
@given(statements)
def test_every_dashboard_statement_round_trips(statement):
    assert parse(render(statement)) in (statement, [statement])


@pytest.mark.parametrize("text, code, column", [
    ("ALTER DASHBOARD b ADD CHART 't' AS DONUT FROM LIVE TABLE x", "RAISE-V420", 36),
    ("RENDER DASHBOARD b FORMAT pdf", "RAISE-V422", 27),
    ("ALTER DASHBOARD b ADD PARAMETER tier DROPDOWN OPTIONS ('all') DEFAULT 'gold'", "RAISE-V421", 1),
    ("ALTER DASHBOARD b ADD PARAMETER d DATE RANGE DEFAULT ('2026-01-01')", "RAISE-V421", 1),
    ("ALTER DASHBOARD b ADD CHART 't' AS BAR ON g ANALYZE 'not json'", "RAISE-V413", 40),
])
def test_bad_words_are_refused_with_a_code_and_position(text, code, column):
    with pytest.raises(ValidationError) as refused:
        parse(text)
    assert refused.value.code == code and refused.value.column == column


def test_a_chart_needs_a_source():
    with pytest.raises(RaiseSyntaxError):
        parse("ALTER DASHBOARD b ADD CHART 't' AS BAR X a")
