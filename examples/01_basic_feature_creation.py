"""Basic feature CRUD: the namespace hierarchy, dtypes, creating, versioning and changing features.

Run it with ``python examples/01_basic_feature_creation.py``. It uses the embedded store in
``$RAISE_HOME`` (a fresh temporary folder when that is not set) as ``$RAISE_USER``.
"""
import os
import tempfile

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import Array, Embedding, FeatureStore, Float64, Int64, Struct  # noqa: E402
from raise_.errors import AlreadyExists, InvalidDType, NotFound  # noqa: E402

# -- Client initialization ------------------------------------------------------------------
fs = FeatureStore("acme/mlplatform/recommendation")
same = FeatureStore(org="acme", domain="mlplatform", project="recommendation")
fraud = fs.with_context(project="fraud-detection")
print("context:", fs.context, "|", same.context, "|", fraud.context)

# -- Quick Start ------------------------------------------------------------------------------
user_signals = fs.create_feature_group("user-signals", key_columns=["user_id"],
                                       timestamp_column="event_time")
user_signals.create_feature("click_count", dtype="int64")
user_signals.create_feature("user_embedding", dtype="float32[512]")
print("features:", [f.name for f in user_signals.list_features()])

# -- Hierarchy navigation (missing levels were created on first use) ------------------------
org = fs.organization("acme")
domain = fs.domain("mlplatform")
domains = fs.list_domains()
fs.create_project("fraud-detection", tags=["ml"])
project = fs.project("recommendation")
projects = fs.list_projects(tags=["ml"])
group = fs.feature_group("user-signals")
groups = fs.list_feature_groups()
print("organization:", org.name, "owner:", org.owner)
print("domains:", [d.name for d in domains])
print("projects tagged ml:", [p.name for p in projects])
print("groups:", [g.name for g in groups], "keys:", group.key_columns)

# -- Data types -----------------------------------------------------------------------------
print("Embedding(512):", Embedding(512))
print("Embedding(768, dtype='float16'):", Embedding(768, dtype="float16"))
print("Array(Int64(), max_length=100):", Array(Int64(), max_length=100))
print("Struct:", Struct({"lat": Float64(), "lon": Float64()}))
print("float32[512] as Arrow:", Embedding(512).to_arrow())
try:
    group.create_feature("bad", dtype="floaty[3]")
except InvalidDType as error:
    print("invalid dtype refused:", error.code)

# -- Feature creation -----------------------------------------------------------------------
feature = group.create_feature(
    name="profile_embedding",
    dtype="float32[512]",
    description="User profile embedding",
    tags=["embedding", "prod"],
    owner="ml-team@acme.com",
    nullable=True,
    default=None,
    if_exists="error",  # "error" | "skip" | "update"
)
print("created:", feature.qualified_name, feature.dtype, feature.tags, feature.owner)

feature = fs.create_feature("user-signals/impression_count", dtype="int64")
feature = fs.feature("user-signals/click_count")
print("by path:", feature.qualified_name)

try:
    group.create_feature("click_count", dtype="int64")
except AlreadyExists as error:
    print("duplicate refused:", error.code)

clicks = group.create_feature("clicks", dtype="int64", if_exists="skip")
again = group.create_feature("clicks", dtype="int64", if_exists="skip")
alternative = group.get_or_create_feature("clicks", dtype="int64")
print("idempotent:", again == clicks, alternative.version)

# -- Versioning -----------------------------------------------------------------------------
feat_v1 = group.feature("user_embedding")
feat_v2 = group.create_feature("user_embedding", dtype="float32[768]", version="v2")
latest = group.feature("user_embedding")
v1 = group.feature("user_embedding@v1")
versions = feat_v1.list_versions()
print("latest:", latest.version, latest.dtype, "| v1:", v1.dtype, "| versions:",
      [(v.version, str(v.dtype)) for v in versions])

# -- Changing features ----------------------------------------------------------------------
clicks = clicks.update(description="Total clicks", tags=["engagement"])
print("updated:", clicks.description, clicks.tags)
clicks.deprecate("use click_count")
print("deprecated:", clicks.status, "-", clicks.message)
clicks.delete()
try:
    group.feature("clicks")
except NotFound as error:
    print("deleted:", error.code)

# -- Data in and out ------------------------------------------------------------------------
group.write([
    {"user_id": 1, "click_count": 3, "impression_count": 30},
    {"user_id": 2, "click_count": 5, "impression_count": 25},
])
table = group.read(["click_count", "impression_count"], filter="click_count > 4")
print("read:", table.column_names, table.to_pylist())
