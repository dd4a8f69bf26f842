"""``parse(render(s)) == [s]`` for generated statements of every class."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar import ast, parse, parse_expression, quote_ident, quote_literal, render
from grammar.expressions import FeaturePath
from grammar.render import RENDERERS, render_script

SPECIAL_NAMES = ["user-signals", "group", "feature", "select", "version", "Mixed Case",
                 'say "hi"', "a/b", "x.y", "ünïcødé", "名前", "semi;colon", "-- not a comment",
                 "/* nor this */", "it's", "tab\tname", "line\nbreak", "v1"]
names = st.one_of(
    st.sampled_from(SPECIAL_NAMES),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}(-[a-z][a-z0-9]{0,5})?", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10),
)
texts = st.one_of(st.sampled_from(["", "it's", "a;b", "-- x", "'quoted'", "two\nlines"]),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
tag_lists = st.none() | st.lists(texts, max_size=3).map(tuple)
dtypes = st.one_of(
    st.sampled_from(["int8", "int16", "int32", "int64", "float16", "float32", "float64", "bool",
                     "string", "bytes", "timestamp", "date", "int64[]", "float64[:100]",
                     "string[128]", "string[]", "string[:4]", "blob_ref", "blob_ref<image/png|image/jpeg>",
                     "struct<lat: float64, lon: float64>", "struct<p: struct<x: int64>>"]),
    st.integers(1, 4096).map(lambda n: f"float32[{n}]"),
)
defaults = st.none() | st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), texts,
    st.datetimes(min_value=dt.datetime(1900, 1, 1)), st.dates(min_value=dt.date(1900, 1, 1)),
).map(quote_literal)
paths = st.lists(names, min_size=1, max_size=3).map(tuple)
groups = st.builds(lambda project, name: ast.GroupRef(name=name, project=project),
                   st.none() | st.lists(names, min_size=1, max_size=3).map(tuple), names)
features = st.builds(lambda g, n, v: ast.FeatureRef(group=g, name=n, version=v),
                     groups, names, st.none() | names)

expression_names = names.filter(lambda n: "@" not in n)
feature_paths = st.one_of(
    st.builds(FeaturePath, feature=expression_names,
              version=st.none() | st.from_regex(r"v[0-9]{1,2}", fullmatch=True)),
    st.builds(FeaturePath, feature=expression_names, group=names),
    st.builds(FeaturePath, feature=expression_names, group=names, project=names),
    st.builds(FeaturePath, feature=expression_names, group=names, project=names, domain=names),
    st.builds(FeaturePath, feature=expression_names, group=names, project=names, domain=names,
              org=names, external=st.just(True)),
)
TEMPLATES = ["{a}", "{a} / NULLIF({b}, 0)", "(raw - AVG({a})) / STDDEV({a})",
             "CASE WHEN {a} > 10 THEN 'x;y' WHEN {b} IS NOT NULL THEN 'it''s' ELSE 'z' END",
             "DOT({a}, {b})", "COALESCE({a}, {b}, 0) * -1.5",
             "SUM({a}) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)",
             "{a} IN (1, 2) AND {b} BETWEEN 0 AND 1 OR NOT {a} IS NULL",
             "CAST({a} AS DOUBLE) + LENGTH(LOWER({b}))"]


@st.composite
def derived(draw) -> str:
    a, b = draw(feature_paths), draw(feature_paths)
    text = draw(st.sampled_from(TEMPLATES)).format(a=a.text, b=b.text)
    expression = parse_expression(text)
    assert a in expression.references
    return expression.normalized


def create_feature(**fixed):
    return st.builds(
        ast.CreateFeature, feature=features, dtype=dtypes, derived_as=st.none() | derived(),
        version=st.none() | names, description=st.none() | texts, tags=tag_lists,
        owner=st.none() | texts, nullable=st.none() | st.booleans(), default=defaults,
        validation=st.none() | st.sampled_from(["strict", "standard", "permissive"]),
        conflict=st.sampled_from(["error", "skip", "update"]), **fixed,
    )


@st.composite
def alter_feature(draw) -> ast.AlterFeature:
    fields = {"description": st.none() | texts, "tags": tag_lists, "owner": st.none() | texts,
              "nullable": st.none() | st.booleans(), "default": defaults,
              "status": st.none() | st.sampled_from(["active", "deprecated", "archived"])}
    values = {name: draw(strategy) for name, strategy in fields.items()}
    if all(v is None for v in values.values()):
        values["description"] = draw(texts)
    return ast.AlterFeature(feature=draw(features), **values)


@st.composite
def namespace_target(draw) -> tuple[str, tuple[str, ...]]:
    kind = draw(st.sampled_from(["organization", "domain", "project"]))
    most = {"organization": 1, "domain": 2, "project": 3}[kind]
    return kind, tuple(draw(st.lists(names, min_size=1, max_size=most)))


@st.composite
def drop_or_describe(draw, cls):
    kind = draw(st.sampled_from(["namespace", "feature group", "feature"]))
    if kind == "namespace":
        kind, target = draw(namespace_target())
    else:
        target = draw(groups if kind == "feature group" else features)
    if cls is ast.Describe:
        return ast.Describe(kind=kind, target=target)
    mode = draw(st.sampled_from(["", "cascade", "restrict"]))
    return ast.Drop(kind=kind, target=target, if_exists=draw(st.booleans()),
                    cascade=mode == "cascade", restrict=mode == "restrict")


@st.composite
def show(draw) -> ast.Show:
    kind = draw(st.sampled_from(["organizations", "domains", "projects", "feature groups",
                                 "features", "versions"]))
    within = {"features": groups, "versions": features}.get(kind, paths)
    return ast.Show(kind=kind, within=draw(st.none() | within), tags=draw(tag_lists))


STRATEGIES = {
    ast.CreateNamespace: namespace_target().flatmap(lambda kind_path: st.builds(
        ast.CreateNamespace, kind=st.just(kind_path[0]), path=st.just(kind_path[1]),
        if_not_exists=st.booleans(), description=st.none() | texts, tags=tag_lists,
        owner=st.none() | texts)),
    ast.CreateFeatureGroup: st.builds(
        ast.CreateFeatureGroup, group=groups,
        keys=st.lists(st.builds(ast.ColumnDef, name=names, dtype=dtypes), max_size=3).map(tuple),
        timestamp=st.none() | names, if_not_exists=st.booleans(),
        description=st.none() | texts, tags=tag_lists, owner=st.none() | texts),
    ast.CreateFeature: create_feature(),
    ast.AlterFeature: alter_feature(),
    ast.DeprecateFeature: st.builds(ast.DeprecateFeature, feature=features,
                                    message=st.none() | texts),
    ast.Drop: drop_or_describe(ast.Drop),
    ast.Use: st.builds(ast.Use, path=paths),
    ast.Show: show(),
    ast.Describe: drop_or_describe(ast.Describe),
    ast.ValidateFeature: st.builds(ast.ValidateFeature, statement=create_feature()),
    ast.Passthrough: st.sampled_from([
        "SELECT 1", "SELECT ';' AS x, \"a;b\" FROM \"user-signals\"",
        "INSERT INTO t VALUES (1, 'x')", "CREATE TABLE t (a INT)", "SHOW TABLES",
        "EXPLAIN SELECT * FROM t", "DESCRIBE t", "SELECT 1 -- trailing comment",
    ]).map(lambda sql: ast.Passthrough(sql=sql)),
}


def test_every_statement_class_has_a_renderer_and_a_strategy():
    assert set(ast.STATEMENTS) == set(RENDERERS) == set(STRATEGIES)


@pytest.mark.parametrize("cls", ast.STATEMENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_render_round_trip(cls, data):
    statement = data.draw(STRATEGIES[cls])
    text = render(statement)
    assert parse(text) == [statement], text
    assert parse(render_script([statement, statement])) == [statement, statement]


@settings(max_examples=150, deadline=None)
@given(feature_paths)
def test_feature_path_text_round_trip(path):
    assert FeaturePath.parse(path.text) == path
    assert parse_expression(path.text).references == (path,)


def test_quote_helpers():
    assert quote_ident('say "hi"') == '"say ""hi"""'
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal(None) == "NULL"
    assert quote_literal(True) == "TRUE"
    assert quote_literal(1.5) == "1.5"
    assert quote_literal(dt.date(2026, 1, 2)) == "DATE '2026-01-02'"
    assert quote_literal(dt.datetime(2026, 1, 2, 3, 4, 5)) == "TIMESTAMP '2026-01-02 03:04:05'"
