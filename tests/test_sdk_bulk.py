"""Bulk creation (schema dict, list, YAML) all or nothing, and validate_feature."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from raise_ import BlobRef, Embedding, ValidationResult
from raise_.errors import AlreadyExists, InvalidDType, NotFound, RaiseSyntaxError, RaiseWarning, ValidationError

pytest_plugins = ["conftest_sdk"]

EXAMPLE_YAML = Path(__file__).resolve().parents[1] / "examples" / "features.yaml"


@pytest.fixture
def group(store):
    return store.create_feature_group("user-signals", key_columns=["user_id"])


def _names(group) -> list[str]:
    return [f.name for f in group.list_features()]


def test_from_schema_dictionary(group):
    features = group.create_features_from_schema({
        "click_count": "int64",
        "impression_count": "int64",
        "user_embedding": "float32[512]",
    })
    assert [(f.name, str(f.dtype), f.version) for f in features] == [
        ("click_count", "int64", "v1"), ("impression_count", "int64", "v1"),
        ("user_embedding", "float32[512]", "v1")]


def test_from_schema_with_typed_constructors_and_an_arrow_schema(store, group):
    features = group.create_features_from_schema({
        "product_id": "string",
        "image_ref": BlobRef(content_types=["image/png", "image/jpeg"]),
        "embedding": Embedding(512),
    }, tags=["vision"])
    assert [str(f.dtype) for f in features] == ["string", "blob_ref<image/png|image/jpeg>", "float32[512]"]
    assert all(f.tags == ["vision"] for f in features)
    other = store.create_feature_group("arrow", key_columns=["user_id"])
    schema = pa.schema([("score", pa.float64()), ("vec", pa.list_(pa.float32(), 8))])
    assert [str(f.dtype) for f in other.create_features_from_schema(schema)] == ["float64", "float32[8]"]


def test_from_list_of_definitions(group):
    with pytest.warns(RaiseWarning) as caught:
        features = group.create_features([
            {"name": "clicks", "dtype": "int64", "description": "Total clicks"},
            {"name": "ctr", "dtype": "float64", "derived_from": "clicks / impressions"},
        ])
    assert [f.name for f in features] == ["clicks", "ctr"]
    assert features[0].description == "Total clicks"
    assert features[1].derived_from == "clicks / impressions"
    # only the reference outside the batch is reported: clicks is created with it
    assert [str(w.message) for w in caught] == [
        "[RAISE-V040] ctr: reference 'impressions' does not resolve to an existing feature (yet); "
        "the feature will compute once it exists"]
    assert features[1].get_lineage().upstream == ["clicks", "impressions"]


def test_from_yaml_file(group):
    with pytest.warns(RaiseWarning):
        features = group.create_features_from_file(EXAMPLE_YAML)
    assert [(f.name, f.tags) for f in features] == [
        ("click_count", ["engagement"]), ("ctr", ["derived", "ratio"])]
    assert features[0].description == "Total clicks"
    assert features[1].get_lineage().upstream == ["click_count", "impression_count"]


def test_strict_batch_accepts_references_within_the_batch(group):
    features = group.create_features([
        {"name": "clicks", "dtype": "int64"},
        {"name": "views", "dtype": "int64"},
        {"name": "ctr", "dtype": "float64", "derived_from": "clicks / NULLIF(views, 0)"},
    ], validation="strict")
    assert [f.name for f in features] == ["clicks", "views", "ctr"]


BROKEN = {
    "bad dtype": ("  - name: bad\n    dtype: float32[0]\n", InvalidDType, "RAISE-V010"),
    "missing dtype": ("  - name: bad\n", ValidationError, "RAISE-V001"),
    "unknown key": ("  - name: bad\n    dtype: int64\n    colour: red\n", ValidationError, "RAISE-V001"),
    "bad expression": ("  - name: bad\n    dtype: float64\n    derived_from: click_count / / 2\n",
                       RaiseSyntaxError, "RAISE-S001"),
    "unknown function": ("  - name: bad\n    dtype: float64\n    derived_from: NOSUCH(click_count)\n",
                         ValidationError, "RAISE-V030"),
    "incompatible type": ("  - name: bad\n    dtype: float64\n    derived_from: CONCAT('a', 'b')\n",
                          ValidationError, "RAISE-V021"),
    "existing feature": ("  - name: existing\n    dtype: int64\n", AlreadyExists, "RAISE-A001"),
    "repeated name": ("  - name: good\n    dtype: int64\n", ValidationError, "RAISE-V001"),
    "strict missing reference": ("  - name: bad\n    dtype: float64\n    derived_from: nope + 1\n"
                                 "    validation: strict\n", ValidationError, "RAISE-V040"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_entry_creates_nothing(tmp_path, group, case):
    group.create_feature("existing", dtype="int64")
    entry, kind, code = BROKEN[case]
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  - name: good\n    dtype: int64\n  - name: click_count\n    dtype: int64\n" + entry)
    with pytest.raises(kind) as info:
        group.create_features_from_file(path)
    assert info.value.code == code
    assert _names(group) == ["existing"]


def test_error_names_the_file_and_the_definition(tmp_path, group):
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  - name: a\n    dtype: int64\n  - name: b\n    dtype: floaty\n")
    with pytest.raises(InvalidDType) as info:
        group.create_features_from_file(path)
    assert info.value.message.startswith("features.yaml: definition 2 ('b'): invalid dtype 'floaty'")


def test_broken_yaml_syntax_and_missing_file(tmp_path, group):
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  - name: a\n    dtype: [int64\n")
    with pytest.raises(RaiseSyntaxError) as info:
        group.create_features_from_file(path)
    assert info.value.line is not None
    with pytest.raises(NotFound):
        group.create_features_from_file(tmp_path / "nope.yaml")
    path.write_text("name: a\n")
    with pytest.raises(ValidationError):
        group.create_features_from_file(path)
    assert _names(group) == []


def test_a_cycle_inside_the_batch_creates_nothing(group):
    with pytest.raises(ValidationError) as info:
        group.create_features([
            {"name": "a", "dtype": "float64", "derived_from": "b + 1"},
            {"name": "b", "dtype": "float64", "derived_from": "a * 2"},
        ])
    assert info.value.code == "RAISE-V041"
    assert _names(group) == []


def test_if_exists_skip_in_bulk(group):
    group.create_feature("clicks", dtype="int64", description="kept")
    features = group.create_features([{"name": "clicks", "dtype": "int64"}, {"name": "views", "dtype": "int64"}],
                                     if_exists="skip")
    assert [(f.name, f.description) for f in features] == [("clicks", "kept"), ("views", None)]


# -- validate_feature ----------------------------------------------------------------------------


def test_validate_feature_as_in_the_spec(group):
    group.create_features_from_schema({"click_count": "int64", "impression_count": "int64"})
    result = group.validate_feature(
        "ctr",
        dtype="float64",
        derived_from="click_count / impression_count",
    )
    assert isinstance(result, ValidationResult)
    assert result.valid is True and result.errors == ()
    assert result.inferred_type == "float64"
    assert [r.name for r in result.references] == ["click_count", "impression_count"]
    assert all(r.exists and r.dtype == "int64" for r in result.references)
    assert _names(group) == ["click_count", "impression_count"]  # nothing created


def test_validate_feature_reports_errors_and_warnings(group):
    group.create_feature("click_count", dtype="int64")
    group.create_feature("name", dtype="string")
    missing = group.validate_feature("r", dtype="float64", derived_from="click_count / views")
    assert missing.valid and [w.code for w in missing.warnings] == ["RAISE-V040"]
    assert [r.exists for r in missing.references] == [True, False]
    strict = group.validate_feature("r", dtype="float64", derived_from="click_count / views", validation="strict")
    assert not strict.valid and [e.code for e in strict.errors] == ["RAISE-V040"] and strict.warnings == ()
    permissive = group.validate_feature("r", dtype="float64", derived_from="click_count / views",
                                        validation="permissive")
    assert permissive.valid and permissive.errors == () and permissive.warnings == ()
    typed = group.validate_feature("r", dtype="float64", derived_from="name * 2")
    assert not typed.valid and typed.errors[0].code == "RAISE-V020"
    signature = group.validate_feature("r", dtype="float64", derived_from="SQRT(click_count, 2)")
    assert not signature.valid and signature.errors[0].code == "RAISE-V031"
    syntax = group.validate_feature("r", dtype="float64", derived_from="click_count +")
    assert not syntax.valid and syntax.errors[0].code == "RAISE-S001"
    assert "valid=False" in repr(syntax) and "RAISE-S001" in syntax._repr_html_()


def test_validate_feature_finds_cycles(group):
    with pytest.warns(RaiseWarning):
        group.create_feature("a", dtype="float64", derived_from="b + 1")
    result = group.validate_feature("b", dtype="float64", derived_from="a * 2")
    assert not result.valid and [e.code for e in result.errors] == ["RAISE-V041"]
