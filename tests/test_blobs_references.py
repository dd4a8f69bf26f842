"""Blob references, content types and URIs: the spec's Blob References and Content Types sections."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from raise_ import BlobReference, ContentType, create_reference, infer_content_type
from raise_.errors import ValidationError
from raise_.transforms import ContentType as TransformsContentType
from raise_.transforms import infer_content_type as transforms_infer


def _png(size=(16, 8), color=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_reference_properties_of_the_spec():
    ref = create_reference(uri="s3://products/images/product-001.png", content_type=ContentType.IMAGE_PNG,
                           checksum="abc123def456...", size_bytes=1024000)
    assert ref.uri == "s3://products/images/product-001.png"
    assert (ref.scheme, ref.bucket, ref.key) == ("s3", "products", "images/product-001.png")
    assert (ref.is_image, ref.is_audio, ref.is_video) == (True, False, False)
    assert ref.size_bytes == 1024000
    assert ref.hash_algorithm == "sha256" and ref.checksum == "abc123def456..."
    audio = create_reference(uri="s3://bucket/audio.wav", content_type="audio/wav", checksum="def789...")
    assert audio.content_type is ContentType.AUDIO_WAV and audio.is_audio
    video = create_reference("gs://clips/a/b.mp4")
    assert (video.scheme, video.bucket, video.key, video.content_type, video.is_video) == \
        ("gs", "clips", "a/b.mp4", ContentType.VIDEO_MP4, True)


@pytest.mark.parametrize("uri, key", [("file:///data/x.png", "/data/x.png"), ("data/images/x.png", "data/images/x.png"),
                                      ("/abs/y.jpg", "/abs/y.jpg")])
def test_files_have_no_bucket_and_the_path_as_key(uri, key):
    ref = create_reference(uri)
    assert (ref.scheme, ref.bucket, ref.key) == ("file", None, key)


def test_references_are_immutable_hashable_and_round_trip_through_dicts():
    ref = create_reference("s3://b/k.npy", checksum="aa", size_bytes=3, etag='"e1"', version_id="v7",
                           metadata={"shape": [2, 3]})
    assert ref.content_type is ContentType.TENSOR_NUMPY
    with pytest.raises(AttributeError):
        ref.uri = "s3://b/other.npy"
    same = BlobReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert same == ref and hash(same) == hash(ref) and same.metadata == {"shape": [2, 3]}
    assert ref.to_dict() == {"uri": "s3://b/k.npy", "content_type": "application/x-numpy", "checksum": "aa",
                             "hash_algorithm": "sha256", "size_bytes": 3, "etag": '"e1"', "version_id": "v7",
                             "metadata": {"shape": [2, 3]}}
    assert len({ref, same, create_reference("s3://b/k.npy", checksum="bb")}) == 2
    assert repr(ref) == "BlobReference(uri='s3://b/k.npy', content_type='application/x-numpy', sha256=aa, size_bytes=3)"


def test_html_shows_an_inline_thumbnail_of_a_local_image(tmp_path):
    path = tmp_path / "red.png"
    path.write_bytes(_png((400, 200)))
    page = create_reference(str(path))._repr_html_()
    encoded = page.split('src="data:image/png;base64,')[1].split('"')[0]
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as thumb:
        assert thumb.size == (128, 64)
        assert thumb.getpixel((5, 5))[:3] == (200, 10, 10)
    remote = create_reference("s3://b/red.png")._repr_html_()
    assert "<img" not in remote and "s3://b/red.png" in remote


@pytest.mark.parametrize("uri, expected", [
    ("s3://bucket/image.png", ContentType.IMAGE_PNG), ("data/model.safetensors", ContentType.TENSOR_SAFETENSORS),
    ("x/photo.JPG", ContentType.IMAGE_JPEG), ("song.mp3", ContentType.AUDIO_MPEG), ("clip.mov", ContentType.VIDEO_MOV),
    ("scan.ply", ContentType.MODEL_PLY), ("scene.gltf", ContentType.MODEL_GLTF), ("w.pt", ContentType.TENSOR_PYTORCH),
    ("a.npz", ContentType.TENSOR_NUMPY_COMPRESSED), ("doc.pdf", ContentType.APPLICATION_PDF),
    ("s3://b/img.webp?versionId=3", ContentType.IMAGE_WEBP),
])
def test_content_types_are_inferred_from_the_extension(uri, expected):
    assert infer_content_type(uri) is expected
    assert transforms_infer is infer_content_type and TransformsContentType is ContentType


def test_content_types_are_inferred_from_magic_bytes():
    assert infer_content_type(_png()) is ContentType.IMAGE_PNG
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    assert infer_content_type(jpeg.getvalue()) is ContentType.IMAGE_JPEG
    npy = io.BytesIO()
    np.save(npy, np.arange(3))
    assert infer_content_type(npy.getvalue()) is ContentType.TENSOR_NUMPY
    header = b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    assert infer_content_type(len(header).to_bytes(8, "little") + header + bytes(4)) is ContentType.TENSOR_SAFETENSORS
    assert infer_content_type(b"%PDF-1.7\n") is ContentType.APPLICATION_PDF


def test_spec_table_values_and_aliases():
    assert {c.value for c in ContentType} >= {
        "image/png", "image/jpeg", "image/webp", "image/tiff", "image/bmp", "image/gif", "audio/wav", "audio/mpeg",
        "audio/flac", "audio/ogg", "audio/aac", "video/mp4", "video/webm", "video/avi", "video/quicktime",
        "application/pdf", "model/ply", "model/obj", "model/gltf+json", "application/x-numpy",
        "application/x-numpy-compressed", "application/x-pytorch", "application/x-safetensors"}
    assert ContentType.AUDIO_MP3 is ContentType.AUDIO_MPEG and ContentType.IMAGE_PNG == "image/png"
    assert create_reference("s3://b/a", content_type="audio/x-wav").content_type is ContentType.AUDIO_WAV


def test_unknown_content_types_are_refused_with_a_code():
    with pytest.raises(ValidationError) as info:
        infer_content_type("s3://b/notes.xyz")
    assert info.value.code == "RAISE-V301" and ".png" in info.value.message
    assert infer_content_type("notes.xyz", default=None) is None
    with pytest.raises(ValidationError) as info:
        create_reference("s3://b/a.png", content_type="image/nope")
    assert info.value.code == "RAISE-V301" and "image/png" in info.value.message
    with pytest.raises(ValidationError) as info:
        infer_content_type(b"\x00\x01\x02\x03 no magic here")
    assert info.value.code == "RAISE-V301"


@pytest.mark.parametrize("uri", ["", "s3://", "s3:///key.png", "s3://bucket", "s3://bucket/", "s3://Bad_Bucket!/x.png",
                                 "http://host/x.png", "file://relative/x.png", " s3://b/x.png", "s3://b/x\n.png", None, 3])
def test_malformed_uris_are_refused_with_a_code(uri):
    with pytest.raises(ValidationError) as info:
        create_reference(uri)
    assert info.value.code == "RAISE-V300"
    assert "s3://bucket/key" in info.value.message


@pytest.mark.parametrize("field, value, code", [("size_bytes", -1, "RAISE-V304"), ("size_bytes", "12", "RAISE-V304"),
                                                ("hash_algorithm", "crc32", "RAISE-V303"), ("checksum", 12, "RAISE-V304")])
def test_bad_fields_are_refused_with_a_code(field, value, code):
    with pytest.raises(ValidationError) as info:
        BlobReference.from_dict({"uri": "s3://b/a.png", field: value})
    assert info.value.code == code and info.value.name in (field, str(value))


def test_from_dict_refuses_unknown_fields_and_needs_a_uri():
    with pytest.raises(ValidationError) as info:
        BlobReference.from_dict({"uri": "s3://b/a.png", "colour": "red"})
    assert info.value.code == "RAISE-V304" and info.value.name == "colour"
    with pytest.raises(ValidationError) as info:
        BlobReference.from_dict({"checksum": "aa"})
    assert info.value.name == "uri"


def test_references_pickle_for_worker_processes():
    import pickle

    ref = create_reference("s3://b/k.png", checksum="aa", metadata={"w": 3})
    back = pickle.loads(pickle.dumps(ref))
    assert back == ref and back.metadata == {"w": 3}
