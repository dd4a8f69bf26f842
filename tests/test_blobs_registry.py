"""Blob registry and integrity: registration, validation (tampered, truncated, deleted), policies, cache.

Registries are reached through a FeatureStore's connection, embedded and over Flight."""
from __future__ import annotations

import hashlib
import time

import pytest

from raise_ import BlobRegistry, BlobStatus, ContentType, HashAlgorithm, IntegrityMode, IntegrityPolicy
from raise_.blobs import create_reference
from raise_.blobs.store import BLOB_KIND, REGISTRY_KIND
from raise_.engine import Engine
from raise_.errors import NotFound, ValidationError

pytest_plugins = ["conftest_sdk"]


def _blob(tmp_path, name="a.png", data=b"\x89PNG\r\n\x1a\n" + bytes(range(200))):
    path = tmp_path / "blobs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


def _registry(store, policy=None, name="product-images"):
    return BlobRegistry(name=name, policy=policy, store=store)


def test_spec_registration_is_stored_as_given(tmp_path, store):
    registry = _registry(store)
    ref = registry.register(uri="s3://products/images/product-001.png", content_type=ContentType.IMAGE_PNG,
                            checksum="abc123def456...", size_bytes=1024000,
                            metadata={"width": 1920, "height": 1080, "color_space": "sRGB"})
    assert (ref.uri, ref.scheme, ref.bucket, ref.key, ref.is_image, ref.size_bytes) == \
        ("s3://products/images/product-001.png", "s3", "products", "images/product-001.png", True, 1024000)
    assert ref.registry_id and registry.get(ref.registry_id) == ref
    again = _registry(store).get_by_uri("s3://products/images/product-001.png")
    assert again == ref and again.metadata["width"] == 1920 and again.registry_id == ref.registry_id
    assert registry.policy == IntegrityPolicy.on_write()


