"""The spec's Multimodal Data snippets, as written (object-store references parsed and stored as
given; scans and validations against local data)."""
from __future__ import annotations

import hashlib
import time

import pytest

pytest_plugins = ["conftest_sdk"]


@pytest.fixture(autouse=True)
def store_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RAISE_HOME", str(tmp_path / "store"))
    monkeypatch.delenv("RAISE_USER", raising=False)
    return tmp_path


def test_blob_references_snippet(capsys):
    from raise_ import BlobReference, BlobRegistry, ContentType, create_reference

    registry = BlobRegistry(name="product-images")
    ref = registry.register(
        uri="s3://products/images/product-001.png",
        content_type=ContentType.IMAGE_PNG,
        checksum="abc123def456...",
        size_bytes=1024000,
        metadata={"width": 1920, "height": 1080, "color_space": "sRGB"},
    )
    for value in (ref.uri, ref.scheme, ref.bucket, ref.key, ref.is_image, ref.size_bytes):
        print(value)
    assert capsys.readouterr().out.split("\n")[:6] == [
        "s3://products/images/product-001.png", "s3", "products", "images/product-001.png", "True", "1024000"]
    ref = create_reference(uri="s3://bucket/audio.wav", content_type="audio/wav", checksum="def789...")
    assert isinstance(ref, BlobReference) and ref.content_type == "audio/wav"


def test_blob_ref_feature_type_snippet():
    from raise_ import BlobRef, FeatureStore

    fs = FeatureStore("acme/mlplatform/vision")
    image_features = fs.create_feature_group("image-features")
    image_features.create_features_from_schema({
        "product_id": "string",
        "image_ref": BlobRef(content_types=["image/png", "image/jpeg"]),
        "thumbnail_ref": BlobRef(content_types=["image/jpeg"]),
        "embedding": "float32[512]",
    })
    assert sorted(str(f.dtype) for f in image_features.list_features()) == \
        ["blob_ref<image/jpeg>", "blob_ref<image/png|image/jpeg>", "float32[512]", "string"]
    shortcuts = ["blob_ref", "blob_ref<image/png|image/jpeg>", "blob_ref<audio/wav|audio/mp3|audio/flac>",
                 "blob_ref<video/mp4>"]
    for i, text in enumerate(shortcuts):
        assert image_features.create_feature(f"ref_{i}", dtype=text).dtype == text
    BlobRef()
    BlobRef(content_types=["video/mp4", "video/webm"], registry="video-store", validate_on_write=True)
    image_type = BlobRef(content_types=["image/png", "image/jpeg"])
    assert image_type.accepts("image/png") is True
    assert image_type.accepts("video/mp4") is False


def test_blob_registry_and_integrity_snippets(store_home):
    from raise_ import BlobRegistry, BlobStatus, ContentType, HashAlgorithm, IntegrityMode, IntegrityPolicy

    registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.on_write())
    ref = registry.register(uri="s3://bucket/image.png", content_type="image/png", checksum="abc123...")
    registry_id = ref.registry_id
    assert registry.get(registry_id) == ref == registry.get_by_uri("s3://bucket/image.png")
    assert registry.list_references() == [ref]
    assert registry.list_references(content_type=ContentType.IMAGE_PNG) == [ref]
    assert registry.list_references(prefix="s3://bucket/") == [ref]
    orphans = registry.find_orphans()
    assert orphans == []  # the bucket cannot be reached from here: unknown, not missing
    data = b"\x89PNG\r\n\x1a\n local pixels"
    checksum = registry.compute_checksum(data, HashAlgorithm.SHA256)
    assert checksum == hashlib.sha256(data).hexdigest()

    assert IntegrityPolicy.strict().mode is IntegrityMode.STRICT
    assert IntegrityPolicy.lazy().mode is IntegrityMode.LAZY
    policy = IntegrityPolicy(mode=IntegrityMode.ON_WRITE, fail_on_missing=True, fail_on_mismatch=True,
                             cache_validation_seconds=3600)
    local = store_home / "image.png"
    local.write_bytes(data)
    checked = BlobRegistry(name="local-images", policy=policy)
    ref = checked.register(uri=local.as_uri(), content_type="image/png", checksum=checksum, size_bytes=len(data))
    result = checked.validate(ref)
    assert (result.status, result.valid, result.checksum_matches, result.size_matches) == \
        (BlobStatus.VALID, True, True, True)
    results = checked.validate_batch([ref, ref])
    assert [r.valid for r in results] == [True, True] and all(r.cached for r in results)


