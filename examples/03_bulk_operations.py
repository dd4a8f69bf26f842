"""Bulk creation from a schema dict, a list of definitions and a YAML file; all or nothing.

Run it with ``python examples/03_bulk_operations.py`` (embedded store in ``$RAISE_HOME``,
a fresh temporary folder when that is not set) as ``$RAISE_USER``.
"""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import BlobRef, FeatureStore  # noqa: E402
from raise_.errors import RaiseError  # noqa: E402

fs = FeatureStore("acme/mlplatform/recommendation")

# -- From a schema dictionary -----------------------------------------------------------------
group = fs.create_feature_group("user-signals", key_columns=["user_id"])
features = group.create_features_from_schema({
    "click_count": "int64",
    "impression_count": "int64",
    "user_embedding": "float32[512]",
})
print("from schema:", [(f.name, str(f.dtype)) for f in features])

# -- From a list of definitions ---------------------------------------------------------------
engagement = fs.create_feature_group("engagement", key_columns=["user_id"])
features = engagement.create_features([
    {"name": "clicks", "dtype": "int64", "description": "Total clicks"},
    {"name": "ctr", "dtype": "float64", "derived_from": "clicks / impressions"},
])
print("from list:", [(f.name, f.description or f.derived_from) for f in features])

# -- From a YAML file -------------------------------------------------------------------------
yaml_group = fs.create_feature_group("yaml-signals", key_columns=["user_id"])
features = yaml_group.create_features_from_file(Path(__file__).with_name("features.yaml"))
print("from YAML:", [(f.name, f.tags) for f in features])
print("ctr lineage:", yaml_group.feature("ctr").get_lineage().upstream)

# -- Blob references in a schema ------------------------------------------------------------
images = fs.create_feature_group("image-features", key_columns={"product_id": "string"})
images.create_features_from_schema({
    "image_ref": BlobRef(content_types=["image/png", "image/jpeg"]),
    "thumbnail_ref": BlobRef(content_types=["image/jpeg"]),
    "embedding": "float32[512]",
})
print("blob refs:", [str(f.dtype) for f in images.list_features()])

# -- All or nothing ---------------------------------------------------------------------------
broken = Path(tempfile.mkdtemp()) / "broken.yaml"
broken.write_text("""
features:
  - name: good_one
    dtype: int64
  - name: bad_one
    dtype: float32[0]
""")
try:
    yaml_group.create_features_from_file(broken)
except RaiseError as error:
    print("broken file refused:", error.code, "-", error.message.split(":")[0])
print("created from the broken file:", [f.name for f in yaml_group.list_features() if f.name.endswith("_one")])

try:
    group.create_features([
        {"name": "fresh", "dtype": "int64"},
        {"name": "click_count", "dtype": "int64"},
    ])
except RaiseError as error:
    print("duplicate refused:", error.code)
print("fresh exists:", any(f.name == "fresh" for f in group.list_features()))