def test_registry_records_are_catalog_objects_of_the_project(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    ref = registry.register(uri="s3://bucket/image.png", content_type="image/png", checksum="abc123...")
    key = "acme/mlplatform/recommendation/product-images"
    catalog = Engine(tmp_path / "store").catalog
    assert catalog.get(REGISTRY_KIND, key)["policy"]["mode"] == "lazy"
    record = catalog.get(BLOB_KIND, f"{key}/{ref.registry_id}")
    assert record["reference"]["uri"] == "s3://bucket/image.png" and record["metadata"] == {}
    assert [r["registry_id"] for r in catalog.list(BLOB_KIND, parent=key)] == [ref.registry_id]
    assert any(s.startswith('REGISTER BLOB IN "acme"/"mlplatform"/"recommendation"/"product-images"')
               for s in store.history)


def test_list_references_filters_by_content_type_and_prefix(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    for uri in ["s3://bucket/a.png", "s3://bucket/b.jpg", "s3://other/c.png", "gs://bucket/d.png"]:
        registry.register(uri=uri)
    assert [r.uri for r in registry.list_references()] == \
        ["gs://bucket/d.png", "s3://bucket/a.png", "s3://bucket/b.jpg", "s3://other/c.png"]
    assert [r.uri for r in registry.list_references(content_type=ContentType.IMAGE_PNG)] == \
        ["gs://bucket/d.png", "s3://bucket/a.png", "s3://other/c.png"]
    assert [r.uri for r in registry.list_references(prefix="s3://bucket/")] == ["s3://bucket/a.png", "s3://bucket/b.jpg"]
    assert len(registry) == 4


def test_validate_reports_valid_tampered_truncated_and_deleted(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    path, digest, size = _blob(tmp_path)
    ref = registry.register(uri=str(path), checksum=digest, size_bytes=size)
    result = registry.validate(ref)
    assert (result.status, result.valid, result.checksum_matches, result.size_matches) == (BlobStatus.VALID, True, True, True)

    data = bytearray(path.read_bytes())
    data[50] ^= 0xFF
    path.write_bytes(bytes(data))
    tampered = registry.validate(ref)
    assert (tampered.status, tampered.valid, tampered.checksum_matches, tampered.size_matches) == \
        (BlobStatus.CHECKSUM_MISMATCH, False, False, True)
    assert tampered.actual_checksum == hashlib.sha256(bytes(data)).hexdigest()

    path.write_bytes(bytes(data[:100]))
    truncated = registry.validate(ref)
    assert (truncated.status, truncated.size_matches, truncated.actual_size) == (BlobStatus.SIZE_MISMATCH, False, 100)

    path.unlink()
    deleted = registry.validate(ref)
    assert (deleted.status, deleted.exists, deleted.valid) == (BlobStatus.MISSING, False, False)
    assert registry.find_orphans() == [ref]


def test_validate_batch_keeps_order_and_bounds_concurrency(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    refs = []
    for i in range(20):
        path, digest, size = _blob(tmp_path, f"b{i}.png", bytes([i]) * (1000 + i))
        refs.append(registry.register(uri=str(path), checksum=digest, size_bytes=size))
    (tmp_path / "blobs" / "b3.png").unlink()
    (tmp_path / "blobs" / "b7.png").write_bytes(b"changed")
    results = registry.validate_batch(refs, max_workers=4)
    assert [r.reference for r in results] == refs
    statuses = [r.status for r in results]
    assert statuses[3] is BlobStatus.MISSING and statuses[7] is BlobStatus.SIZE_MISMATCH
    assert statuses.count(BlobStatus.VALID) == 18
    with pytest.raises(ValidationError) as info:
        registry.validate_batch(refs, max_workers=0)
    assert info.value.code == "RAISE-V308"


def test_on_write_refuses_a_mismatched_blob_and_stores_nothing(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.on_write())
    path, digest, size = _blob(tmp_path)
    with pytest.raises(ValidationError) as info:
        registry.register(uri=str(path), checksum="0" * 64)
    assert info.value.code == "RAISE-V307" and info.value.name == str(path)
    assert registry.list_references() == []
    ok = registry.register(uri=str(path), checksum=digest, size_bytes=size)
    assert registry.list_references() == [ok]
    # on_write tolerates a blob that is not there yet; the custom form can refuse it
    assert registry.register(uri=str(tmp_path / "later.png")).uri.endswith("later.png")
    picky = _registry(store, IntegrityPolicy(mode=IntegrityMode.ON_WRITE, fail_on_missing=True), name="picky")
    with pytest.raises(ValidationError) as info:
        picky.register(uri=str(tmp_path / "never.png"))
    assert info.value.code == "RAISE-V306" and picky.list_references() == []


def test_strict_validates_every_access(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.strict())
    path, digest, size = _blob(tmp_path)
    ref = registry.register(uri=str(path), checksum=digest, size_bytes=size)
    assert registry.get(ref.registry_id) == ref
    path.unlink()
    with pytest.raises(ValidationError) as info:
        registry.get_by_uri(str(path))
    assert info.value.code == "RAISE-V306"
    lazy = _registry(store, IntegrityPolicy.lazy())
    assert lazy.get(ref.registry_id) == ref  # same registry reopened lazy: no validation on read


def test_the_validation_cache_is_honoured_and_expires(tmp_path, store):
    registry = _registry(store, IntegrityPolicy(mode=IntegrityMode.LAZY, cache_validation_seconds=0.5))
    path, digest, size = _blob(tmp_path)
    ref = registry.register(uri=str(path), checksum=digest, size_bytes=size)
    first = registry.validate(ref)
    assert first.valid and not first.cached
    path.write_bytes(b"\x00" * size)  # tampered, same size: only a fresh read can tell
    second = registry.validate(ref)
    assert second.valid and second.cached and second.checked_at == first.checked_at
    time.sleep(0.6)
    third = registry.validate(ref)
    assert third.status is BlobStatus.CHECKSUM_MISMATCH and not third.cached
    assert registry.validate(ref).cached is False  # failures are never cached


def test_uncached_policies_revalidate_every_time(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    path, digest, size = _blob(tmp_path)
    ref = registry.register(uri=str(path), checksum=digest)
    assert registry.validate(ref).valid
    path.write_bytes(b"\x00" * size)
    assert registry.validate(ref).status is BlobStatus.CHECKSUM_MISMATCH


def test_other_algorithms_validate(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    path, _, size = _blob(tmp_path)
    for algorithm in HashAlgorithm:
        with open(path, "rb") as handle:
            digest = registry.compute_checksum(handle, algorithm)
        ref = create_reference(str(path), checksum=digest, hash_algorithm=algorithm, size_bytes=size)
        assert registry.validate(ref).valid, algorithm


def test_unreachable_object_stores_are_reported_not_waited_on(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    ref = registry.register(uri="s3://products/images/product-001.png", checksum="abc123def456...")
    started = time.monotonic()
    result = registry.validate(ref)
    assert result.status in (BlobStatus.UNREACHABLE, BlobStatus.MISSING) and not result.valid
    assert time.monotonic() - started < 60


def test_unknown_references_and_bad_settings(tmp_path, store):
    registry = _registry(store, IntegrityPolicy.lazy())
    with pytest.raises(NotFound) as info:
        registry.get("nope")
    assert info.value.code == "RAISE-N300"
    with pytest.raises(NotFound):
        registry.get_by_uri("s3://b/none.png")
    with pytest.raises(ValidationError) as info:
        IntegrityPolicy(mode="sometimes")
    assert info.value.code == "RAISE-V308" and "PERIODIC" in info.value.message
    with pytest.raises(ValidationError) as info:
        IntegrityPolicy(cache_validation_seconds=-1)
    assert info.value.code == "RAISE-V308"
    with pytest.raises(ValidationError) as info:
        BlobRegistry(name="a/b", store=store)
    assert info.value.code == "RAISE-V309"
    with pytest.raises(ValidationError) as info:
        registry.register(uri="s3://b/a.unknown")
    assert info.value.code == "RAISE-V301" and registry.list_references() == []


def test_policy_presets():
    assert IntegrityPolicy.strict().mode is IntegrityMode.STRICT and IntegrityPolicy.strict().fail_on_missing
    assert IntegrityPolicy.on_write().mode is IntegrityMode.ON_WRITE
    assert IntegrityPolicy.lazy().mode is IntegrityMode.LAZY and not IntegrityPolicy.lazy().fail_on_mismatch
    custom = IntegrityPolicy(mode=IntegrityMode.ON_WRITE, fail_on_missing=True, fail_on_mismatch=True,
                             cache_validation_seconds=3600)
    assert IntegrityPolicy.from_dict(custom.to_dict()) == custom
