"""INFER over image references: a model whose input is ``blob_ref`` gets the decoded images."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from infer_models import _save, model_cache  # noqa: F401 (autouse)
from onnx import TensorProto, helper
from grammar.errors import ValidationError
from raise_.engine import Engine

SIZE = 4


def channel_means(path):
    """``rgb = mean over H, W`` of a (batch, 3, SIZE, SIZE) image tensor: the colour of each image."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["rgb"], axes=[2, 3], keepdims=0)], "channel_means",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["batch", 3])])
    return _save(graph, path)


@pytest.fixture
def pictures(tmp_path):
    session = Engine(tmp_path / "store").session("alice@acme.com", "acme/ml/vision")
    colours = {"red": (255, 0, 0), "orange": (255, 128, 0), "grey": (64, 64, 64)}
    refs = []
    for name, colour in colours.items():
        path = tmp_path / "images" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (10, 6), colour).save(path)
        refs.append({"uri": path.as_uri(), "content_type": "image/png"})
    halves = Image.new("RGB", (8, 8), (0, 0, 255))
    halves.paste((255, 255, 255), (0, 0, 8, 4))  # top half white, bottom half blue
    halves.save(tmp_path / "images" / "halves.jpg", quality=100)
    refs.append({"uri": str(tmp_path / "images" / "halves.jpg"), "content_type": "image/jpeg"})
    session.execute('CREATE FEATURE GROUP "products" KEY (name STRING);'
                    'CREATE FEATURE "products".image_ref blob_ref<image/png|image/jpeg>')
    session.ingest("products", pa.table({"name": [*colours, "halves"], "image_ref": refs}))
    uri = channel_means(tmp_path / "models" / "means.onnx").as_uri()
    session.execute(f"CREATE MODEL means FROM '{uri}' FRAMEWORK onnx "
                    "INPUT (image blob_ref<image/png|image/jpeg>) OUTPUT (rgb float32[3])")
    return session, tmp_path


def test_infer_decodes_the_referenced_images(pictures):
    session, _ = pictures
    rows = session.execute('SELECT name, INFER(\'means\', image_ref) AS rgb FROM "products" ORDER BY name').to_pylist()
    found = {r["name"]: np.array(r["rgb"]) for r in rows}
    np.testing.assert_allclose(found["red"], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(found["orange"], [1, 128 / 255, 0], atol=1e-6)
    np.testing.assert_allclose(found["grey"], [64 / 255] * 3, atol=1e-6)
    # JPEG is lossy and the bilinear resize blends the halves' border: about half white, half blue
    np.testing.assert_allclose(found["halves"], [0.5, 0.5, 1.0], atol=0.06)


def test_a_missing_image_is_a_clear_error(pictures):
    session, tmp_path = pictures
    (tmp_path / "images" / "red.png").unlink()
    with pytest.raises(ValidationError) as refused:
        session.execute('SELECT INFER(\'means\', image_ref) FROM "products"')
    assert refused.value.code == "RAISE-V210" and "red.png" in refused.value.message
