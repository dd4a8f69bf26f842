"""Checksums of blobs, streamed in constant memory.

>>> compute_checksum(b"abc", HashAlgorithm.SHA256)[:16]
'ba7816bf8f01cfea'

SHA-256 (the default), SHA-512 and MD5 come from ``hashlib``, BLAKE3 from ``blake3`` and XXH3
(the 64-bit variant ``xxhsum -H3`` prints) from ``xxhash``: the hex digests equal the
reference tools' (``sha256sum``, ``b3sum``, ``xxhsum``) for the same bytes. ``hashlib``,
``blake3`` and ``xxhash`` release the GIL while hashing, so many files hash in parallel
threads.
"""
from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, BinaryIO, Callable

import blake3
import xxhash

from grammar.errors import ValidationError

__all__ = ["HashAlgorithm", "hash_algorithm", "new_hasher", "compute_checksum", "checksum_stream",
           "CHUNK_BYTES"]

UNKNOWN_ALGORITHM = "RAISE-V303"
BAD_DATA = "RAISE-V304"

#: Read size when streaming a blob: memory per file stays at one chunk.
CHUNK_BYTES = 1 << 20


class HashAlgorithm(StrEnum):
    """Content hashes a reference's ``checksum`` may be computed with."""

    SHA256 = "sha256"
    SHA512 = "sha512"
    MD5 = "md5"
    BLAKE3 = "blake3"
    XXH3 = "xxh3"


_FACTORIES: dict[HashAlgorithm, Callable[[], Any]] = {
    HashAlgorithm.SHA256: hashlib.sha256,
    HashAlgorithm.SHA512: hashlib.sha512,
    HashAlgorithm.MD5: lambda: hashlib.md5(usedforsecurity=False),
    HashAlgorithm.BLAKE3: blake3.blake3,
    HashAlgorithm.XXH3: xxhash.xxh3_64,
}


def hash_algorithm(value: HashAlgorithm | str) -> HashAlgorithm:
    """``value`` as a ``HashAlgorithm`` (``"SHA256"``, ``"sha-256"`` and ``"sha256"`` alike);
    anything else raises ``ValidationError`` (RAISE-V303) listing the supported ones."""
    if isinstance(value, HashAlgorithm):
        return value
    if isinstance(value, str):
        try:
            return HashAlgorithm(value.strip().lower().replace("-", "").replace("_", ""))
        except ValueError:
            pass
    raise ValidationError(
        f"unknown hash algorithm {value!r}; supported: {', '.join(a.name for a in HashAlgorithm)}",
        code=UNKNOWN_ALGORITHM, name=str(value),
    )


def new_hasher(algorithm: HashAlgorithm | str = HashAlgorithm.SHA256) -> Any:
    """A fresh incremental hasher (``update(bytes)``, ``hexdigest()``)."""
    return _FACTORIES[hash_algorithm(algorithm)]()


def checksum_stream(stream: BinaryIO, algorithm: HashAlgorithm | str = HashAlgorithm.SHA256,
                    chunk_bytes: int = CHUNK_BYTES) -> tuple[str, int]:
    """Hex digest and byte count of everything ``stream`` yields, read one chunk at a time
    into one reused buffer."""
    hasher = new_hasher(algorithm)
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    total = 0
    while True:
        count = stream.readinto(buffer)
        if not count:
            return hasher.hexdigest(), total
        hasher.update(view[:count])
        total += count


def compute_checksum(data: bytes | bytearray | memoryview | BinaryIO,
                     algorithm: HashAlgorithm | str = HashAlgorithm.SHA256) -> str:
    """Hex digest of ``data``: bytes, or a binary file object (streamed)."""
    algorithm = hash_algorithm(algorithm)
    if isinstance(data, (bytes, bytearray, memoryview)):
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return hasher.hexdigest()
    if hasattr(data, "readinto"):
        return checksum_stream(data, algorithm)[0]
    raise ValidationError(
        f"compute_checksum() takes bytes or a binary file object, got {type(data).__name__}",
        code=BAD_DATA, name=type(data).__name__,
    )
