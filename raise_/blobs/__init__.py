"""Multimodal data: references to blobs (images, audio, video, tensors) with integrity metadata.

The bytes stay where they are; features, checks and scans move ``BlobReference``s.

- :mod:`raise_.blobs.reference`: ``BlobReference``, ``create_reference``
- :mod:`raise_.blobs.content`: ``ContentType``, ``infer_content_type``
- :mod:`raise_.blobs.hashing`: ``HashAlgorithm``, streamed checksums
- :mod:`raise_.blobs.integrity`: ``IntegrityPolicy``, ``IntegrityMode``, ``BlobStatus``, validation
- :mod:`raise_.blobs.registry`: ``BlobRegistry``, through a store's connection
- :mod:`raise_.blobs.family` / :mod:`raise_.blobs.store`: the blob statements in the engine, their catalog records
- :mod:`raise_.blobs.sources`: ``MultimodalSource`` scans of local and object-store prefixes
- :mod:`raise_.blobs.checks`: ``BlobIntegrityCheck``
- :mod:`raise_.blobs.columns`: ``blob_ref`` column values, converted and checked on write
"""
from raise_.blobs.checks import BlobCheckResult, BlobIntegrityCheck, CheckResult, CheckSeverity
from raise_.blobs.content import ContentType, infer_content_type
from raise_.blobs.hashing import HashAlgorithm, compute_checksum
from raise_.blobs.integrity import BlobStatus, BlobValidationResult, IntegrityMode, IntegrityPolicy
from raise_.blobs.reference import BlobReference, create_reference
from raise_.blobs.registry import BlobRegistry
from raise_.blobs.sources import MultimodalSource

__all__ = [
    "BlobReference", "create_reference", "ContentType", "infer_content_type", "HashAlgorithm",
    "compute_checksum", "IntegrityPolicy", "IntegrityMode", "BlobStatus", "BlobValidationResult",
    "BlobRegistry", "MultimodalSource", "BlobIntegrityCheck", "BlobCheckResult",
    "CheckResult", "CheckSeverity",
]
