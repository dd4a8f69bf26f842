"""``BlobRegistry``: the references of one collection of blobs, tracked and validated.

>>> registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.lazy())   # doctest: +SKIP
>>> ref = registry.register(uri="s3://bucket/image.png", content_type="image/png",
...                         checksum="abc123...")                                    # doctest: +SKIP
>>> registry.get_by_uri("s3://bucket/image.png") == ref                              # doctest: +SKIP
True

A registry lives in the store's catalog (``home=``, default ``$RAISE_HOME`` or ``./.raise``)
under its name; opening it again by name finds its references and its policy. The registry
id of a reference is derived from its URI, so registering a URI again updates its entry.
The policy decides when blobs are validated: on ``register`` (STRICT, ON_WRITE), on ``get``
(STRICT, ON_READ), or only on ``validate`` (LAZY; PERIODIC leaves it to scheduled jobs).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping

from grammar.errors import NotFound, ValidationError
from raise_.blobs.content import ContentType, content_type as as_content_type, infer_content_type
from raise_.blobs.hashing import HashAlgorithm, compute_checksum as checksum_of
from raise_.blobs.integrity import (
    DEFAULT_CONCURRENCY, BlobStatus, BlobValidationResult, IntegrityPolicy, ValidationCache,
    validate_references,
)
from raise_.blobs.reference import BlobReference, create_reference
from raise_.blobs.store import RegistryStore

__all__ = ["BlobRegistry", "registry_id_of"]

UNKNOWN_REFERENCE = "RAISE-N300"
BAD_NAME = "RAISE-V309"


def registry_id_of(uri: str) -> str:
    """The registry id of the reference to ``uri``: stable across registrations."""
    return hashlib.sha256(uri.encode()).hexdigest()[:24]


class BlobRegistry:
    """Tracks and validates blob references under ``name`` with an ``IntegrityPolicy``."""

    def __init__(self, name: str, policy: IntegrityPolicy | None = None, *, home: str | Path | None = None,
                 store: RegistryStore | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise ValidationError(f"a registry name is a non-empty string without '/', got {name!r}",
                                  code=BAD_NAME, name=str(name))
        self.name = name
        self.storage_options = dict(storage_options or {})
        self._store = store or RegistryStore.open(home)
        record = self._store.get_registry(name)
        if policy is None:
            policy = IntegrityPolicy.from_dict(record["policy"]) if record else IntegrityPolicy.on_write()
        if record is None or record.get("policy") != policy.to_dict():
            self._store.put_registry(name, {"name": name, "policy": policy.to_dict()})
        self.policy = policy
        self._cache = ValidationCache(policy.cache_validation_seconds)

    # -- references -------------------------------------------------------------------------

    def register(self, uri: str, content_type: ContentType | str | None = None, checksum: str | None = None,
                 size_bytes: int | None = None, metadata: Mapping[str, Any] | None = None, *,
                 hash_algorithm: HashAlgorithm | str = HashAlgorithm.SHA256, etag: str | None = None,
                 version_id: str | None = None) -> BlobReference:
        """Record a reference and return it with its ``registry_id``. The content type defaults
        to what the extension says; under STRICT and ON_WRITE the blob is validated first and
        the policy's refusal stores nothing."""
        if content_type is None:
            content_type = infer_content_type(uri)
        ref = create_reference(uri, as_content_type(content_type), checksum, hash_algorithm=hash_algorithm,
                               size_bytes=size_bytes, etag=etag, version_id=version_id, metadata=metadata)
        result = None
        if self.policy.validates_on_write:
            result = self._validate([ref])[0]
            self.policy.enforce(result)
        return self._save([(ref, result)])[0]

    def register_many(self, refs: Iterable[BlobReference],
                      results: Iterable[BlobValidationResult | None] | None = None) -> list[BlobReference]:
        """Record several references in one catalog transaction (all or none); ``results`` are
        validations already made of them (a scan that just hashed the blobs)."""
        refs = list(refs)
        results = list(results) if results is not None else [None] * len(refs)
        if self.policy.validates_on_write and any(r is None for r in results):
            results = self._validate(refs)
        for result in results:
            if result is not None:
                self.policy.enforce(result)
        return self._save(list(zip(refs, results)))

    def _save(self, pairs: list[tuple[BlobReference, BlobValidationResult | None]]) -> list[BlobReference]:
        saved, records = [], []
        for ref, result in pairs:
            rid = registry_id_of(ref.uri)
            ref = _with_id(ref, rid)
            record = {"registry_id": rid, "reference": _fields(ref), "metadata": dict(ref.metadata)}
            if result is not None:
                record.update(status=result.status.value, validated_at=result.checked_at.isoformat())
            saved.append(ref)
            records.append((rid, record))
        self._store.put_many(self.name, records)
        return saved

    def get(self, registry_id: str) -> BlobReference:
        """The reference registered under ``registry_id`` (``NotFound`` if none)."""
        record = self._store.get(self.name, registry_id)
        if record is None:
            raise NotFound(f"registry {self.name!r} has no reference {registry_id!r}", code=UNKNOWN_REFERENCE,
                           name=registry_id)
        ref = _from_record(record)
        if self.policy.validates_on_read:
            self.policy.enforce(self._validate([ref])[0])
        return ref

    def get_by_uri(self, uri: str) -> BlobReference:
        """The reference registered for ``uri`` (``NotFound`` if none)."""
        try:
            return self.get(registry_id_of(uri))
        except NotFound:
            raise NotFound(f"registry {self.name!r} has no reference to {uri!r}", code=UNKNOWN_REFERENCE,
                           name=uri) from None

    def list_references(self, content_type: ContentType | str | None = None,
                        prefix: str | None = None) -> list[BlobReference]:
        """Every registered reference, by URI, optionally of one content type or under a URI prefix."""
        wanted = None if content_type is None else as_content_type(content_type)
        refs = [_from_record(r) for r in self._store.list(self.name)]
        return sorted((r for r in refs if (wanted is None or r.content_type == wanted)
                       and (prefix is None or r.uri.startswith(prefix))), key=lambda r: r.uri)

    def find_orphans(self, max_workers: int = DEFAULT_CONCURRENCY) -> list[BlobReference]:
        """Registered references whose blob no longer exists."""
        refs = self.list_references()
        results = validate_references(refs, verify_checksum=False, max_workers=max_workers,
                                      options=self.storage_options)
        return [r.reference for r in results if r.status is BlobStatus.MISSING]

    # -- integrity ----------------------------------------------------------------------------

    @staticmethod
    def compute_checksum(data: bytes | BinaryIO, algorithm: HashAlgorithm | str = HashAlgorithm.SHA256) -> str:
        """Hex digest of ``data`` (bytes or a binary file, streamed)."""
        return checksum_of(data, algorithm)

    def validate(self, ref: BlobReference, *, verify_checksum: bool = True) -> BlobValidationResult:
        """Validate one reference against its blob (cached per the policy)."""
        return self.validate_batch([ref], verify_checksum=verify_checksum)[0]

    def validate_batch(self, refs: Iterable[BlobReference], *, verify_checksum: bool = True,
                       max_workers: int = DEFAULT_CONCURRENCY) -> list[BlobValidationResult]:
        """Validate references in parallel, at most ``max_workers`` at a time; results in order.
        The outcome of registered references is recorded in the registry."""
        results = self._validate(list(refs), verify_checksum=verify_checksum, max_workers=max_workers)
        self._record(results)
        return results

    def _validate(self, refs: list[BlobReference], *, verify_checksum: bool = True,
                  max_workers: int = DEFAULT_CONCURRENCY) -> list[BlobValidationResult]:
        return validate_references(refs, verify_checksum=verify_checksum, cache=self._cache,
                                   max_workers=max_workers, options=self.storage_options)

    def _record(self, results: list[BlobValidationResult]) -> None:
        updates = []
        for result in results:
            if result.cached or result.reference.registry_id is None:
                continue
            record = self._store.get(self.name, result.reference.registry_id)
            if record is not None and record["reference"] == _fields(result.reference):
                record.update(status=result.status.value, validated_at=result.checked_at.isoformat())
                updates.append((result.reference.registry_id, _stored(record)))
        if updates:
            self._store.put_many(self.name, updates)

    # -- display ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._store.list(self.name))

    def __repr__(self) -> str:
        return f"BlobRegistry(name={self.name!r}, policy={self.policy.mode.name})"

    def _repr_html_(self) -> str:
        from raise_.sdk import html  # here: raise_.sdk itself imports this package
        rows = [(r["reference"]["uri"], r["reference"]["content_type"], r["reference"]["size_bytes"],
                 r.get("status", "unverified")) for r in self._store.list(self.name)]
        return html.grid(f"BlobRegistry {self.name} ({self.policy.mode.name})",
                         ["uri", "content_type", "size_bytes", "status"], rows)


def _fields(ref: BlobReference) -> dict[str, Any]:
    values = ref.to_dict()
    values.pop("registry_id", None)
    values.pop("metadata", None)
    return values


def _with_id(ref: BlobReference, registry_id: str) -> BlobReference:
    return BlobReference.from_dict({**_fields(ref), "registry_id": registry_id, "metadata": dict(ref.metadata)})


def _from_record(record: Mapping[str, Any]) -> BlobReference:
    return BlobReference.from_dict({**record["reference"], "registry_id": record["registry_id"],
                                    "metadata": record.get("metadata") or {}})


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    """A record as read back, without the catalog's own columns, ready to put again."""
    return {k: v for k, v in record.items() if k not in ("key", "created_at", "updated_at")}
