"""Derived features: arithmetic, every function category, CASE, cross-group references, lineage."""
from __future__ import annotations

import math
import statistics

import pytest

from raise_.errors import NotFound, RaiseError, RaiseWarning, ValidationError

pytest_plugins = ["conftest_sdk"]

ROWS = [
    {"user_id": 1, "clicks": 3, "views": 30, "score": 1.5, "name": " Ada ", "emb": [3.0, 4.0],
     "ref": [1.0, 0.0], "segment": "a"},
    {"user_id": 2, "clicks": 5, "views": 0, "score": -2.25, "name": "bob", "emb": [1.0, 1.0],
     "ref": [0.0, 1.0], "segment": "a"},
    {"user_id": 3, "clicks": 0, "views": 10, "score": 4.0, "name": "Cy", "emb": [0.0, 2.0],
     "ref": [1.0, 1.0], "segment": "b"},
]
SCORES = [r["score"] for r in ROWS]

#: name -> (dtype, expression, expected values for ROWS in order)
EXPRESSIONS = {
    # arithmetic with null protection
    "ctr": ("float64", "clicks / NULLIF(views, 0)", [0.1, None, 0.0]),
    # aggregations (over the whole group)
    "avg_score": ("float64", "AVG(score)", [statistics.mean(SCORES)] * 3),
    "sum_clicks": ("int64", "SUM(clicks)", [8] * 3),
    "min_score": ("float64", "MIN(score)", [-2.25] * 3),
    "max_score": ("float64", "MAX(score)", [4.0] * 3),
    "n_users": ("int64", "COUNT(user_id)", [3] * 3),
    "std_score": ("float64", "STDDEV(score)", [statistics.stdev(SCORES)] * 3),
    "var_score": ("float64", "VARIANCE(score)", [statistics.variance(SCORES)] * 3),
    "z_score": ("float64", "(score - AVG(score)) / STDDEV(score)",
                [(s - statistics.mean(SCORES)) / statistics.stdev(SCORES) for s in SCORES]),
    # math
    "abs_score": ("float64", "ABS(score)", [1.5, 2.25, 4.0]),
    "ceil_score": ("float64", "CEIL(score)", [2.0, -2.0, 4.0]),
    "floor_score": ("float64", "FLOOR(score)", [1.0, -3.0, 4.0]),
    "round_score": ("float64", "ROUND(score, 1)", [1.5, -2.3, 4.0]),
    "log_clicks": ("float64", "LOG(clicks + 1)", [math.log10(4), math.log10(6), 0.0]),
    "exp_clicks": ("float64", "EXP(clicks)", [math.exp(3), math.exp(5), 1.0]),
    "squared": ("float64", "POWER(clicks, 2)", [9.0, 25.0, 0.0]),
    "root_views": ("float64", "SQRT(views)", [math.sqrt(30), 0.0, math.sqrt(10)]),
    # vector
    "dot": ("float64", "DOT(emb, ref)", [3.0, 1.0, 2.0]),
    "cosine": ("float64", "COSINE_SIMILARITY(emb, ref)", [0.6, 1 / math.sqrt(2), 1 / math.sqrt(2)]),
    "l2": ("float64", "L2_DISTANCE(emb, ref)", [math.sqrt(20), 1.0, math.sqrt(2)]),
    "norm": ("float64", "NORM(emb)", [5.0, math.sqrt(2), 2.0]),
    # string
    "greeting": ("string", "CONCAT('hi ', TRIM(name))", ["hi Ada", "hi bob", "hi Cy"]),
    "lower_name": ("string", "LOWER(TRIM(name))", ["ada", "bob", "cy"]),
    "upper_name": ("string", "UPPER(name)", [" ADA ", "BOB", "CY"]),
    "initial": ("string", "SUBSTRING(TRIM(name), 1, 1)", ["A", "b", "C"]),
    "name_length": ("int64", "LENGTH(name)", [5, 3, 2]),
    # conditional
    "busy": ("string", "CASE WHEN clicks > 2 THEN 'busy' ELSE 'quiet' END", ["busy", "busy", "quiet"]),
    "views_or_zero": ("int64", "COALESCE(NULLIF(views, 0), -1)", [30, -1, 10]),
    "positive": ("string", "IF(score > 0, 'yes', 'no')", ["yes", "no", "yes"]),
    # window
    "rank_in_segment": ("int64", "ROW_NUMBER() OVER (PARTITION BY segment ORDER BY score DESC)", [1, 2, 1]),
    "running_clicks": ("int64", "SUM(clicks) OVER (ORDER BY user_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
                       [3, 8, 8]),
    "range_clicks": ("int64", "SUM(clicks) OVER (ORDER BY user_id RANGE BETWEEN 1 PRECEDING AND CURRENT ROW)",
                     [3, 8, 5]),
}


