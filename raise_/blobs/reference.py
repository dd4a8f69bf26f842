"""``BlobReference``: an immutable pointer to a blob with its integrity metadata, never its bytes.

>>> ref = create_reference(uri="s3://bucket/audio.wav", content_type="audio/wav", checksum="def789...")
>>> (ref.scheme, ref.bucket, ref.key, ref.is_audio)
('s3', 'bucket', 'audio.wav', True)

Two references are equal when they point at the same bytes: same URI, content type, checksum,
algorithm, size, ETag and version. The registry id and free-form metadata ride along without
taking part in equality or hashing.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html import escape
from types import MappingProxyType
from typing import Any, Mapping

from grammar.errors import ValidationError
from raise_.blobs.content import ContentType, content_type as as_content_type, guess_content_type
from raise_.blobs.hashing import BAD_DATA, HashAlgorithm, hash_algorithm
from raise_.blobs.locations import Location, parse_uri

__all__ = ["BlobReference", "create_reference", "STRUCT_FIELDS"]

#: The fields a ``blob_ref`` column stores, in column order.
STRUCT_FIELDS = ("uri", "content_type", "checksum", "hash_algorithm", "size_bytes", "etag", "version_id")
_THUMBNAIL_MAX_BYTES = 32 << 20
_THUMBNAIL_PIXELS = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobReference:
    """A reference to one blob. Build it with ``create_reference`` or a registry's ``register``."""

    uri: str
    content_type: ContentType | None = None
    checksum: str | None = None
    hash_algorithm: HashAlgorithm = HashAlgorithm.SHA256
    size_bytes: int | None = None
    etag: str | None = None
    version_id: str | None = None
    registry_id: str | None = field(default=None, compare=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    _location: Location = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_location", parse_uri(self.uri))
        if self.content_type is not None:
            set_(self, "content_type", as_content_type(self.content_type))
        set_(self, "hash_algorithm", hash_algorithm(self.hash_algorithm))
        size = self.size_bytes
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 1 << 63):
            raise ValidationError(f"size_bytes of {self.uri!r} must be a non-negative 64-bit integer, got {size!r}",
                                  code=BAD_DATA, name="size_bytes")
        for name in ("checksum", "etag", "version_id", "registry_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{name} of {self.uri!r} must be a string, got {type(value).__name__}",
                                      code=BAD_DATA, name=name)
        set_(self, "metadata", MappingProxyType(dict(self.metadata or {})))

    # -- location ---------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``s3``, ``gs``, ``az`` or ``file``."""
        return self._location.scheme

    @property
    def bucket(self) -> str | None:
        """The bucket (container) of an object-store blob; None for files."""
        return self._location.bucket

    @property
    def key(self) -> str:
        """The object key (for files: the path)."""
        return self._location.key

    @property
    def location(self) -> Location:
        """The parsed URI (``location.path`` is what pyarrow's filesystem opens)."""
        return self._location

    # -- kind -------------------------------------------------------------------------------

    @property
    def is_image(self) -> bool:
        return self.content_type is not None and self.content_type.category == "image"

    @property
    def is_audio(self) -> bool:
        return self.content_type is not None and self.content_type.category == "audio"

    @property
    def is_video(self) -> bool:
        return self.content_type is not None and self.content_type.category == "video"

    # -- conversion -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The stored fields as plain values (``registry_id`` and ``metadata`` when set)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in STRUCT_FIELDS}
        out["content_type"] = None if self.content_type is None else self.content_type.value
        out["hash_algorithm"] = self.hash_algorithm.value
        if self.registry_id is not None:
            out["registry_id"] = self.registry_id
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "BlobReference":
        """The reference a ``to_dict`` (or a ``blob_ref`` column's struct value) describes."""
        if not isinstance(values, Mapping):
            raise ValidationError(f"a blob reference is a mapping, got {type(values).__name__}",
                                  code=BAD_DATA, name=type(values).__name__)
        allowed = set(STRUCT_FIELDS) | {"registry_id", "metadata"}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValidationError(f"unknown blob reference field {unknown[0]!r}; fields: "
                                  f"{', '.join(sorted(allowed))}", code=BAD_DATA, name=unknown[0])
        given = {k: v for k, v in values.items() if v is not None}
        given.setdefault("hash_algorithm", HashAlgorithm.SHA256)
        if "uri" not in given:
            raise ValidationError("a blob reference needs a uri", code=BAD_DATA, name="uri")
        return cls(**given)

    def __reduce__(self) -> tuple:
        # the read-only metadata view does not pickle: rebuild from the plain fields
        return BlobReference.from_dict, (self.to_dict(),)

    # -- display ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        parts = [f"uri={self.uri!r}"]
        if self.content_type is not None:
            parts.append(f"content_type={self.content_type.value!r}")
        if self.checksum is not None:
            parts.append(f"{self.hash_algorithm.value}={self.checksum[:12]}"
                         f"{'…' if len(self.checksum) > 12 else ''}")
        if self.size_bytes is not None:
            parts.append(f"size_bytes={self.size_bytes}")
        return f"BlobReference({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from raise_.sdk import html  # here: raise_.sdk itself imports this package
        rows = [(name, value) for name, value in self.to_dict().items() if name != "metadata"]
        rows += [(f"metadata.{k}", v) for k, v in self.metadata.items()]
        table = html.card(f"BlobReference {self.uri}", rows)
        thumbnail = self._thumbnail()
        if thumbnail is None:
            return table
        return (f'<div style="display:flex;gap:8px;align-items:flex-start">'
                f'<img src="data:image/png;base64,{thumbnail}" alt="{escape(self.uri)}"/>{table}</div>')

    def _thumbnail(self) -> str | None:
        """A small PNG of a local image as base64, or None (not local, not an image, unreadable)."""
        if not self.is_image or self.scheme != "file":
            return None
        try:
            from PIL import Image

            path = self._location.path
            with open(path, "rb") as handle:
                data = handle.read(_THUMBNAIL_MAX_BYTES + 1)
            if len(data) > _THUMBNAIL_MAX_BYTES:
                return None
            with Image.open(io.BytesIO(data)) as image:
                image.thumbnail((_THUMBNAIL_PIXELS, _THUMBNAIL_PIXELS))
                out = io.BytesIO()
                image.convert("RGBA").save(out, format="PNG")
        except (OSError, ValueError, ImportError):
            return None
        return base64.b64encode(out.getvalue()).decode("ascii")


def create_reference(uri: str, content_type: ContentType | str | None = None, checksum: str | None = None,
                     *, hash_algorithm: HashAlgorithm | str = HashAlgorithm.SHA256,
                     size_bytes: int | None = None, etag: str | None = None, version_id: str | None = None,
                     metadata: Mapping[str, Any] | None = None) -> BlobReference:
    """A ``BlobReference``; ``content_type`` defaults to what the URI's extension says."""
    if content_type is None and isinstance(uri, str):
        content_type = guess_content_type(uri)
    return BlobReference(uri=uri, content_type=content_type, checksum=checksum, hash_algorithm=hash_algorithm,
                         size_bytes=size_bytes, etag=etag, version_id=version_id, metadata=metadata or {})
