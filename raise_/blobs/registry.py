"""``BlobRegistry``: the references of one collection of blobs, tracked and validated.

>>> registry = BlobRegistry(name="product-images", policy=IntegrityPolicy.lazy())   # doctest: +SKIP
>>> ref = registry.register(uri="s3://bucket/image.png", content_type="image/png",
...                         checksum="abc123...")                                    # doctest: +SKIP
>>> registry.get_by_uri("s3://bucket/image.png") == ref                              # doctest: +SKIP
True

A registry is a catalog object of a project, reached through a ``FeatureStore``'s connection
(``store=``: embedded or a Raise server, the store's project) or, without one, through an
embedded store at ``home`` (default ``$RAISE_HOME`` or ``./.raise``) in ``DEFAULT_PROJECT``; a
``name`` written as a path (``"acme/ml/vision/product-images"``) names its project. Every call
is compiled to the blob statements of Raise SQL (``CREATE BLOB REGISTRY``, ``REGISTER BLOBS``,
``SHOW BLOBS``), so ACLs and the audit log apply as to any statement. Opening a registry again
by name finds its references and its policy; the registry id of a reference is derived from
its URI, so registering a URI again updates its entry. The policy decides when blobs are
validated (here, where the blobs are read with ``storage_options``): on ``register`` (STRICT,
ON_WRITE), on ``get`` (STRICT, ON_READ), or only on ``validate`` (LAZY; PERIODIC leaves it to
scheduled jobs).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, BinaryIO, Iterable, Mapping

from grammar import blobs as sql
from grammar.errors import NotFound, ValidationError
from raise_.blobs.content import ContentType, content_type as as_content_type, guess_content_type, infer_content_type
from raise_.blobs.hashing import HashAlgorithm, compute_checksum as checksum_of
from raise_.blobs.integrity import (
    DEFAULT_CONCURRENCY, BlobStatus, BlobValidationResult, IntegrityPolicy, ValidationCache,
    validate_references,
)
from raise_.blobs.reference import BlobReference, create_reference
from raise_.blobs.store import reference_of_row, registry_id_of

if TYPE_CHECKING:
    from raise_.sdk.context import Executor
    from raise_.sdk.store import FeatureStore

__all__ = ["BlobRegistry", "registry_id_of", "DEFAULT_PROJECT"]

UNKNOWN_REFERENCE = "RAISE-N300"
UNKNOWN_REGISTRY = "RAISE-N302"
BAD_NAME = "RAISE-V309"
NOT_A_REFERENCE = "RAISE-V314"
#: The project of registries opened without a store or a path.
DEFAULT_PROJECT = ("default", "default", "default")
#: Most characters of one REGISTER BLOBS statement: well under what a Raise server accepts as
#: one SQL text (1 MiB), so a large scan goes as a few statements of thousands of references.
STATEMENT_CHARS = 512 << 10


class BlobRegistry:
    """Tracks and validates blob references under ``name`` with an ``IntegrityPolicy``."""

    def __init__(self, name: str, policy: IntegrityPolicy | None = None, *, store: "FeatureStore | None" = None,
                 home: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        project, name = _split(name)
        self.name = name
        self.storage_options = dict(storage_options or {})
        self._executor, self.project = _channel(store, home, project)
        self._ref = sql.RegistryRef(name=name, project=self.project)
        self.policy = self._open(policy)
        self._cache = ValidationCache(self.policy.cache_validation_seconds)

    def _open(self, policy: IntegrityPolicy | None) -> IntegrityPolicy:
        """The stored policy, after creating the registry or changing its policy to ``policy``."""
        row = self._describe()
        stored = None if row is None else IntegrityPolicy.from_dict(row["policy"])
        if stored is not None and (policy is None or policy == stored):
            return stored
        policy = policy or IntegrityPolicy.on_write()
        self._executor.ensure_namespaces(self.project)
        self._executor.run(sql.CreateBlobRegistry(registry=self._ref, policy=tuple(policy.to_dict().items()),
                                                  conflict="error" if stored is None else "update"))
        return policy

    def _describe(self) -> dict[str, Any] | None:
        try:
            return self._executor.run(sql.DescribeBlobRegistry(registry=self._ref)).to_pylist()[0]
        except NotFound as missing:
            if missing.code != UNKNOWN_REGISTRY:
                raise
            return None

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
        return self.register_many([ref])[0]

    def register_many(self, refs: Iterable[BlobReference],
                      results: Iterable[BlobValidationResult | None] | None = None) -> list[BlobReference]:
        """Record several references (one statement per ``STATEMENT_CHARS`` of them, each all or
        none; the policy refuses before any is sent); ``results`` are validations already made
        of them (a scan that just hashed the blobs)."""
        refs = list(refs)
        stray = next((r for r in refs if not isinstance(r, BlobReference)), None)
        if stray is not None:
            raise ValidationError(f"register_many() takes BlobReferences, got {stray!r}", code=NOT_A_REFERENCE,
                                  name=repr(stray))
        results = list(results) if results is not None else [None] * len(refs)
        if self.policy.validates_on_write and any(r is None for r in results):
            results = self._validate(refs)
        for result in results:
            if result is not None:
                self.policy.enforce(result)
        self._register([_entry(ref, result) for ref, result in zip(refs, results)])
        return [_with_id(ref) for ref in refs]

    def _register(self, entries: list[sql.BlobEntry]) -> None:
        """REGISTER BLOBS statements of at most ``STATEMENT_CHARS`` each, in order; each stores
        all of its references or none."""
        batch: list[sql.BlobEntry] = []
        size = 0
        for entry in entries:
            length = len(sql.render_blob_statement(sql.RegisterBlobs(registry=self._ref, entries=(entry,))))
            if batch and size + length > STATEMENT_CHARS:
                self._executor.run(sql.RegisterBlobs(registry=self._ref, entries=tuple(batch)))
                batch, size = [], 0
            batch.append(entry)
            size += length
        if batch:
            self._executor.run(sql.RegisterBlobs(registry=self._ref, entries=tuple(batch)))

    def get(self, registry_id: str) -> BlobReference:
        """The reference registered under ``registry_id`` (``NotFound`` if none)."""
        found = self._show(registry_id=registry_id)
        if not found:
            raise NotFound(f"registry {self.name!r} has no reference {registry_id!r}", code=UNKNOWN_REFERENCE,
                           name=registry_id)
        return self._read(found[0])

    def get_by_uri(self, uri: str) -> BlobReference:
        """The reference registered for ``uri`` (``NotFound`` if none)."""
        found = self._show(uri=uri)
        if not found:
            raise NotFound(f"registry {self.name!r} has no reference to {uri!r}", code=UNKNOWN_REFERENCE, name=uri)
        return self._read(found[0])

    def _read(self, ref: BlobReference) -> BlobReference:
        if self.policy.validates_on_read:
            self.policy.enforce(self._validate([ref])[0])
        return ref

    def list_references(self, content_type: ContentType | str | None = None,
                        prefix: str | None = None) -> list[BlobReference]:
        """Every registered reference, by URI, optionally of one content type or under a URI prefix."""
        kind = None if content_type is None else as_content_type(content_type).value
        return self._show(content_type=kind, prefix=prefix)

    def _show(self, **filters: Any) -> list[BlobReference]:
        table = self._executor.run(sql.ShowBlobs(registry=self._ref, **filters))
        return [reference_of_row(row) for row in table.to_pylist()]

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
        """Record fresh outcomes of references registered as they are (metadata kept)."""
        fresh = [r for r in results if not r.cached and r.reference.registry_id is not None]
        if not fresh:
            return
        stored = {ref.registry_id: ref for ref in self._show(**_narrowest(fresh))}
        pairs = [(stored[r.reference.registry_id], r) for r in fresh
                 if stored.get(r.reference.registry_id) == r.reference]
        self._register([_entry(*p) for p in pairs])

    # -- display ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._executor.run(sql.DescribeBlobRegistry(registry=self._ref)).column("references")[0].as_py()

    def __repr__(self) -> str:
        return f"BlobRegistry(name={self.name!r}, policy={self.policy.mode.name})"

    def _repr_html_(self) -> str:
        from raise_.sdk import html  # here: raise_.sdk itself imports this package
        table = self._executor.run(sql.ShowBlobs(registry=self._ref))
        rows = [(r["uri"], r["content_type"], r["size_bytes"], r["status"] or "unverified") for r in table.to_pylist()]
        return html.grid(f"BlobRegistry {self.name} ({self.policy.mode.name})",
                         ["uri", "content_type", "size_bytes", "status"], rows)


def _split(name: str) -> tuple[tuple[str, ...] | None, str]:
    """(project path or None, registry name) of ``name`` or ``org/domain/project/name``."""
    parts = name.split("/") if isinstance(name, str) else []
    if len(parts) not in (1, 4) or not all(p.strip() for p in parts):
        raise ValidationError(f"a registry name is a non-empty name or org/domain/project/name, got {name!r}",
                              code=BAD_NAME, name=str(name))
    return (tuple(parts[:-1]) or None), parts[-1]


def _channel(store: "FeatureStore | None", home: str | None,
             project: tuple[str, ...] | None) -> tuple["Executor", tuple[str, ...]]:
    """The executor statements go through and the registry's project."""
    if store is None:
        from raise_.sdk.store import FeatureStore  # here: raise_.sdk imports this package

        store = FeatureStore(home=home)
        return store._executor, project or DEFAULT_PROJECT
    if home is not None:
        raise ValidationError("give a BlobRegistry a store= or a home=, not both", code=BAD_NAME, name=str(home))
    return store._executor, project or store._at(3)