@pytest.fixture
def scores(store):
    group = store.create_feature_group("scores", key_columns=["user_id"])
    group.create_features_from_schema({"clicks": "int64", "views": "int64", "score": "float64", "name": "string",
                                       "emb": "float32[2]", "ref": "float32[2]", "segment": "string"})
    group.write(ROWS)
    return group


def test_every_function_category_computes_the_documented_values(store, scores):
    for name, (dtype, expression, _) in EXPRESSIONS.items():
        scores.create_feature(name, dtype=dtype, derived_from=expression)
    table = scores.read(list(EXPRESSIONS)).sort_by("user_id")
    for name, (dtype, _, expected) in EXPRESSIONS.items():
        got = table.column(name).to_pylist()
        assert got == [pytest.approx(v, rel=1e-6) if isinstance(v, float) else v for v in expected], name
    assert str(table.schema.field("ctr").type) == "double"
    assert str(table.schema.field("n_users").type) == "int64"


def test_conditional_tiers_as_in_the_spec(store):
    group = store.create_feature_group("users", key_columns=["user_id"])
    group.create_feature("revenue", dtype="float64")
    user_tier = group.create_feature(
        "user_tier",
        dtype="string",
        derived_from="""
            CASE
                WHEN revenue > 10000 THEN 'platinum'
                WHEN revenue > 1000 THEN 'gold'
                WHEN revenue > 100 THEN 'silver'
                ELSE 'bronze'
            END
        """,
    )
    assert user_tier.derived_from.startswith("CASE WHEN revenue > 10000 THEN 'platinum'")
    group.write({"user_id": [1, 2, 3, 4], "revenue": [20000.0, 5000.0, 500.0, 5.0]})
    got = group.read(["user_tier"]).sort_by("user_id").column("user_tier").to_pylist()
    assert got == ["platinum", "gold", "silver", "bronze"]


def test_cross_group_reference_joins_on_shared_keys(store):
    users = store.create_feature_group("users", key_columns=["user_id"])
    stats = store.create_feature_group("user-stats", key_columns=["user_id"])
    users.create_feature("revenue", dtype="float64")
    stats.create_feature("visits", dtype="int64")
    per_visit = users.create_feature("revenue_per_visit", dtype="float64",
                                     derived_from="revenue / NULLIF(user-stats.visits, 0)")
    assert per_visit.get_lineage().upstream == ["revenue", "user-stats.visits"]
    users.write([{"user_id": 1, "revenue": 100.0}, {"user_id": 2, "revenue": 50.0}])
    stats.write([{"user_id": 1, "visits": 4}])
    got = users.read(["revenue_per_visit"]).sort_by("user_id").to_pydict()
    assert got == {"user_id": [1, 2], "revenue_per_visit": [25.0, None]}


def test_cross_group_reference_without_shared_key_names_the_missing_key(store):
    users = store.create_feature_group("user-signals", key_columns=["user_id"])
    items = store.create_feature_group("item-signals", key_columns=["item_id"])
    users.create_feature("user_embedding", dtype="float32[4]")
    items.create_feature("item_embedding", dtype="float32[4]")
    affinity = users.create_feature(
        "user_item_affinity",
        dtype="float32",
        derived_from="DOT(user_embedding, item-signals.item_embedding)",
    )
    assert affinity.get_lineage().upstream == ["user_embedding", "item-signals.item_embedding"]
    with pytest.raises(RaiseError) as info:
        users.read(["user_item_affinity"])
    assert info.value.code == "RAISE-V045" and "item_id" in info.value.message


def test_missing_reference_warns_then_resolves(store):
    group = store.create_feature_group("g", key_columns=["k"])
    group.create_feature("a", dtype="int64")
    with pytest.warns(RaiseWarning) as caught:
        group.create_feature("r", dtype="float64", derived_from="a / NULLIF(b, 0)")
    assert [w.message.code for w in caught] == ["RAISE-V040"]
    with pytest.raises(NotFound) as info:
        group.read(["r"])
    assert info.value.name == "r" and "cannot be computed" in info.value.message
    group.create_feature("b", dtype="int64")
    group.write([{"k": 1, "a": 1, "b": 4}])
    assert group.read(["r"]).column("r").to_pylist() == [0.25]


