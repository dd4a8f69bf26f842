"""``blob_ref`` feature columns: stored as structs, written from references, dicts or URIs,
checked against the dtype's content types (nothing written on refusal), read by SQL functions."""
from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pytest

from raise_ import BlobRef, BlobRegistry, ContentType, IntegrityPolicy, create_reference
from raise_.errors import NotFound, TypeMismatch, ValidationError
from raise_.sdk.dtypes import feature_type
from raise_.types import BLOB_REF, storage_arrow, to_arrow

pytest_plugins = ["conftest_sdk"]

PNG = create_reference("s3://products/images/product-001.png", checksum="ab" * 32, size_bytes=1024000)


@pytest.fixture
def images(make_store):
    fs = make_store("acme/mlplatform/vision")
    group = fs.create_feature_group("image-features", key_columns={"product_id": "string"})
    group.create_features_from_schema({
        "image_ref": BlobRef(content_types=["image/png", "image/jpeg"]),
        "thumbnail_ref": BlobRef(content_types=["image/jpeg"]),
        "any_ref": "blob_ref",
        "embedding": "float32[512]",
    })
    return fs, group


def test_blob_ref_is_a_struct_column():
    fields = [f.name for f in BLOB_REF]
    assert fields == ["uri", "content_type", "checksum", "hash_algorithm", "size_bytes", "etag", "version_id"]
    assert to_arrow("blob_ref<image/png|image/jpeg>") == BLOB_REF == storage_arrow("blob_ref")


def test_write_references_dicts_and_uris_and_read_them_back(images):
    fs, group = images
    written = group.write([
        {"product_id": "p1", "image_ref": PNG, "thumbnail_ref": "s3://products/thumbs/p1.jpg"},
        {"product_id": "p2", "image_ref": {"uri": "gs://media/p2.jpeg", "content_type": "image/jpeg",
                                           "etag": '"9f"', "version_id": "3"}, "any_ref": "file:///data/a.wav"},
        {"product_id": "p3"},
    ])
    assert written == 3
    rows = {r["product_id"]: r for r in group.read().to_pylist()}
    assert rows["p1"]["image_ref"] == {"uri": "s3://products/images/product-001.png", "content_type": "image/png",
                                       "checksum": "ab" * 32, "hash_algorithm": "sha256", "size_bytes": 1024000,
                                       "etag": None, "version_id": None}
    assert rows["p1"]["thumbnail_ref"]["content_type"] == "image/jpeg"
    assert rows["p2"]["image_ref"]["etag"] == '"9f"' and rows["p2"]["any_ref"]["content_type"] == "audio/wav"
    assert rows["p3"]["image_ref"] is None
    got = fs.sql('SELECT product_id, BLOB_URI(image_ref) AS uri, BLOB_SIZE(image_ref) AS size, '
                 'BLOB_CONTENT_TYPE(image_ref) AS ct, blob_checksum(image_ref) AS sum FROM "image-features" '
                 'ORDER BY product_id').to_pylist()
    assert got == [
        {"product_id": "p1", "uri": PNG.uri, "size": 1024000, "ct": "image/png", "sum": "ab" * 32},
        {"product_id": "p2", "uri": "gs://media/p2.jpeg", "size": None, "ct": "image/jpeg", "sum": None},
        {"product_id": "p3", "uri": None, "size": None, "ct": None, "sum": None},
    ]
    assert fs.sql('SELECT COUNT(*) AS n FROM "image-features" WHERE BLOB_CONTENT_TYPE(image_ref) = \'image/png\'') \
        .column("n").to_pylist() == [1]


def test_pandas_and_arrow_writes(images):
    _, group = images
    frame = pd.DataFrame({"product_id": ["a", "b"], "image_ref": [PNG, "s3://products/b.jpg"]})
    assert group.write(frame) == 2
    table = pa.table({"product_id": ["c"], "image_ref": pa.array(["s3://products/c.png"])})
    assert group.write(table) == 1
    assert sorted(r["image_ref"]["uri"] for r in group.read().to_pylist()) == \
        ["s3://products/b.jpg", "s3://products/c.png", PNG.uri]


@pytest.mark.parametrize("value, code", [
    ("s3://products/clip.mp4", "RAISE-V302"),
    (create_reference("s3://products/a.png", content_type=ContentType.AUDIO_WAV), "RAISE-V302"),
    ("s3://products/unknown.bin", "RAISE-V302"),
    ("not a uri ", "RAISE-V300"),
    ("http://example.com/a.png", "RAISE-V300"),
    ({"uri": "s3://products/a.png", "content_type": "image/nope"}, "RAISE-V301"),
    ({"uri": "s3://products/a.png", "hash_algorithm": "crc32"}, "RAISE-V303"),
    ({"uri": "s3://products/a.png", "size_bytes": -5}, "RAISE-V304"),
    (42, "RAISE-V304"),
])
def test_bad_references_are_refused_and_nothing_is_written(images, value, code):
    _, group = images
    group.write([{"product_id": "ok", "image_ref": PNG}])
    with pytest.raises(ValidationError) as info:
        group.write([{"product_id": "p9", "image_ref": PNG}, {"product_id": "p10", "image_ref": value}])
    assert info.value.code == code
    assert "image_ref" in info.value.message
    assert group.read().column("product_id").to_pylist() == ["ok"]