def _entry(ref: BlobReference, result: BlobValidationResult | None) -> sql.BlobEntry:
    """The statement's entry for ``ref``; what the engine infers the same way (the content type
    the extension names, SHA-256) is left out, so a large registration parses faster."""
    values = ref.to_dict()
    return sql.BlobEntry(
        uri=ref.uri, content_type=None if ref.content_type == guess_content_type(ref.uri) else values["content_type"],
        checksum=ref.checksum, algorithm=None if ref.hash_algorithm is HashAlgorithm.SHA256 else values["hash_algorithm"],
        size_bytes=ref.size_bytes, etag=ref.etag, version_id=ref.version_id,
        metadata=json.dumps(dict(ref.metadata), sort_keys=True, default=str) if ref.metadata else None,
        status=None if result is None else result.status.value,
        validated_at=None if result is None else result.checked_at.isoformat())


def _with_id(ref: BlobReference) -> BlobReference:
    return BlobReference.from_dict({**ref.to_dict(), "registry_id": registry_id_of(ref.uri),
                                    "metadata": dict(ref.metadata)})


def _narrowest(results: list[BlobValidationResult]) -> dict[str, Any]:
    """SHOW BLOBS filters that select the references of ``results`` (one by id, else all)."""
    return {"registry_id": results[0].reference.registry_id} if len(results) == 1 else {}
