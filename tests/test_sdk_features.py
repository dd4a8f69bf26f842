"""Feature creation, idempotence, properties, changes and versioning, as the spec documents them."""
from __future__ import annotations

import pytest

from raise_ import Embedding, Feature
from raise_.errors import AlreadyExists, InvalidDType, NotFound, RaiseSyntaxError, ValidationError

pytest_plugins = ["conftest_sdk"]


@pytest.fixture
def group(store):
    return store.create_feature_group("user-signals", key_columns=["user_id"])


def test_single_feature_with_every_documented_argument(group):
    feature = group.create_feature(
        name="user_embedding",
        dtype="float32[512]",
        description="User profile embedding",
        tags=["embedding", "prod"],
        owner="ml-team@acme.com",
        nullable=True,
        default=None,
        if_exists="error",
    )
    assert isinstance(feature, Feature)
    assert feature.name == "user_embedding"
    assert feature.qualified_name == "acme/mlplatform/recommendation/user-signals/user_embedding@v1"
    assert feature.dtype == "float32[512]" and feature.dtype == Embedding(512) and feature.dtype.dim == 512
    assert feature.version == "v1"
    assert feature.description == "User profile embedding"
    assert feature.tags == ["embedding", "prod"]
    assert feature.owner == "ml-team@acme.com"
    assert feature.nullable is True and feature.default is None
    assert feature.derived_from is None and feature.is_derived is False
    assert feature.status == "active"


def test_owner_defaults_to_the_user_and_defaults_round_trip(group):
    feature = group.create_feature("clicks", dtype="int64", nullable=False, default=0)
    assert feature.owner == "alice@acme.com"
    assert (feature.nullable, feature.default) == (False, 0)
    label = group.create_feature("label", dtype="string", default="it's")
    assert label.default == "it's"


def test_typed_constructor_as_dtype(group):
    feature = group.create_feature("emb", dtype=Embedding(768, dtype="float16"))
    assert str(feature.dtype) == "float16[768]"


def test_duplicate_feature_is_already_exists(group):
    group.create_feature("clicks", dtype="int64")
    with pytest.raises(AlreadyExists) as info:
        group.create_feature("clicks", dtype="int64")
    assert info.value.code == "RAISE-A001" and info.value.name == "clicks"


def test_if_exists_skip_returns_the_existing_feature(group):
    first = group.create_feature("clicks", dtype="int64", description="first")
    again = group.create_feature("clicks", dtype="int64", description="second", if_exists="skip")
    assert again == first and again.description == "first"
    alternative = group.get_or_create_feature("clicks", dtype="int64")
    assert alternative == first
    created = group.get_or_create_feature("views", dtype="int64")
    assert created.version == "v1" and group.feature("views") == created


def test_if_exists_update_changes_metadata_not_schema(group):
    group.create_feature("clicks", dtype="int64", description="old")
    updated = group.create_feature("clicks", dtype="int64", description="new", tags=["t"], if_exists="update")
    assert (updated.description, updated.tags, updated.version) == ("new", ["t"], "v1")
    with pytest.raises(ValidationError) as info:
        group.create_feature("clicks", dtype="float64", if_exists="update")
    assert info.value.code == "RAISE-V023"


def test_bad_arguments_are_refused_before_anything_is_sent(store, group):
    sent = len(store.history)
    with pytest.raises(InvalidDType):
        group.create_feature("x", dtype="float32[]x")
    with pytest.raises(ValidationError):
        group.create_feature("x", dtype="int64", if_exists="maybe")
    with pytest.raises(ValidationError):
        group.create_feature("x", dtype="int64", validation="lenient")
    with pytest.raises(ValidationError):
        group.create_feature("x", dtype="int64", colour="red")
    with pytest.raises(RaiseSyntaxError) as info:
        group.create_feature("x", dtype="float64", derived_from="a + * b")
    assert info.value.line == 1 and info.value.column is not None
    assert len(store.history) == sent
    assert group.list_features() == []


