"""Multimodal sources and blob integrity checks over local data (file:// and plain paths)."""
from __future__ import annotations

import hashlib
import io

import pyarrow as pa
import pytest
from PIL import Image

from raise_ import (
    BlobIntegrityCheck, BlobRegistry, BlobStatus, CheckResult, ContentType, HashAlgorithm, IntegrityPolicy,
    MultimodalSource,
)
from raise_.errors import NotFound, ValidationError
from raise_.transforms import CheckSeverity

pytest_plugins = ["conftest_sdk"]


def _image(path, fmt, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, format=fmt)
    path.write_bytes(out.getvalue())
    return out.getvalue()


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "products" / "images"
    data = {
        "product-001.png": _image(root / "product-001.png", "PNG", (255, 0, 0)),
        "product-002.jpg": _image(root / "product-002.jpg", "JPEG", (0, 255, 0)),
        "sub/product-003.png": _image(root / "sub" / "product-003.png", "PNG", (0, 0, 255)),
    }
    (root / "notes.txt").write_text("not an image")
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return root, data


def test_scan_returns_references_with_streamed_checksums(images, store):
    root, data = images
    registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.on_write(), store=store)
    source = MultimodalSource(name="product_images", uri_prefix=f"file://{root}/",
                              content_types=[ContentType.IMAGE_JPEG, ContentType.IMAGE_PNG], registry=registry,
                              compute_checksums=True, recursive=True)
    refs = source.scan()
    assert [r.uri for r in refs] == [f"file://{root}/{name}" for name in sorted(data)]
    assert [r.content_type for r in refs] == [ContentType.IMAGE_PNG, ContentType.IMAGE_JPEG, ContentType.IMAGE_PNG]
    assert [r.checksum for r in refs] == [hashlib.sha256(data[n]).hexdigest() for n in sorted(data)]
    assert [r.size_bytes for r in refs] == [len(data[n]) for n in sorted(data)]
    assert registry.list_references() == refs and all(r.registry_id for r in refs)
    registrations = [s for s in store.history if s.startswith("REGISTER")]
    assert len(registrations) == 1 and registrations[0].count(" VALIDATED valid AT ") == 3  # one statement, hashed
    assert all(result.valid for result in registry.validate_batch(refs))
    assert source.get_reference("product-001.png") == refs[0]
    assert source.get_reference("sub/product-003.png").registry_id == refs[2].registry_id


def test_scan_options(images):
    root, data = images
    flat = MultimodalSource(name="flat", uri_prefix=str(root), recursive=False, compute_checksums=False,
                            hash_algorithm=HashAlgorithm.XXH3)
    refs = flat.scan()
    assert [r.uri for r in refs] == [f"{root}/clip.mp4", f"{root}/product-001.png", f"{root}/product-002.jpg"]
    assert all(r.checksum is None for r in refs) and refs[1].size_bytes == len(data["product-001.png"])
    blake = MultimodalSource(name="b3", uri_prefix=str(root), content_types=["image/png"],
                             hash_algorithm="blake3").scan()
    assert [r.hash_algorithm for r in blake] == [HashAlgorithm.BLAKE3] * 2
    fresh = MultimodalSource(name="fresh", uri_prefix=str(root))
    assert fresh.get_reference("product-002.jpg").checksum == hashlib.sha256(data["product-002.jpg"]).hexdigest()
    with pytest.raises(NotFound) as info:
        fresh.get_reference("product-404.png")
    assert info.value.code == "RAISE-N301"
    with pytest.raises(NotFound):
        MultimodalSource(name="gone", uri_prefix=str(root / "missing")).scan()
    with pytest.raises(ValidationError) as info:
        MultimodalSource(name="bad", uri_prefix=str(root), content_types=["image/nope"])
    assert info.value.code == "RAISE-V301"


def test_integrity_check_passes_on_intact_blobs(images):
    root, _ = images
    refs = MultimodalSource(name="s", uri_prefix=str(root), content_types=["image/png", "image/jpeg"]).scan()
    table = pa.table({"product_id": ["a", "b", "c"], "image_ref": [r.to_dict() for r in refs]})
    check = BlobIntegrityCheck(name="check_image_integrity", column="image_ref", verify_checksum=True,
                               verify_existence=True, max_missing_rate=0.01, max_invalid_rate=0.0, sample_rate=1.0,
                               severity=CheckSeverity.ERROR)
    result = check.check(table)
    assert result.result is CheckResult.PASSED and result.passed
    assert result.details["total_references"] == 3 and result.details["missing_count"] == 0
    assert result.details["invalid_count"] == 0 and result.details["checked_count"] == 3


def test_integrity_check_counts_missing_tampered_and_truncated(images):
    root, data = images
    refs = MultimodalSource(name="s", uri_prefix=str(root), content_types=["image/png", "image/jpeg"]).scan()
    (root / "product-001.png").unlink()
    (root / "product-002.jpg").write_bytes(data["product-002.jpg"][:-10])
    tampered = bytearray(data["sub/product-003.png"])
    tampered[-20] ^= 1
    (root / "sub" / "product-003.png").write_bytes(bytes(tampered))
    rows = [{"image_ref": r} for r in refs] + [{"image_ref": None}]
    result = BlobIntegrityCheck(name="verify_images", column="image_ref", verify_checksum=True).check(rows)
    assert result.result is CheckResult.FAILED
    details = result.details
    assert (details["total_references"], details["null_references"], details["missing_count"],
            details["size_mismatch_count"], details["checksum_mismatch_count"], details["invalid_count"]) == \
        (3, 1, 1, 1, 1, 2)
    assert details["missing_rate"] == pytest.approx(1 / 3) and details["invalid_rate"] == pytest.approx(2 / 3)
    assert sorted(f.status for f in result.failures) == sorted(
        [BlobStatus.MISSING, BlobStatus.SIZE_MISMATCH, BlobStatus.CHECKSUM_MISMATCH])
    lenient = BlobIntegrityCheck(name="w", column="image_ref", max_missing_rate=0.5, max_invalid_rate=1.0,
                                 severity="warning").check(rows)
    assert lenient.result is CheckResult.PASSED
    warned = BlobIntegrityCheck(name="w", column="image_ref", severity=CheckSeverity.WARNING).check(rows)
    assert warned.result is CheckResult.WARNING
    existence_only = BlobIntegrityCheck(name="e", column="image_ref", verify_checksum=False,
                                        max_missing_rate=0.5).check(rows)
    assert existence_only.details["checksum_mismatch_count"] == 0 and existence_only.details["size_mismatch_count"] == 1


def test_sampling_checks_a_deterministic_share(images):
    root, _ = images
    refs = MultimodalSource(name="s", uri_prefix=str(root), content_types=["image/png", "image/jpeg"]).scan() * 10
    check = BlobIntegrityCheck(name="sampled", column="image_ref", sample_rate=0.2, seed=3)
    first, second = check.check({"image_ref": refs}), check.check({"image_ref": refs})
    assert first.details["checked_count"] == 6 and first.details == second.details


@pytest.mark.parametrize("options", [{"sample_rate": 1.5}, {"max_missing_rate": -0.1}, {"severity": "fatal"}])
def test_bad_check_settings_are_refused(options):
    with pytest.raises(ValidationError) as info:
        BlobIntegrityCheck(name="x", column="image_ref", **options)
    assert info.value.code == "RAISE-V308"


def test_check_needs_the_column():
    with pytest.raises(ValidationError) as info:
        BlobIntegrityCheck(name="x", column="image_ref").check(pa.table({"other": [1]}))
    assert info.value.code == "RAISE-V053" and info.value.name == "image_ref"
