"""How blob registries are kept in a store's catalog, and how their rows look in Raise SQL.

A registry is a catalog object of kind ``blob_registry`` in a project, keyed
``<org>/<domain>/<project>/<name>`` (its parent is the project), holding its integrity policy;
each reference is an object of kind ``blob`` keyed ``<registry key>/<registry id>`` with the
registry as parent, holding its stored fields, metadata and last validation. Only the engine's
blob family (:mod:`raise_.blobs.family`) touches these records; clients read them as rows of
``REGISTRY_SCHEMA`` and ``BLOB_SCHEMA``.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import pyarrow as pa

from raise_.blobs.integrity import BlobValidationResult
from raise_.blobs.reference import STRUCT_FIELDS, BlobReference

__all__ = ["REGISTRY_KIND", "BLOB_KIND", "REGISTRY_SCHEMA", "BLOB_SCHEMA", "VALIDATION_SCHEMA",
           "registry_id_of", "blob_record", "reference_of_record", "reference_of_row", "blob_row"]

REGISTRY_KIND = "blob_registry"
BLOB_KIND = "blob"

_POLICY = pa.struct([("mode", pa.string()), ("fail_on_missing", pa.bool_()), ("fail_on_mismatch", pa.bool_()),
                     ("cache_validation_seconds", pa.float64())])
REGISTRY_SCHEMA = pa.schema([
    ("project", pa.string()), ("name", pa.string()), ("path", pa.string()), ("policy", _POLICY),
    ("description", pa.string()), ("owner", pa.string()), ("references", pa.int64()),
    ("created_at", pa.string()), ("updated_at", pa.string()),
])
BLOB_SCHEMA = pa.schema([
    ("registry", pa.string()), ("registry_id", pa.string()), ("uri", pa.string()), ("content_type", pa.string()),
    ("checksum", pa.string()), ("hash_algorithm", pa.string()), ("size_bytes", pa.int64()), ("etag", pa.string()),
    ("version_id", pa.string()), ("metadata", pa.string()), ("status", pa.string()),
    ("validated_at", pa.string()), ("created_at", pa.string()), ("updated_at", pa.string()),
])
VALIDATION_SCHEMA = pa.schema([
    ("registry_id", pa.string()), ("uri", pa.string()), ("status", pa.string()), ("valid", pa.bool_()),
    ("exists", pa.bool_()), ("checksum_matches", pa.bool_()), ("size_matches", pa.bool_()),
    ("actual_checksum", pa.string()), ("actual_size", pa.int64()), ("message", pa.string()),
    ("checked_at", pa.string()),
])


def registry_id_of(uri: str) -> str:
    """The registry id of the reference to ``uri``: stable across registrations."""
    return hashlib.sha256(uri.encode()).hexdigest()[:24]


def fields_of(ref: BlobReference) -> dict[str, Any]:
    """The stored fields of ``ref`` (no registry id, no metadata)."""
    values = ref.to_dict()
    return {name: values.get(name) for name in STRUCT_FIELDS}


def blob_record(ref: BlobReference, status: str | None = None, validated_at: str | None = None) -> dict[str, Any]:
    record = {"registry_id": registry_id_of(ref.uri), "reference": fields_of(ref), "metadata": dict(ref.metadata)}
    if status is not None:
        record.update(status=status, validated_at=validated_at)
    return record


def reference_of_record(record: Mapping[str, Any]) -> BlobReference:
    return BlobReference.from_dict({**record["reference"], "registry_id": record["registry_id"],
                                    "metadata": record.get("metadata") or {}})


def blob_row(registry_key: str, record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record["reference"], "registry": registry_key, "registry_id": record["registry_id"],
            "metadata": json.dumps(record.get("metadata") or {}, sort_keys=True),
            **{k: record.get(k) for k in ("status", "validated_at", "created_at", "updated_at")}}


def reference_of_row(row: Mapping[str, Any]) -> BlobReference:
    """The reference a row of ``BLOB_SCHEMA`` describes, with its registry id and metadata."""
    values = {name: row[name] for name in STRUCT_FIELDS}
    return BlobReference.from_dict({**values, "registry_id": row["registry_id"],
                                    "metadata": json.loads(row["metadata"] or "{}")})


def validation_row(result: BlobValidationResult) -> dict[str, Any]:
    ref = result.reference
    return {"registry_id": ref.registry_id or registry_id_of(ref.uri), "uri": ref.uri,
            "status": result.status.value, "valid": result.valid, "exists": result.exists,
            "checksum_matches": result.checksum_matches, "size_matches": result.size_matches,
            "actual_checksum": result.actual_checksum, "actual_size": result.actual_size,
            "message": result.message, "checked_at": result.checked_at.isoformat()}
