"""Integrity of blob references: policies, validation results, and validating against storage.

>>> policy = IntegrityPolicy(mode=IntegrityMode.ON_WRITE, fail_on_missing=True,
...                          fail_on_mismatch=True, cache_validation_seconds=3600)

A validation looks the blob up (existence, size) and, where the reference carries a checksum
and ``verify_checksum`` holds, streams it through the reference's hash algorithm. Results of
valid blobs are cached for ``cache_validation_seconds``; a failed result is never cached, so a
repaired blob is seen at once.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Iterable, Mapping

import pyarrow.fs as pafs

from grammar.errors import ValidationError
from raise_.blobs.hashing import checksum_stream
from raise_.blobs.locations import filesystem
from raise_.blobs.reference import BlobReference

__all__ = ["IntegrityMode", "IntegrityPolicy", "BlobStatus", "BlobValidationResult", "ValidationCache",
           "validate_reference", "validate_references", "DEFAULT_CONCURRENCY"]

BLOB_MISSING = "RAISE-V306"
BLOB_MISMATCH = "RAISE-V307"
BAD_SETTING = "RAISE-V308"

#: Blobs validated at once by ``validate_batch``: enough to hide object-store latency, few
#: enough that local disks are not thrashed.
DEFAULT_CONCURRENCY = 16


class IntegrityMode(StrEnum):
    """When references are validated against their blobs."""

    STRICT = "strict"      # on every access
    ON_WRITE = "on_write"  # when references are created or updated
    ON_READ = "on_read"    # when references are read or resolved
    LAZY = "lazy"          # only on an explicit check
    PERIODIC = "periodic"  # by background validation jobs


class BlobStatus(StrEnum):
    """Outcome of validating one reference."""

    VALID = "valid"
    MISSING = "missing"
    SIZE_MISMATCH = "size_mismatch"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityPolicy:
    """When to validate (``mode``), what fails a write or read (``fail_on_missing``,
    ``fail_on_mismatch``) and how long a valid result is trusted (``cache_validation_seconds``,
    0 for never)."""

    mode: IntegrityMode = IntegrityMode.ON_WRITE
    fail_on_missing: bool = True
    fail_on_mismatch: bool = True
    cache_validation_seconds: float = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", IntegrityMode(self.mode))
        except ValueError:
            raise ValidationError(f"unknown integrity mode {self.mode!r}; modes: "
                                  f"{', '.join(m.name for m in IntegrityMode)}", code=BAD_SETTING,
                                  name=str(self.mode)) from None
        seconds = self.cache_validation_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValidationError(f"cache_validation_seconds must be a non-negative number, got {seconds!r}",
                                  code=BAD_SETTING, name="cache_validation_seconds")

    @classmethod
    def strict(cls) -> "IntegrityPolicy":
        """Validate on every access; missing or mismatched blobs fail."""
        return cls(mode=IntegrityMode.STRICT)

    @classmethod
    def on_write(cls) -> "IntegrityPolicy":
        """Validate when references are created or updated (the default). Only blobs that are
        there and differ fail the write; one not reachable yet is recorded as such."""
        return cls(mode=IntegrityMode.ON_WRITE, fail_on_missing=False)

    @classmethod
    def lazy(cls) -> "IntegrityPolicy":
        """Validate only on an explicit ``validate``/``validate_batch`` or check."""
        return cls(mode=IntegrityMode.LAZY, fail_on_missing=False, fail_on_mismatch=False)

    @property
    def validates_on_write(self) -> bool:
        return self.mode in (IntegrityMode.STRICT, IntegrityMode.ON_WRITE)

    @property
    def validates_on_read(self) -> bool:
        return self.mode in (IntegrityMode.STRICT, IntegrityMode.ON_READ)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "fail_on_missing": self.fail_on_missing,
                "fail_on_mismatch": self.fail_on_mismatch,
                "cache_validation_seconds": self.cache_validation_seconds}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "IntegrityPolicy":
        return cls(**values)

    def enforce(self, result: "BlobValidationResult") -> None:
        """Raise ``ValidationError`` if this policy does not accept ``result``."""
        if result.status is BlobStatus.MISSING and self.fail_on_missing:
            raise ValidationError(f"blob {result.reference.uri!r} does not exist", code=BLOB_MISSING,
                                  name=result.reference.uri)
        if result.status in (BlobStatus.SIZE_MISMATCH, BlobStatus.CHECKSUM_MISMATCH) and self.fail_on_mismatch:
            raise ValidationError(f"blob {result.reference.uri!r} does not match its reference: "
                                  f"{result.message}", code=BLOB_MISMATCH, name=result.reference.uri)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobValidationResult:
    """What validating ``reference`` found. ``checksum_matches`` / ``size_matches`` are None
    where the reference records no checksum / size (or the blob could not be read)."""

    reference: BlobReference
    status: BlobStatus
    exists: bool | None
    checksum_matches: bool | None = None
    size_matches: bool | None = None
    actual_checksum: str | None = None
    actual_size: int | None = None
    message: str = ""
    checked_at: datetime
    cached: bool = False

    @property
    def valid(self) -> bool:
        return self.status is BlobStatus.VALID

    def __repr__(self) -> str:
        return f"BlobValidationResult({self.reference.uri!r}, status={self.status.name})"


def validate_reference(ref: BlobReference, *, verify_checksum: bool = True,
                       options: Mapping[str, Any] | None = None) -> BlobValidationResult:
    """Look ``ref``'s blob up and compare it with the reference."""
    stamp = datetime.now(timezone.utc)
    try:
        fs = filesystem(ref.location, options)
        info = fs.get_file_info(ref.location.path)
        if info.type == pafs.FileType.NotFound:
            return BlobValidationResult(reference=ref, status=BlobStatus.MISSING, exists=False,
                                        message="no blob at this URI", checked_at=stamp)
        if info.type != pafs.FileType.File:
            return BlobValidationResult(reference=ref, status=BlobStatus.MISSING, exists=False,
                                        message="the URI names a directory, not a blob", checked_at=stamp)
        digest = None
        if verify_checksum and ref.checksum is not None:
            with fs.open_input_stream(ref.location.path) as stream:
                digest, size = checksum_stream(stream, ref.hash_algorithm)
        else:
            size = info.size
    except (OSError, ValueError) as error:
        return BlobValidationResult(reference=ref, status=BlobStatus.UNREACHABLE, exists=None,
                                    message=str(error).splitlines()[0], checked_at=stamp)
    return _compare(ref, digest, size, stamp)


