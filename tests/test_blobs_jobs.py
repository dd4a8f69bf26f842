"""Blobs in jobs, embedded and over Flight: ``FROM multimodal`` scans local images into a feature
group (and a registry), and ``BlobIntegrityCheck`` guards a job's write.

The images are small PNG and JPEG files each test writes with Pillow; checksums are compared
with ``hashlib`` and table versions read with ``deltalake`` on the group's own Delta table.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from deltalake import DeltaTable
from PIL import Image

from raise_ import (
    BlobIntegrityCheck, BlobRef, BlobRegistry, ContentType, FeatureGroupSource, IncrementalConfig, MultimodalSource,
    RowCountCheck, SQLTransform, Target,
)
from raise_.transforms import CheckSeverity

pytest_plugins = ["conftest_sdk"]

VISION = "acme/mlplatform/vision"
T0 = dt.datetime(2026, 1, 1)
IMAGE_TYPES = ["image/png", "image/jpeg"]
SCAN_SQL = "SELECT name, ref AS image_ref, uri, content_type, size_bytes, checksum FROM source"
STATS_SQL = "SELECT product_id, image_ref, BLOB_SIZE(image_ref) AS size_bytes, event_time FROM source"


def write_images(folder: Path, count: int, start: int = 1) -> list[Path]:
    """``product-NNN`` images: odd numbers PNG, even JPEG, each a different colour."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        fmt, suffix = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
        path = folder / f"product-{i:03d}.{suffix}"
        Image.new("RGB", (24 + i, 16), (40 * i % 256, 90, 200)).save(path, format=fmt)
        paths.append(path)
    return paths


def documented_row(path: Path, base: Path) -> dict:
    data = path.read_bytes()
    return {"name": path.relative_to(base).as_posix(), "uri": path.as_uri(),
            "content_type": "image/png" if path.suffix == ".png" else "image/jpeg",
            "size_bytes": len(data), "checksum": hashlib.sha256(data).hexdigest()}


@pytest.fixture
def images(tmp_path):
    """Three images at the top, one in a subfolder, and a text file the scans skip."""
    folder = tmp_path / "products" / "images"
    paths = write_images(folder, 3) + write_images(folder / "archive", 1, start=4)
    (folder / "README.txt").write_text("not an image")
    return folder, paths


@pytest.fixture
def vision(make_store):
    return make_store(VISION)


def scanned_group(store):
    group = store.create_feature_group("product-images", key_columns={"name": "string"})
    group.create_features_from_schema({"image_ref": BlobRef(content_types=IMAGE_TYPES), "uri": "string",
                                       "content_type": "string", "size_bytes": "int64", "checksum": "string"})
    return group


def scan_job(store, folder, **options):
    """The scanned group, the registry its references go to, and the job that scans ``folder``."""
    group = scanned_group(store)
    registry = BlobRegistry(name="product-images", store=store)
    source = MultimodalSource(name="product_images", uri_prefix=folder.as_uri() + "/",
                              content_types=[ContentType.IMAGE_JPEG, ContentType.IMAGE_PNG], registry=registry)
    job = store.create_job(name="scan_images", sources=[source],
                           transform=SQLTransform(name="references", sql=SCAN_SQL),
                           target=Target(feature_group="product-images"), **options)
    return group, registry, job


def test_a_multimodal_job_lands_the_documented_reference_rows_and_registers_them(vision, images):
    folder, paths = images
    group, registry, job = scan_job(vision, folder)
    vision.trigger_job(job)
    run = job.runs[-1]
    assert (run.status, run.rows_read, run.rows_written) == ("completed", 4, 4)

    rows = sorted(group.read().to_pylist(), key=lambda r: r["name"])
    expected = sorted((documented_row(p, folder) for p in paths), key=lambda r: r["name"])
    assert [r["name"] for r in rows] == ["archive/product-004.jpg", "product-001.png", "product-002.jpg",
                                         "product-003.png"]
    assert [{k: r[k] for k in expected[0]} for r in rows] == expected
    for row, want in zip(rows, expected):
        assert row["image_ref"] == {"uri": want["uri"], "content_type": want["content_type"],
                                    "checksum": want["checksum"], "hash_algorithm": "sha256",
                                    "size_bytes": want["size_bytes"], "etag": None, "version_id": None}

    registered = {ref.uri: ref for ref in registry.list_references()}
    assert sorted(registered) == sorted(want["uri"] for want in expected)
    assert all(registered[w["uri"]].checksum == w["checksum"] and registered[w["uri"]].size_bytes == w["size_bytes"]
               for w in expected)
    shown = vision.sql('SHOW BLOBS IN "product-images"').to_pylist()
    assert {r["status"] for r in shown} == {"valid"} and all(r["validated_at"] for r in shown)


