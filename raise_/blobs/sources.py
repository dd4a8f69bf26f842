"""``MultimodalSource``: references to the blobs under a local or object-store prefix.

>>> source = MultimodalSource(name="product_images", uri_prefix="s3://products/images/",
...                           content_types=[ContentType.IMAGE_JPEG, ContentType.IMAGE_PNG])  # doctest: +SKIP
>>> refs = source.scan()                                                                      # doctest: +SKIP

A scan lists the prefix through ``pyarrow.fs``, keeps the files whose extension names one of
``content_types`` (any known type when none are given), and, with ``compute_checksums``,
streams each file through the hash in parallel threads (one chunk of memory per file in
flight). It returns references, never bytes, and registers them in ``registry`` if one is
given, in ``REGISTER BLOBS`` statements (see ``BlobRegistry.register_many``) that record each blob
as validated by the scan's own hashing, so the registry's policy does not read the blobs again.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import pyarrow.fs as pafs

from grammar.errors import ExecutionError, NotFound, ValidationError
from raise_.blobs.content import ContentType, content_type as as_content_type, guess_content_type
from raise_.blobs.hashing import HashAlgorithm, checksum_stream, hash_algorithm as as_algorithm
from raise_.blobs.integrity import BlobStatus, BlobValidationResult
from raise_.blobs.locations import Location, filesystem, join, parse_prefix
from raise_.blobs.reference import BlobReference
from raise_.blobs.registry import BlobRegistry

__all__ = ["MultimodalSource"]

PREFIX_NOT_FOUND = "RAISE-N301"
UNREACHABLE = "RAISE-X300"


def _default_workers() -> int:
    return min(32, 2 * (os.cpu_count() or 1))


class MultimodalSource:
    """The blobs under ``uri_prefix`` of some ``content_types``, as references."""

    def __init__(self, name: str, uri_prefix: str, content_types: Iterable[ContentType | str] | None = None,
                 registry: BlobRegistry | None = None, compute_checksums: bool = True, recursive: bool = True, *,
                 hash_algorithm: HashAlgorithm | str = HashAlgorithm.SHA256, max_workers: int | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> None:
        if isinstance(content_types, str):
            raise ValidationError("content_types is a list, e.g. [ContentType.IMAGE_PNG]", code="RAISE-V301",
                                  name=content_types)
        self.name = name
        self.uri_prefix = uri_prefix
        self.content_types = tuple(as_content_type(c) for c in content_types or ())
        self.registry = registry
        self.compute_checksums = bool(compute_checksums)
        self.recursive = bool(recursive)
        self.hash_algorithm = as_algorithm(hash_algorithm)
        self.max_workers = max_workers or _default_workers()
        self.storage_options = dict(storage_options or (registry.storage_options if registry else {}))
        self._location: Location = parse_prefix(uri_prefix)
        self._refs: dict[str, BlobReference] = {}

    def __repr__(self) -> str:
        return f"MultimodalSource(name={self.name!r}, uri_prefix={self.uri_prefix!r})"

    def scan(self) -> list[BlobReference]:
        """References to every matching blob under the prefix, sorted by URI."""
        fs = filesystem(self._location, self.storage_options)
        base = self._location.path
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=self.recursive))
        except FileNotFoundError:
            raise NotFound(f"source {self.name!r}: nothing at {self.uri_prefix!r}", code=PREFIX_NOT_FOUND,
                           name=self.uri_prefix) from None
        except OSError as error:
            raise ExecutionError(f"source {self.name!r} cannot list {self.uri_prefix!r}: "
                                 f"{str(error).splitlines()[0]}", code=UNREACHABLE, name=self.uri_prefix) from None
        wanted = [(info, kind) for info in infos if info.type == pafs.FileType.File
                  for kind in [guess_content_type(info.path)] if self._accepts(kind)]
        wanted.sort(key=lambda pair: pair[0].path)
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            refs = list(pool.map(lambda pair: self._reference(fs, base, *pair), wanted))
        if self.registry is not None:
            stamp = datetime.now(timezone.utc)
            results = [_fresh(ref, stamp) if self.compute_checksums else None for ref in refs]
            refs = self.registry.register_many(refs, results)
        self._refs = {_relative(base, info.path): ref for (info, _), ref in zip(wanted, refs)}
        return refs

    def get_reference(self, name: str) -> BlobReference:
        """The reference to ``name`` (a path relative to the prefix), from the last scan or
        looked up now (``NotFound`` if there is no such blob)."""
        found = self._refs.get(name.lstrip("/"))
        if found is not None:
            return found
        fs = filesystem(self._location, self.storage_options)
        path = join(self._location.path, name)
        info = fs.get_file_info(path)
        kind = guess_content_type(path)
        if info.type != pafs.FileType.File or not self._accepts(kind):
            raise NotFound(f"source {self.name!r} has no blob {name!r} under {self.uri_prefix!r}",
                           code=PREFIX_NOT_FOUND, name=name)
        return self._reference(fs, self._location.path, info, kind)

    def _accepts(self, kind: ContentType | None) -> bool:
        return kind is not None and (not self.content_types or kind in self.content_types)

    def _reference(self, fs: pafs.FileSystem, base: str, info: pafs.FileInfo, kind: ContentType) -> BlobReference:
        checksum, size = None, info.size
        if self.compute_checksums:
            with fs.open_input_stream(info.path) as stream:
                checksum, size = checksum_stream(stream, self.hash_algorithm)
        return BlobReference(uri=join(self.uri_prefix, _relative(base, info.path)), content_type=kind,
                             checksum=checksum, hash_algorithm=self.hash_algorithm, size_bytes=size)


def _relative(base: str, path: str) -> str:
    return path[len(base.rstrip("/")):].lstrip("/")


def _fresh(ref: BlobReference, stamp: datetime) -> BlobValidationResult:
    """A scan's reference is valid by construction: its checksum was just read from the blob."""
    return BlobValidationResult(reference=ref, status=BlobStatus.VALID, exists=True, checksum_matches=True,
                                size_matches=True, actual_checksum=ref.checksum, actual_size=ref.size_bytes,
                                checked_at=stamp)