def test_refusal_names_the_accepted_types(images):
    _, group = images
    with pytest.raises(ValidationError) as info:  # over Flight the class is restored from the code's family
        group.write([{"product_id": "p", "thumbnail_ref": "s3://products/t.png"}])
    assert info.value.code == "RAISE-V302" and info.value.name == "thumbnail_ref"
    assert "accepts image/jpeg" in info.value.message and "'image/png'" in info.value.message


def test_engine_checks_arrow_ingest_of_partial_structs_and_strings(session):
    session.execute('CREATE ORGANIZATION acme; CREATE DOMAIN acme/ml; CREATE PROJECT acme/ml/vision; USE acme/ml/vision; '
                    'CREATE FEATURE GROUP g KEY (id INT64); CREATE FEATURE g.img blob_ref<image/*>')
    partial = pa.array([{"uri": "s3://b/a.png", "size_bytes": 7}], pa.struct([("uri", pa.string()), ("size_bytes", pa.int64())]))
    assert session.ingest("g", pa.table({"id": [1], "img": partial})) == 1
    assert session.ingest("g", pa.table({"id": [2], "img": ["s3://b/b.gif"]})) == 1
    with pytest.raises(TypeMismatch) as info:
        session.ingest("g", pa.table({"id": [3], "img": ["s3://b/c.wav"]}))
    assert info.value.code == "RAISE-V302"
    with pytest.raises(TypeMismatch) as info:
        session.ingest("g", pa.table({"id": [3], "img": [5]}))
    assert info.value.code == "RAISE-V020"
    got = session.execute("SELECT id, BLOB_URI(img) AS u, BLOB_SIZE(img) AS s, BLOB_CONTENT_TYPE(img) AS c "
                          "FROM g ORDER BY id").to_pylist()
    assert got == [{"id": 1, "u": "s3://b/a.png", "s": 7, "c": "image/png"},
                   {"id": 2, "u": "s3://b/b.gif", "s": None, "c": "image/gif"}]


def test_blob_ref_options_are_part_of_the_dtype():
    video = BlobRef(content_types=["video/mp4", "video/webm"], registry="Video-Store", validate_on_write=True)
    assert str(video) == "blob_ref<video/mp4|video/webm, registry=Video-Store, validate_on_write>"
    assert (video.registry, video.validate_on_write, video.content_types) == ("Video-Store", True,
                                                                              ["video/mp4", "video/webm"])
    assert feature_type(str(video)) == video and str(BlobRef(registry="x")) == "blob_ref<registry=x>"
    for bad in ["blob_ref<image/png, colour=red>", "blob_ref<image/png, registry=>", "blob_ref<,>"]:
        with pytest.raises(ValidationError) as info:
            feature_type(bad)
        assert info.value.code == "RAISE-V010"


def _local_png(tmp_path, name="a.png", data=b"\x89PNG\r\n\x1a\n pixels"):
    path = tmp_path / name
    path.write_bytes(data)
    return create_reference(path.as_uri(), checksum=hashlib.sha256(data).hexdigest(), size_bytes=len(data)), path


def test_writes_are_validated_against_the_columns_registry(images, tmp_path):
    fs, group = images
    BlobRegistry(name="checked-images", policy=IntegrityPolicy.lazy(), store=fs)  # in the group's project
    group.create_feature("checked_ref", BlobRef(content_types=["image/png"], registry="checked-images",
                                                validate_on_write=True))
    good, _ = _local_png(tmp_path)
    tampered, path = _local_png(tmp_path, "b.png")
    path.write_bytes(b"\x89PNG\r\n\x1a\n other!")
    assert group.write([{"product_id": "ok", "checked_ref": good}]) == 1
    for ref, code in [(tampered, "RAISE-V307"), (create_reference((tmp_path / "gone.png").as_uri()), "RAISE-V306")]:
        with pytest.raises(ValidationError) as info:
            group.write([{"product_id": "bad", "checked_ref": ref}])
        assert info.value.code == code and "checked_ref" in info.value.message
    assert group.read().column("product_id").to_pylist() == ["ok"]
    # without validate_on_write the registry's policy decides: on_write refuses mismatches only
    BlobRegistry(name="policy-images", policy=IntegrityPolicy.on_write(), store=fs)
    group.create_feature("policy_ref", BlobRef(registry="policy-images"))
    assert group.write([{"product_id": "later", "policy_ref": (tmp_path / "not-yet.png").as_uri()}]) == 1
    with pytest.raises(ValidationError) as info:
        group.write([{"product_id": "bad", "policy_ref": tampered}])
    assert info.value.code == "RAISE-V307"
    group.create_feature("nowhere_ref", BlobRef(registry="no-such-registry"))
    with pytest.raises(NotFound) as info:
        group.write([{"product_id": "x", "nowhere_ref": good}])
    assert info.value.code == "RAISE-N302"
    assert sorted(group.read().column("product_id").to_pylist()) == ["later", "ok"]
    # a registry of another project is named by its path
    other = fs.with_context(project="archive")
    BlobRegistry(name="archived", policy=IntegrityPolicy.lazy(), store=other)
    group.create_feature("archived_ref", BlobRef(registry="archive/archived", validate_on_write=True))
    assert group.write([{"product_id": "kept", "archived_ref": good}]) == 1
    with pytest.raises(ValidationError) as info:
        group.write([{"product_id": "bad", "archived_ref": tampered}])
    assert info.value.code == "RAISE-V307"