def test_a_failed_multimodal_run_registers_nothing(vision, images):
    folder, _ = images
    group, registry, job = scan_job(vision, folder, quality_checks=[RowCountCheck(name="enough", min_rows=100)])
    vision.trigger_job(job)
    run = job.runs[-1]
    assert (run.status, run.rows_read, run.rows_written) == ("failed", 4, 0)
    assert registry.list_references() == [] and group.read().num_rows == 0


def test_a_multimodal_job_in_raise_sql_scans_without_a_registry(vision, images):
    folder, paths = images
    group = scanned_group(vision)
    vision.sql(f"""CREATE JOB scan_pngs FROM multimodal (uri_prefix = '{folder.as_uri()}/',
                   content_types = ('image/png'), recursive = FALSE, hash_algorithm = 'md5') AS pngs
                   TRANSFORM picked AS SQL 'SELECT name, ref AS image_ref, uri, content_type, size_bytes, checksum
                                            FROM pngs'
                   INTO "product-images" """)
    run = vision.sql("RUN JOB scan_pngs").to_pylist()[0]
    assert (run["status"], run["rows_written"]) == ("completed", 2)
    rows = sorted(group.read().to_pylist(), key=lambda r: r["name"])
    pngs = [p for p in paths if p.suffix == ".png" and p.parent == folder]
    assert [(r["name"], r["checksum"], r["image_ref"]["hash_algorithm"]) for r in rows] == \
        [(p.name, hashlib.md5(p.read_bytes()).hexdigest(), "md5") for p in pngs]
    assert vision.sql("SHOW BLOB REGISTRIES").num_rows == 0


# -- BlobIntegrityCheck as a job's quality check -----------------------------------------------


def stored_refs(store, folder: Path):
    """``product-images`` holding the references of three images, one per day from T0, and an
    ``image-stats`` group a job fills from it."""
    group = store.create_feature_group("product-images", key_columns={"product_id": "string"},
                                       timestamp_column="event_time")
    group.create_features_from_schema({"image_ref": BlobRef(content_types=IMAGE_TYPES)})
    stats = store.create_feature_group("image-stats", key_columns={"product_id": "string"},
                                       timestamp_column="event_time")
    stats.create_features_from_schema({"image_ref": BlobRef(content_types=IMAGE_TYPES), "size_bytes": "int64"})
    add_refs(group, write_images(folder, 3), 0)
    return group, stats


def add_refs(group, paths: list[Path], day: int) -> None:
    refs = MultimodalSource(name="new", uri_prefix=paths[0].parent.as_uri() + "/").scan()
    wanted = {p.as_uri() for p in paths}
    group.write([{"product_id": Path(ref.key).stem, "image_ref": ref, "event_time": T0 + dt.timedelta(days=day + i)}
                 for i, ref in enumerate(r for r in refs if r.uri in wanted)])


def damage(folder: Path, start: int) -> None:
    """Two new images referenced, then one tampered (same size, other bytes) and one deleted."""
    tampered, deleted = folder / f"product-{start:03d}.png", folder / f"product-{start + 1:03d}.jpg"
    data = bytearray(tampered.read_bytes())
    data[-20] ^= 0xFF
    tampered.write_bytes(bytes(data))
    deleted.unlink()


def state(stats, job) -> tuple:
    table = DeltaTable(stats.table_uri)
    return table.version(), sorted(stats.read().column("product_id").to_pylist()), job.refresh().checkpoint


def stats_job(store, severity: CheckSeverity):
    return store.create_job(
        name="image_stats",
        sources=[FeatureGroupSource(feature_group="product-images")],
        transform=SQLTransform(name="sizes", sql=STATS_SQL),
        target=Target(feature_group="image-stats", write_mode="upsert"),
        incremental=IncrementalConfig.incremental("event_time"),
        quality_checks=[BlobIntegrityCheck(name="verify_images", column="image_ref", verify_checksum=True,
                                           verify_existence=True, max_missing_rate=0.0, max_invalid_rate=0.0,
                                           severity=severity)],
    )


