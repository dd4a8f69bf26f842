"""Content types of blobs: the MIME types Raise knows, and inference from a name or the bytes.

>>> infer_content_type("s3://bucket/image.png")
<ContentType.IMAGE_PNG: 'image/png'>
>>> infer_content_type(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
<ContentType.IMAGE_PNG: 'image/png'>

Names are matched by extension; bytes by their magic numbers through the ``filetype``
package, taught here the two ML tensor formats it does not know (NPY, safetensors).
"""
from __future__ import annotations

import posixpath
from enum import StrEnum
from typing import Any

import filetype
from filetype.types.base import Type

from grammar.errors import ValidationError

__all__ = ["ContentType", "infer_content_type", "content_type", "guess_content_type"]

#: Codes of the content-type errors.
UNKNOWN_CONTENT_TYPE = "RAISE-V301"


class ContentType(StrEnum):
    """The MIME types of the spec's Content Types table (aliases share a value)."""

    IMAGE_PNG = "image/png"
    IMAGE_JPEG = "image/jpeg"
    IMAGE_WEBP = "image/webp"
    IMAGE_TIFF = "image/tiff"
    IMAGE_BMP = "image/bmp"
    IMAGE_GIF = "image/gif"
    AUDIO_WAV = "audio/wav"
    AUDIO_MPEG = "audio/mpeg"
    AUDIO_MP3 = "audio/mpeg"
    AUDIO_FLAC = "audio/flac"
    AUDIO_OGG = "audio/ogg"
    AUDIO_AAC = "audio/aac"
    VIDEO_MP4 = "video/mp4"
    VIDEO_WEBM = "video/webm"
    VIDEO_AVI = "video/avi"
    VIDEO_QUICKTIME = "video/quicktime"
    VIDEO_MOV = "video/quicktime"
    APPLICATION_PDF = "application/pdf"
    DOCUMENT_PDF = "application/pdf"
    MODEL_PLY = "model/ply"
    MODEL_OBJ = "model/obj"
    MODEL_GLTF = "model/gltf+json"
    TENSOR_NUMPY = "application/x-numpy"
    TENSOR_NUMPY_COMPRESSED = "application/x-numpy-compressed"
    TENSOR_PYTORCH = "application/x-pytorch"
    TENSOR_SAFETENSORS = "application/x-safetensors"

    @property
    def category(self) -> str:
        """``image``, ``audio``, ``video``, ``application`` or ``model``."""
        return self.value.split("/")[0]


_EXTENSIONS = {
    ".png": ContentType.IMAGE_PNG, ".jpg": ContentType.IMAGE_JPEG, ".jpeg": ContentType.IMAGE_JPEG,
    ".webp": ContentType.IMAGE_WEBP, ".tif": ContentType.IMAGE_TIFF, ".tiff": ContentType.IMAGE_TIFF,
    ".bmp": ContentType.IMAGE_BMP, ".gif": ContentType.IMAGE_GIF, ".wav": ContentType.AUDIO_WAV,
    ".mp3": ContentType.AUDIO_MPEG, ".flac": ContentType.AUDIO_FLAC, ".ogg": ContentType.AUDIO_OGG,
    ".oga": ContentType.AUDIO_OGG, ".aac": ContentType.AUDIO_AAC, ".mp4": ContentType.VIDEO_MP4,
    ".m4v": ContentType.VIDEO_MP4, ".webm": ContentType.VIDEO_WEBM, ".avi": ContentType.VIDEO_AVI,
    ".mov": ContentType.VIDEO_QUICKTIME, ".pdf": ContentType.APPLICATION_PDF,
    ".ply": ContentType.MODEL_PLY, ".obj": ContentType.MODEL_OBJ, ".gltf": ContentType.MODEL_GLTF,
    ".npy": ContentType.TENSOR_NUMPY, ".npz": ContentType.TENSOR_NUMPY_COMPRESSED,
    ".pt": ContentType.TENSOR_PYTORCH, ".pth": ContentType.TENSOR_PYTORCH,
    ".safetensors": ContentType.TENSOR_SAFETENSORS,
}

#: Spellings other tools use for the same types (``filetype`` reports ``audio/x-wav``).
_ALIASES = {
    "image/jpg": ContentType.IMAGE_JPEG, "audio/x-wav": ContentType.AUDIO_WAV,
    "audio/wave": ContentType.AUDIO_WAV, "audio/mp3": ContentType.AUDIO_MPEG,
    "audio/x-flac": ContentType.AUDIO_FLAC, "audio/x-aac": ContentType.AUDIO_AAC,
    "video/x-msvideo": ContentType.VIDEO_AVI, "video/msvideo": ContentType.VIDEO_AVI,
    "application/x-npy": ContentType.TENSOR_NUMPY,
}


class _Numpy(Type):
    """NPY files start with ``\\x93NUMPY``."""

    def __init__(self) -> None:
        super().__init__(mime=ContentType.TENSOR_NUMPY.value, extension="npy")

    def match(self, buf: bytes) -> bool:
        return bytes(buf[:6]) == b"\x93NUMPY"


class _Safetensors(Type):
    """Safetensors files start with an 8-byte little-endian header length, then a JSON ``{``."""

    def __init__(self) -> None:
        super().__init__(mime=ContentType.TENSOR_SAFETENSORS.value, extension="safetensors")

    def match(self, buf: bytes) -> bool:
        if len(buf) < 9 or buf[8:9] != b"{":
            return False
        return 0 < int.from_bytes(buf[:8], "little") < 100 << 20


filetype.add_type(_Numpy())
filetype.add_type(_Safetensors())


def content_type(value: ContentType | str) -> ContentType:
    """``value`` as a ``ContentType``; an unknown MIME type raises ``ValidationError`` (RAISE-V301)."""
    if isinstance(value, ContentType):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return ContentType(text)
        except ValueError:
            if text in _ALIASES:
                return _ALIASES[text]
    raise ValidationError(
        f"unknown content type {value!r}; known: {', '.join(sorted({c.value for c in ContentType}))}",
        code=UNKNOWN_CONTENT_TYPE, name=str(value),
    )


def guess_content_type(source: str | bytes | bytearray | memoryview) -> ContentType | None:
    """Like ``infer_content_type`` but None where nothing matches."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        kind = filetype.guess(bytes(source[:8192]))
        if kind is None:
            return None
        mime = kind.mime.lower()
        return _ALIASES.get(mime) or next((c for c in ContentType if c.value == mime), None)
    if isinstance(source, str):
        path = source.split("?", 1)[0].split("#", 1)[0]
        return _EXTENSIONS.get(posixpath.splitext(path)[1].lower())
    return None


def infer_content_type(source: str | bytes, *, default: Any = ...) -> ContentType | Any:
    """The content type of a URI or path (by extension) or of a blob's first bytes (by magic
    number). Without a match: ``default`` if given, else ``ValidationError`` (RAISE-V301)."""
    found = guess_content_type(source)
    if found is not None:
        return found
    if default is not ...:
        return default
    shown = repr(bytes(source[:16])) if isinstance(source, (bytes, bytearray, memoryview)) else repr(source)
    raise ValidationError(
        f"cannot infer a content type from {shown}; known extensions: {', '.join(sorted(_EXTENSIONS))}",
        code=UNKNOWN_CONTENT_TYPE, name=shown,
    )