def _compare(ref: BlobReference, digest: str | None, size: int, stamp: datetime) -> BlobValidationResult:
    size_ok = None if ref.size_bytes is None else ref.size_bytes == size
    checksum_ok = None if digest is None else digest == ref.checksum.lower()
    if size_ok is False:
        status, message = BlobStatus.SIZE_MISMATCH, f"{size} bytes, reference says {ref.size_bytes}"
    elif checksum_ok is False:
        status, message = BlobStatus.CHECKSUM_MISMATCH, f"{ref.hash_algorithm.value} {digest}, reference says {ref.checksum}"
    else:
        status, message = BlobStatus.VALID, ""
    return BlobValidationResult(reference=ref, status=status, exists=True, checksum_matches=checksum_ok,
                                size_matches=size_ok, actual_checksum=digest, actual_size=size,
                                message=message, checked_at=stamp)


class ValidationCache:
    """Valid results kept for ``seconds`` (monotonic clock), keyed by what a reference claims."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[tuple, tuple[float, BlobValidationResult]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(ref: BlobReference, verify_checksum: bool) -> tuple:
        return ref.uri, ref.checksum, ref.hash_algorithm, ref.size_bytes, ref.etag, ref.version_id, verify_checksum

    def get(self, ref: BlobReference, verify_checksum: bool) -> BlobValidationResult | None:
        key = self._key(ref, verify_checksum)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() >= entry[0]:
                del self._entries[key]
                return None
        return replace(entry[1], reference=ref, cached=True)

    def put(self, result: BlobValidationResult, verify_checksum: bool) -> None:
        if self.seconds <= 0 or not result.valid:
            return
        with self._lock:
            self._entries[self._key(result.reference, verify_checksum)] = (time.monotonic() + self.seconds, result)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def validate_references(refs: Iterable[BlobReference], *, verify_checksum: bool = True,
                        cache: ValidationCache | None = None, max_workers: int = DEFAULT_CONCURRENCY,
                        options: Mapping[str, Any] | None = None) -> list[BlobValidationResult]:
    """Validate ``refs`` with at most ``max_workers`` blobs in flight; results in input order."""
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValidationError(f"max_workers must be a positive integer, got {max_workers!r}",
                              code=BAD_SETTING, name="max_workers")

    def one(ref: BlobReference) -> BlobValidationResult:
        hit = cache.get(ref, verify_checksum) if cache is not None else None
        if hit is not None:
            return hit
        result = validate_reference(ref, verify_checksum=verify_checksum, options=options)
        if cache is not None:
            cache.put(result, verify_checksum)
        return result

    refs = list(refs)
    if len(refs) <= 1 or max_workers == 1:
        return [one(ref) for ref in refs]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(refs))) as pool:
        return list(pool.map(one, refs))