def test_multimodal_source_snippet_over_local_files(store_home):
    from raise_ import BlobRegistry, ContentType, MultimodalSource

    images = store_home / "products" / "images"
    images.mkdir(parents=True)
    (images / "product-001.png").write_bytes(b"\x89PNG\r\n\x1a\n one")
    (images / "product-002.jpg").write_bytes(b"\xff\xd8\xff two")
    registry = BlobRegistry(name="product-images")
    source = MultimodalSource(
        name="product_images",
        uri_prefix=images.as_uri() + "/",
        content_types=[ContentType.IMAGE_JPEG, ContentType.IMAGE_PNG],
        registry=registry,
        compute_checksums=True,
        recursive=True,
    )
    refs = source.scan()
    assert [f"{ref.uri} - {ref.content_type}" for ref in refs] == [
        f"{images.as_uri()}/product-001.png - image/png", f"{images.as_uri()}/product-002.jpg - image/jpeg"]
    ref = source.get_reference("product-001.png")
    assert ref.checksum == hashlib.sha256(b"\x89PNG\r\n\x1a\n one").hexdigest()


def test_unreachable_object_store_prefix_is_a_clear_error():
    from raise_ import MultimodalSource
    from raise_.errors import RaiseError

    started = time.monotonic()
    with pytest.raises(RaiseError) as info:
        MultimodalSource(name="product_images", uri_prefix="s3://products/images/").scan()
    assert info.value.code in ("RAISE-X300", "RAISE-N301") and time.monotonic() - started < 60


def test_blob_integrity_check_snippet(store_home):
    import pyarrow as pa

    from raise_ import BlobIntegrityCheck, CheckResult, create_reference
    from raise_.transforms import CheckSeverity

    paths = []
    for i in range(100):
        path = store_home / f"img-{i:03d}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 10)
        paths.append(path)
    data = pa.table({"image_ref": [create_reference(str(p), checksum=hashlib.sha256(p.read_bytes()).hexdigest(),
                                                    size_bytes=p.stat().st_size).to_dict() for p in paths]})
    check = BlobIntegrityCheck(
        name="check_image_integrity",
        column="image_ref",
        verify_checksum=True,
        verify_existence=True,
        max_missing_rate=0.01,
        max_invalid_rate=0.0,
        sample_rate=1.0,
        severity=CheckSeverity.ERROR,
    )
    result = check.check(data)
    assert result.result == CheckResult.PASSED
    assert result.details["total_references"] == 100 and result.details["missing_count"] == 0
    paths[0].unlink()
    assert check.check(data).result == CheckResult.PASSED  # 1% missing is allowed
    paths[1].unlink()
    assert check.check(data).result == CheckResult.FAILED


def test_content_type_and_hash_algorithm_snippets():
    from raise_.transforms import ContentType, HashAlgorithm, infer_content_type

    assert ContentType.IMAGE_PNG and ContentType.AUDIO_WAV and ContentType.TENSOR_SAFETENSORS
    assert infer_content_type("s3://bucket/image.png") is ContentType.IMAGE_PNG
    assert infer_content_type("data/model.safetensors") is ContentType.TENSOR_SAFETENSORS
    assert [a.name for a in HashAlgorithm] == ["SHA256", "SHA512", "MD5", "BLAKE3", "XXH3"]