def test_unknown_group_and_feature(store, group):
    with pytest.raises(NotFound):
        store.feature_group("nope")
    with pytest.raises(NotFound) as info:
        group.feature("nope")
    assert info.value.code == "RAISE-N001"
    with pytest.raises(NotFound):
        store.create_feature("nope/x", dtype="int64")


def test_versioning(group):
    feat_v1 = group.create_feature("user_embedding", dtype="float32[512]")
    feat_v2 = group.create_feature("user_embedding", dtype="float32[768]", version="v2")
    assert (feat_v1.version, feat_v2.version) == ("v1", "v2")
    latest = group.feature("user_embedding")
    v1 = group.feature("user_embedding@v1")
    assert latest == feat_v2 and latest.dtype == "float32[768]" and latest.is_latest
    assert v1.dtype == "float32[512]" and v1.dtype.dim == 512 and not v1.is_latest
    versions = feat_v1.list_versions()
    assert [(v.version, str(v.dtype)) for v in versions] == [("v1", "float32[512]"), ("v2", "float32[768]")]
    with pytest.raises(NotFound):
        group.feature("user_embedding@v3")
    with pytest.raises(AlreadyExists):
        group.create_feature("user_embedding", dtype="float32[768]", version="v2")


def test_update_deprecate_delete(group):
    clicks = group.create_feature("clicks", dtype="int64")
    updated = clicks.update(description="Total clicks", tags=["engagement"], owner="growth@acme.com")
    assert (updated.description, updated.tags, updated.owner) == ("Total clicks", ["engagement"], "growth@acme.com")
    assert clicks.description == "Total clicks"  # the object refreshes too
    clicks.deprecate("use click_count")
    assert (clicks.status, clicks.message) == ("deprecated", "use click_count")
    assert group.feature("clicks").status == "deprecated"
    clicks.update(status="active")
    assert clicks.status == "active" and clicks.message is None
    with pytest.raises(ValidationError):
        clicks.update(colour="red")
    with pytest.raises(ValidationError):
        clicks.update(status="gone")
    clicks.delete()
    with pytest.raises(NotFound):
        group.feature("clicks")


def test_delete_one_version(group):
    group.create_feature("emb", dtype="float32[4]")
    v2 = group.create_feature("emb", dtype="float32[8]", version="v2")
    v2.delete(all_versions=False)
    assert [v.version for v in group.feature("emb").list_versions()] == ["v1"]


def test_update_redefines_a_derived_feature(group):
    group.create_feature("clicks", dtype="int64")
    group.create_feature("views", dtype="int64")
    ratio = group.create_feature("ratio", dtype="float64", derived_from="clicks / NULLIF(views, 0)")
    ratio.update(derived_from="clicks / NULLIF(views + 1, 0)")
    assert ratio.derived_from == "clicks / NULLIF(views + 1, 0)"
    with pytest.raises(ValidationError) as info:
        ratio.update(dtype="string")
    assert info.value.code == "RAISE-V023"


def test_list_features_filters(group):
    group.create_feature("a", dtype="int64", tags=["x", "y"])
    group.create_feature("b", dtype="float64", tags=["x"])
    group.create_feature("c", dtype="float64", derived_from="a * 2")
    assert [f.name for f in group.list_features(tags=["x"])] == ["a", "b"]
    assert [f.name for f in group.list_features(tags=["x", "y"])] == ["a"]
    assert [f.name for f in group.list_features(is_derived=True)] == ["c"]
    assert [f.name for f in group.list_features(dtype="float64")] == ["b", "c"]


def test_feature_repr_and_html(group):
    feature = group.create_feature("ratio", dtype="float64", derived_from="1.0 / 2")
    assert repr(feature) == "Feature(user-signals/ratio@v1, dtype=float64, derived_from='1.0 / 2')"
    page = feature._repr_html_()
    assert "ratio@v1" in page and "1.0 / 2" in page
    assert "<script" not in group.create_feature("x", dtype="int64", description="<script>")._repr_html_()
