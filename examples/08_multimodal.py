"""Multimodal data: the Image Processing Pipeline on local images, references instead of bytes.

Run it with ``python examples/08_multimodal.py`` (embedded store in ``$RAISE_HOME``, a fresh
temporary folder when that is not set). It writes a few small PNG and JPEG files itself
(Pillow), scans them into a blob registry, stores the references in a feature group next to
an embedding computed from the pixels, and checks their integrity before and after a file is
tampered with and another deleted: on its own, and as the quality check of a job that fills an
image catalog from the stored references (a failed ERROR check ends the run before it writes).
"""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from raise_ import (  # noqa: E402
    BlobIntegrityCheck, BlobRef, BlobRegistry, ContentType, FeatureGroupSource, FeatureStore, IntegrityPolicy,
    MultimodalSource, SQLTransform, Target, create_reference,
)
from raise_.errors import RaiseError  # noqa: E402

# -- 0. A few product images on local disk -----------------------------------------------------
images = Path(os.environ["RAISE_HOME"]) / "products" / "images"
images.mkdir(parents=True, exist_ok=True)
for i, (fmt, color) in enumerate([("PNG", (220, 40, 40)), ("JPEG", (40, 200, 60)), ("PNG", (30, 60, 230)),
                                  ("JPEG", (240, 220, 20))], start=1):
    suffix = "png" if fmt == "PNG" else "jpg"
    Image.new("RGB", (64, 48), color).save(images / f"product-{i:03d}.{suffix}", format=fmt)
(images / "README.txt").write_text("not an image: the scan skips it")

# -- 1. Feature group with a blob reference column ---------------------------------------------
fs = FeatureStore("acme/mlplatform/vision")
fg = fs.create_feature_group("product-images")
fg.create_features_from_schema({
    "product_id": "string",
    "image_ref": BlobRef(content_types=["image/png", "image/jpeg"]),
    "embedding": "float32[512]",
})
print("image_ref dtype:", fg.feature("image_ref").dtype)

# -- 2. Registry with an integrity policy ------------------------------------------------------
registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.on_write())

# -- 3. Scan for images: references, not data --------------------------------------------------
source = MultimodalSource(
    name="product_images",
    uri_prefix=images.as_uri() + "/",
    content_types=[ContentType.IMAGE_JPEG, ContentType.IMAGE_PNG],
    registry=registry,
)
refs = source.scan()
for ref in refs:
    print(f"{Path(ref.key).name} - {ref.content_type} - {ref.size_bytes} bytes - sha256 {ref.checksum[:12]}")
print("registered:", len(registry.list_references()), "| png:", len(registry.list_references(content_type=ContentType.IMAGE_PNG)))


def embed(ref):
    """A 512-value embedding from the pixels: the image decoded from its reference, 16x32 grey."""
    with Image.open(ref.location.path) as image:
        grey = np.asarray(image.convert("L").resize((32, 16)), dtype=np.float32) / 255.0
    return grey.reshape(-1).tolist()


fg.write([{"product_id": Path(ref.key).stem, "image_ref": ref, "embedding": embed(ref)} for ref in refs])
rows = fs.sql('SELECT product_id, BLOB_CONTENT_TYPE(image_ref) AS content_type, BLOB_SIZE(image_ref) AS size '
              'FROM "product-images" ORDER BY product_id').to_pylist()
print("stored:", [(r["product_id"], r["content_type"]) for r in rows])

try:
    fg.write([{"product_id": "video-1", "image_ref": create_reference("s3://products/videos/clip.mp4")}])
except RaiseError as error:
    print("video refused:", error.code)

# -- 4. Integrity check over the stored references ---------------------------------------------
check = BlobIntegrityCheck(name="verify_images", column="image_ref", verify_checksum=True)
result = check.check(fg.read())
print("check:", result.result.name, {k: result.details[k] for k in ("total_references", "missing_count", "invalid_count")})

# -- 5. The same check guarding a job: only references move through the pipeline ---------------
catalog = fs.create_feature_group("image-catalog", key_columns={"product_id": "string"})
catalog.create_features_from_schema({
    "image_ref": BlobRef(content_types=["image/png", "image/jpeg"]),
    "content_type": "string",
    "size_bytes": "int64",
})
job = fs.create_job(
    name="catalog_images",
    sources=[FeatureGroupSource(feature_group="product-images", features=["product_id", "image_ref"])],
    transform=SQLTransform(
        name="image_metadata",
        sql="""
            SELECT product_id, image_ref, BLOB_CONTENT_TYPE(image_ref) AS content_type,
                   BLOB_SIZE(image_ref) AS size_bytes
            FROM source
        """,
    ),
    target=Target(feature_group="image-catalog", write_mode="upsert"),
    quality_checks=[check],
)


def run_and_report(label):
    fs.trigger_job(job)
    run = job.runs[-1]
    [checked] = run.checks
    print(f"{label}: {run.status}, wrote {run.rows_written} | {checked['name']}: {checked['result']}",
          {k: checked["details"][k] for k in ("missing_count", "size_mismatch_count")})


run_and_report("job run 1")
sizes = {r["product_id"]: r["size_bytes"] for r in catalog.read().to_pylist()}
print("catalog sizes match the files:", sizes == {p.stem: p.stat().st_size for p in images.glob("product-*")})

# -- 6. A file truncated and another deleted: the check and the guarded job see it -------------
first = images / "product-001.png"
first.write_bytes(first.read_bytes()[:-8])   # truncated
(images / "product-002.jpg").unlink()        # deleted
result = check.check(fg.read())
print("after damage:", result.result.name, {k: result.details[k] for k in ("missing_count", "size_mismatch_count")})
run_and_report("job run 2")
print("image-catalog rows after the failed run:", catalog.read().num_rows, "| error:", job.runs[-1].error[:12])
print("validate product-001:", registry.validate(registry.get_by_uri(refs[0].uri)).status.name)
print("orphans:", [Path(ref.key).name for ref in registry.find_orphans()])
