"""Derived features: SQL expressions over other features, validation and lineage.

Run it with ``python examples/02_derived_features.py`` (embedded store in ``$RAISE_HOME``,
a fresh temporary folder when that is not set) as ``$RAISE_USER``.
"""
import os
import tempfile
import warnings

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import FeatureStore  # noqa: E402
from raise_.errors import RaiseError, RaiseWarning, ValidationError  # noqa: E402

fs = FeatureStore("acme/mlplatform/recommendation")
group = fs.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
group.create_features_from_schema({
    "click_count": "int64",
    "raw_score": "float64",
    "revenue": "float64",
    "user_embedding": "float32[4]",
    "country": "string",
})

# -- Basic expressions ------------------------------------------------------------------------
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", RaiseWarning)
    ctr = group.create_feature(
        "ctr",
        dtype="float64",
        derived_from="click_count / NULLIF(impression_count, 0)",
    )
print("ctr created with warning:", [w.message.code for w in caught])
group.create_feature("impression_count", dtype="int64")

normalized = group.create_feature(
    "normalized_score",
    dtype="float64",
    derived_from="(raw_score - AVG(raw_score)) / STDDEV(raw_score)",
)

# -- One function of each category ------------------------------------------------------------
group.create_feature("log_clicks", dtype="float64", derived_from="LOG(click_count + 1)")
group.create_feature("embedding_norm", dtype="float64", derived_from="NORM(user_embedding)")
group.create_feature("country_code", dtype="string", derived_from="UPPER(TRIM(country))")
group.create_feature("safe_revenue", dtype="float64", derived_from="COALESCE(revenue, 0)")
group.create_feature("revenue_rank", dtype="int64",
                     derived_from="ROW_NUMBER() OVER (ORDER BY revenue DESC)")

# -- Conditional expressions ------------------------------------------------------------------
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

# -- Values -----------------------------------------------------------------------------------
group.write([
    {"user_id": 1, "click_count": 3, "impression_count": 30, "raw_score": 1.0, "revenue": 20000.0,
     "user_embedding": [3.0, 4.0, 0.0, 0.0], "country": " de "},
    {"user_id": 2, "click_count": 5, "impression_count": 0, "raw_score": 2.0, "revenue": 500.0,
     "user_embedding": [1.0, 0.0, 0.0, 0.0], "country": "fr"},
    {"user_id": 3, "click_count": 0, "impression_count": 10, "raw_score": 3.0, "revenue": None,
     "user_embedding": [0.0, 0.0, 0.0, 2.0], "country": "us"},
])
rows = fs.sql('SELECT user_id, ctr, normalized_score, embedding_norm, country_code, user_tier, '
              'revenue_rank FROM "user-signals" ORDER BY user_id')
for row in rows.to_pylist():
    print("row:", row)

# -- Cross-group references -------------------------------------------------------------------
items = fs.create_feature_group("item-signals", key_columns=["item_id"])
items.create_feature("item_embedding", dtype="float32[4]")
affinity = group.create_feature(
    "user_item_affinity",
    dtype="float32",
    derived_from="DOT(user_embedding, item-signals.item_embedding)",
)
print("affinity reads:", affinity.get_lineage().upstream)
try:
    group.read(["user_item_affinity"])
except RaiseError as error:
    print("affinity needs rows with both keys:", error.code, "-", error.message)

# -- Validation -------------------------------------------------------------------------------
result = group.validate_feature(
    "ctr2",
    dtype="float64",
    derived_from="click_count / impression_count",
)
if result.valid:
    print(f"Inferred type: {result.inferred_type}")
    print(f"References: {[r.name for r in result.references]}")
bad = group.validate_feature("bad", dtype="float64", derived_from="click_count / no_such_feature",
                             validation="strict")
for error in bad.errors:
    print(f"Error: {error.code} - {error.message}")
try:
    group.create_feature("ratio", dtype="float64", derived_from="clicks / views", validation="strict")
except ValidationError as error:
    print("strict refused:", error.code)

# -- Lineage ----------------------------------------------------------------------------------
lineage = ctr.get_lineage()
print("upstream:", lineage.upstream)
print("downstream:", lineage.downstream)
print(lineage.as_graph().to_ascii())
print("to_dict upstream:", [n["name"] for n in lineage.to_dict()["upstream"]])
