"""Writes into a ``blob_ref`` column that names a registry: its references validated first.

``blob_ref<..., registry=video-store>`` validates the written references as the registry's
policy says for writes (STRICT and ON_WRITE validate; its ``fail_on_*`` flags decide what is
refused); ``validate_on_write`` validates every write and refuses anything not VALID, a blob
that cannot be reached included. A refusal raises before any row is stored. Valid results are
cached per registry for its ``cache_validation_seconds``, across writes. The registry is the
catalog object of that name in the group's project (``other-project/name`` or a full path names
one elsewhere).
"""
from __future__ import annotations

import threading
from pathlib import Path

from grammar.dtypes import DType
from grammar.errors import NotFound, ValidationError
from raise_.blobs.integrity import (
    BLOB_MISMATCH, BLOB_MISSING, BlobStatus, IntegrityPolicy, ValidationCache, validate_references,
)
from raise_.blobs.reference import BlobReference
from raise_.blobs.store import REGISTRY_KIND
from raise_.engine import names
from raise_.engine.catalog import Catalog

__all__ = ["validate_written"]

UNKNOWN_REGISTRY = "RAISE-N302"
UNREACHABLE_BLOB = "RAISE-V310"

_CACHES: dict[tuple[Path, str, float], ValidationCache] = {}
_LOCK = threading.Lock()


def validate_written(catalog: Catalog, dtype: DType, column: str, refs: list[BlobReference | None],
                     project: tuple[str, ...]) -> None:
    """Refuse the write of ``refs`` into ``column`` of a group in ``project`` if its registry's
    validation says so."""
    *path, name = dtype.blob_registry.split("/")
    key = names.join(*names.complete_path(tuple(path), project, 3), name)
    record = catalog.get(REGISTRY_KIND, key)
    if record is None:
        raise NotFound(f"column {column!r} validates against blob registry {key!r}, which does not exist "
                       "(create it with BlobRegistry(name=...) or CREATE BLOB REGISTRY)", code=UNKNOWN_REGISTRY,
                       name=dtype.blob_registry)
    policy = IntegrityPolicy.from_dict(record["policy"])
    if not (dtype.validate_on_write or policy.validates_on_write):
        return
    present = [r for r in refs if r is not None]
    results = validate_references(present, cache=_cache(catalog, key, policy))
    for result in results:
        if dtype.validate_on_write and not result.valid:
            _refuse(column, result.reference, result.status, result.message)
        policy.enforce(result)


def _refuse(column: str, ref: BlobReference, status: BlobStatus, message: str) -> None:
    code = {BlobStatus.MISSING: BLOB_MISSING, BlobStatus.UNREACHABLE: UNREACHABLE_BLOB}.get(status, BLOB_MISMATCH)
    raise ValidationError(f"column {column!r} validates on write: {ref.uri!r} is {status.name} ({message})",
                          code=code, name=ref.uri)


def _cache(catalog: Catalog, registry: str, policy: IntegrityPolicy) -> ValidationCache:
    key = (catalog.path, registry, policy.cache_validation_seconds)
    with _LOCK:
        return _CACHES.setdefault(key, ValidationCache(policy.cache_validation_seconds))