def test_strict_validation_refuses_a_missing_reference_and_creates_nothing(store):
    group = store.create_feature_group("g", key_columns=["k"])
    with pytest.raises(ValidationError) as info:
        group.create_feature("r", dtype="float64", derived_from="a + 1", validation="strict")
    assert info.value.code == "RAISE-V040"
    assert group.list_features() == []
    permissive = group.create_feature("p", dtype="float64", derived_from="a + 1", validation="permissive")
    assert permissive.validation == "permissive"


def test_circular_dependency_is_refused(store):
    group = store.create_feature_group("g", key_columns=["k"])
    with pytest.warns(RaiseWarning):
        group.create_feature("a", dtype="float64", derived_from="b + 1")
    with pytest.raises(ValidationError) as info:
        group.create_feature("b", dtype="float64", derived_from="a * 2")
    assert info.value.code == "RAISE-V041"


def test_type_incompatible_expression_is_refused(store):
    group = store.create_feature_group("g", key_columns=["k"])
    group.create_feature("name", dtype="string")
    with pytest.raises(ValidationError) as info:
        group.create_feature("bad", dtype="float64", derived_from="name * 2")
    assert info.value.code == "RAISE-V020"
    with pytest.raises(ValidationError) as info:
        group.create_feature("bad", dtype="float64", derived_from="NOSUCH(name)")
    assert info.value.code == "RAISE-V030"


# -- lineage ------------------------------------------------------------------------------------


@pytest.fixture
def chain(store, signals):
    """click_count, impression_count -> ctr -> ctr_pct -> ctr_label."""
    ctr = signals.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")
    signals.create_feature("ctr_pct", dtype="float64", derived_from="ctr * 100")
    signals.create_feature("ctr_label", dtype="string", derived_from="CASE WHEN ctr_pct > 5 THEN 'high' ELSE 'low' END")
    return ctr


def test_lineage_upstream_and_downstream(chain, signals):
    lineage = chain.get_lineage()
    assert lineage.upstream == ["click_count", "impression_count"]
    assert [n.name for n in lineage.upstream] == ["click_count", "impression_count"]
    assert repr(lineage.upstream) == "[click_count, impression_count]"
    assert lineage.downstream == ["ctr_pct"]
    assert signals.feature("click_count").get_lineage().downstream == ["ctr"]


def test_transitive_lineage(chain, signals):
    label = signals.feature("ctr_label").get_lineage()
    assert label.all_upstream() == ["ctr_pct", "ctr", "click_count", "impression_count"]
    clicks = signals.feature("click_count").get_lineage()
    assert clicks.all_downstream() == ["ctr", "ctr_pct", "ctr_label"]
    assert clicks.all_downstream(include_external=False) == ["ctr", "ctr_pct", "ctr_label"]


def test_external_dependents_are_listed_only_when_asked(make_store, chain, signals):
    signals.grant_external_access(org="partner", features=["*"], permission="read")
    partner = make_store("partner/shared/embeddings")
    mirror = partner.create_feature_group("mirror", key_columns=["user_id"])
    with pytest.warns(RaiseWarning):  # a cross-org reference resolves through a grant
        mirror.create_feature("acme_ctr", dtype="float64",
                              derived_from="@acme/mlplatform/recommendation/user-signals.ctr")
    lineage = chain.get_lineage()
    everything = lineage.all_downstream(include_external=True)
    assert "@partner/shared/embeddings/mirror.acme_ctr" in everything
    assert "@partner/shared/embeddings/mirror.acme_ctr" not in lineage.all_downstream(include_external=False)


def test_lineage_graph_matches_the_spec_drawing(chain):
    assert chain.get_lineage().as_graph().to_ascii().split("\n")[:3] == [
        "click_count ─────────┐",
        "                     ├──▶ ctr",
        "impression_count ────┘",
    ]


def test_lineage_graph_of_a_chain(chain, signals):
    drawing = signals.feature("ctr_pct").get_lineage().as_graph().to_ascii()
    assert drawing == "\n".join([
        "click_count ─────────┐",
        "                     ├──▶ ctr",
        "impression_count ────┘",
        "",
        "ctr ──────▶ ctr_pct",
        "",
        "ctr_pct ──▶ ctr_label",
    ])


def test_lineage_to_dict(chain):
    data = chain.get_lineage().to_dict()
    assert data["feature"] == "ctr"
    assert data["qualified_name"] == "acme/mlplatform/recommendation/user-signals/ctr@v1"
    assert [n["name"] for n in data["upstream"]] == ["click_count", "impression_count"]
    assert [n["name"] for n in data["downstream"]] == ["ctr_pct"]
    assert ["click_count", "ctr"] in data["edges"]
    import json

    assert json.loads(json.dumps(data)) == data
    assert "ctr" in chain.get_lineage()._repr_html_()