def test_an_error_integrity_check_fails_the_run_before_the_write(vision, tmp_path):
    folder = tmp_path / "images"
    group, stats = stored_refs(vision, folder)
    job = stats_job(vision, CheckSeverity.ERROR)
    vision.trigger_job(job)
    first = job.runs[-1]
    assert (first.status, first.rows_written, first.checkpoint_after) == ("completed", 3, T0 + dt.timedelta(days=2))
    assert first.checks == [{"name": "verify_images", "result": "passed", "severity": "error",
                             "details": first.checks[0]["details"]}]
    assert first.checks[0]["details"]["valid_count"] == 3
    before = state(stats, job)
    assert before[1:] == (["product-001", "product-002", "product-003"], T0 + dt.timedelta(days=2))

    add_refs(group, write_images(folder, 3, start=4), 3)   # 004.jpg, 005.png, 006.jpg
    damage(folder, 5)                                      # 005 tampered, 006 deleted
    vision.trigger_job(job)
    failed = job.runs[-1]
    assert (failed.status, failed.rows_read, failed.rows_written) == ("failed", 3, 0)
    assert "verify_images" in failed.error and "RAISE-X501" in failed.error
    assert failed.checkpoint_after == failed.checkpoint_before == T0 + dt.timedelta(days=2)
    [check] = failed.checks
    assert (check["name"], check["result"], check["severity"]) == ("verify_images", "failed", "error")
    assert {k: check["details"][k] for k in ("total_references", "checked_count", "valid_count", "missing_count",
                                            "invalid_count", "checksum_mismatch_count", "size_mismatch_count")} == \
        {"total_references": 3, "checked_count": 3, "valid_count": 1, "missing_count": 1, "invalid_count": 1,
         "checksum_mismatch_count": 1, "size_mismatch_count": 0}
    assert check["details"]["missing_rate"] == pytest.approx(1 / 3)
    assert state(stats, job) == before   # table version, rows and checkpoint as they were


def test_a_warning_integrity_check_records_its_result_and_writes(vision, tmp_path):
    folder = tmp_path / "images"
    group, stats = stored_refs(vision, folder)
    damage(folder, 1)   # 001 tampered, 002 deleted
    job = stats_job(vision, CheckSeverity.WARNING)
    vision.trigger_job(job)
    run = job.runs[-1]
    assert (run.status, run.rows_written, run.error) == ("completed", 3, None)
    [check] = run.checks
    assert (check["result"], check["severity"]) == ("warning", "warning")
    assert (check["details"]["missing_count"], check["details"]["invalid_count"]) == (1, 1)
    assert state(stats, job)[1:] == (["product-001", "product-002", "product-003"], T0 + dt.timedelta(days=2))


def test_an_integrity_check_clause_in_raise_sql_guards_the_write(vision, tmp_path):
    folder = tmp_path / "images"
    group, stats = stored_refs(vision, folder)
    damage(folder, 1)
    vision.sql(f"""CREATE JOB guarded FROM feature_group (feature_group = 'product-images')
                   TRANSFORM sizes AS SQL '{STATS_SQL}' INTO "image-stats" MODE upsert
                   INCREMENTAL ON event_time
                   CHECK verify_images blob_integrity (column = 'image_ref', max_missing_rate = 0.5,
                                                       max_invalid_rate = 0.0, severity = 'error')""")
    run = vision.sql("RUN JOB guarded").to_pylist()[0]
    assert (run["status"], run["rows_written"], run["checkpoint_after"]) == ("failed", 0, None)
    [check] = json.loads(run["checks"])
    assert (check["name"], check["result"]) == ("verify_images", "failed")
    assert (check["details"]["missing_count"], check["details"]["invalid_count"]) == (1, 1)
    assert DeltaTable(stats.table_uri).version() == 0 and stats.read().num_rows == 0
    described = vision.sql("DESCRIBE JOB guarded").to_pylist()[0]
    assert (described["last_status"], described["checkpoint"]) == ("failed", None)
    shown = vision.sql("SHOW JOB RUNS OF guarded").to_pylist()
    assert [(r["status"], json.loads(r["checks"])[0]["result"]) for r in shown] == [("failed", "failed")]
