"""Data types: every string shortcut and typed constructor of the spec, to Arrow and back."""
from __future__ import annotations

import pyarrow as pa
import pytest

from raise_ import (
    Array, BlobRef, Bool, Bytes, Embedding, Float16, Float32, Float64, Int32, Int64, String, Struct,
    Timestamp,
)
from raise_.errors import InvalidDType
from raise_.sdk.dtypes import dtype_text, feature_type
from raise_.types import from_arrow

SHORTCUTS = {
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "bytes": pa.binary(),
    "timestamp": pa.timestamp("us"),
    "float32[512]": pa.list_(pa.float32(), 512),
    "float16[768]": pa.list_(pa.float16(), 768),
    "int64[]": pa.list_(pa.int64()),
    "float64[:100]": pa.list_(pa.float64()),
    "string[128]": pa.string(),
    "string[]": pa.list_(pa.string()),
    "string[:16]": pa.list_(pa.string()),
}


@pytest.mark.parametrize("shortcut", SHORTCUTS)
def test_every_shortcut_maps_to_arrow(shortcut):
    typed = feature_type(shortcut)
    assert str(typed) == shortcut
    assert typed == shortcut
    assert typed.to_arrow() == SHORTCUTS[shortcut]


@pytest.mark.parametrize("shortcut", ["int64", "float32", "float64", "bool", "string", "bytes",
                                      "timestamp", "float32[512]", "float16[768]", "int64[]", "string[]"])
def test_arrow_type_maps_back_to_the_shortcut(shortcut):
    assert from_arrow(feature_type(shortcut).to_arrow()) == shortcut


def test_typed_constructors_match_the_spec():
    assert str(Embedding(512)) == "float32[512]"
    assert str(Embedding(768, dtype="float16")) == "float16[768]"
    assert Embedding(768, dtype=Float16()) == "float16[768]"
    assert str(Array(Int64(), max_length=100)) == "int64[:100]"
    assert str(Array(Float32())) == "float32[]"
    assert Array(String()) == "string[]" and Array(String(), max_length=16) == "string[:16]"
    assert Array(String()).to_arrow() == pa.list_(pa.string()) and Array(String()).element == String()
    assert str(Struct({"lat": Float64(), "lon": Float64()})) == "struct<lat: float64, lon: float64>"
    assert Struct({"lat": Float64(), "lon": Float64()}).to_arrow() == pa.struct(
        [("lat", pa.float64()), ("lon", pa.float64())])
    assert [str(t()) for t in (Int32, Bool, Bytes, Timestamp)] == ["int32", "bool", "bytes", "timestamp"]
    assert String(max_length=128) == "STRING[128]"  # shortcuts are case-insensitive
    assert Embedding(512).dim == 512 and Embedding(512).element == "float32"


def test_feature_type_gives_the_constructor_back():
    assert repr(feature_type("float16[768]")) == "Embedding(768, dtype='float16')"
    assert repr(feature_type("int64[:100]")) == "Array(Int64(), max_length=100)"
    assert feature_type("struct<lat: float64, lon: float64>").fields == {"lat": Float64(), "lon": Float64()}
    assert isinstance(feature_type("string[128]"), String)
    assert repr(feature_type("string[:8]")) == "Array(String(), max_length=8)"


def test_blob_refs():
    assert str(BlobRef()) == "blob_ref"
    images = BlobRef(content_types=["image/png", "image/jpeg"])
    assert str(images) == "blob_ref<image/png|image/jpeg>"
    assert images.accepts("image/png") is True
    assert images.accepts("video/mp4") is False
    video = BlobRef(content_types=["video/mp4", "video/webm"], registry="video-store", validate_on_write=True)
    assert (video.registry, video.validate_on_write) == ("video-store", True)
    assert feature_type("blob_ref<image/png|image/jpeg>") == images
    assert images.to_arrow().get_field_index("uri") == 0


@pytest.mark.parametrize("bad", ["floaty", "float32[0]", "string[0]", "bool[]", "bytes[4]", "int64[abc]",
                                 "blob_ref<nope>", ""])
def test_invalid_dtype_strings_are_refused_with_the_valid_forms(bad):
    with pytest.raises(InvalidDType) as info:
        dtype_text(bad)
    assert info.value.code == "RAISE-V010"
    assert "float32[512]" in info.value.message


@pytest.mark.parametrize("build", [lambda: Embedding(0), lambda: Embedding(-3), lambda: Embedding(4, dtype=String()),
                                   lambda: Array(String(max_length=8)), lambda: Array(Bool()),
                                   lambda: Struct({}), lambda: BlobRef(content_types="image/png"),
                                   lambda: dtype_text(3.5)])
def test_invalid_constructors_are_refused(build):
    with pytest.raises(InvalidDType):
        build()


def test_types_are_immutable_and_hashable():
    emb = Embedding(512)
    with pytest.raises(AttributeError):
        emb.dim = 3
    assert len({Embedding(512), feature_type("float32[512]"), Int64()}) == 2
