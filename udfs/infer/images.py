"""Image references as model input: INFER over a ``blob_ref`` column decodes each image.

A model that declares an input ``blob_ref`` (``CREATE MODEL ... INPUT (image blob_ref<image/png|image/jpeg>)``)
receives, for each row, the image its reference points at, read through ``pyarrow.fs`` (local
paths, ``file://``, ``s3://``, ``gs://``, ``az://`` as the store reaches them), decoded with
Pillow as RGB (or L for one channel), resized to the input tensor's height and width
(bilinear), and scaled to 0..1 as float32. The tensor layout follows the runner's input shape:
``(batch, C, H, W)`` (channels first, as ONNX vision models take them) when its second
dimension is 1 or 3, else ``(batch, H, W, C)``.

A model whose input is such an image tensor takes blob references without its INPUT declared:
its column's dtype is ``blob_ref`` (:func:`image_input_dtype`).
"""
from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
from PIL import Image, UnidentifiedImageError

from udfs.infer.errors import BadInferCall
from udfs.infer.tensors import TensorSpec

__all__ = ["is_reference_column", "image_tensor", "image_input_dtype"]

IMAGE_DTYPE = "blob_ref"

_WORKERS = 8


def is_reference_column(column: pa.Array) -> bool:
    """Whether ``column`` holds blob references (structs with a ``uri`` field)."""
    return pa.types.is_struct(column.type) and column.type.get_field_index("uri") >= 0


def image_input_dtype(spec: TensorSpec) -> str | None:
    """``blob_ref`` when ``spec`` is an image tensor images can be decoded into, else None."""
    try:
        _layout(spec)
    except BadInferCall:
        return None
    return IMAGE_DTYPE


def image_tensor(column: pa.Array, spec: TensorSpec) -> np.ndarray:
    """The images ``column``'s references point at, as one float32 batch tensor for ``spec``."""
    channels_first, channels, height, width = _layout(spec)
    uris = column.field("uri").to_pylist()
    mode = "L" if channels == 1 else "RGB"
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        pixels = list(pool.map(lambda uri: _decode(uri, mode, width, height, spec.name), uris))
    batch = np.stack(pixels).astype(np.float32) / 255.0 if pixels else \
        np.zeros((0, height, width, channels), np.float32)
    batch = batch.reshape(len(uris), height, width, channels)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2) if channels_first else batch, dtype=spec.dtype)


def _layout(spec: TensorSpec) -> tuple[bool, int, int, int]:
    """(channels first, channels, height, width) of a 4-D image input."""
    shape = spec.shape
    if len(shape) != 4 or not np.issubdtype(spec.dtype, np.floating):
        raise BadInferCall(f"input {spec.name!r} takes blob references, so it must be a float image tensor "
                           f"(batch, C, H, W) or (batch, H, W, C); the model's is {spec.dtype} {shape}",
                           name=spec.name)
    channels_first = shape[1] in (1, 3)
    channels, height, width = (shape[1], shape[2], shape[3]) if channels_first else (shape[3], shape[1], shape[2])
    if None in (channels, height, width) or channels not in (1, 3):
        raise BadInferCall(f"input {spec.name!r} needs a fixed height, width and 1 or 3 channels to decode "
                           f"images into; the model's shape is {shape}", name=spec.name)
    return channels_first, channels, height, width


def _decode(uri: str, mode: str, width: int, height: int, name: str) -> np.ndarray:
    try:
        fs, path = _filesystem(uri)
        with fs.open_input_stream(path) as stream:
            data = stream.read()
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert(mode).resize((width, height), Image.Resampling.BILINEAR))
    except (OSError, UnidentifiedImageError, pa.ArrowException) as error:
        raise BadInferCall(f"input {name!r}: cannot read the image at {uri!r}: {str(error).splitlines()[0]}",
                           name=uri) from None


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    return pafs.FileSystem.from_uri(uri)
