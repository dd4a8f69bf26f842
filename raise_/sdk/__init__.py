"""The Python SDK: ``FeatureStore`` and the objects it returns, compiled to Raise SQL."""
from raise_.sdk.dtypes import (
    Array, BlobRef, Bool, Bytes, Date, Embedding, FeatureType, Float16, Float32, Float64, Int8,
    Int16, Int32, Int64, String, Struct, Timestamp,
)
from raise_.sdk.feature import Feature
from raise_.sdk.group import FeatureGroup
from raise_.sdk.lineage import Lineage, LineageGraph, LineageNode
from raise_.sdk.namespaces import Domain, Organization, Project
from raise_.sdk.security import ACL, AuditQuery
from raise_.sdk.store import FeatureStore
from raise_.sdk.validation import Reference, ValidationIssue, ValidationResult

__all__ = [
    "FeatureStore", "ACL", "AuditQuery", "FeatureGroup", "Feature", "Organization", "Domain", "Project",
    "Lineage", "LineageGraph", "LineageNode", "ValidationResult", "ValidationIssue", "Reference",
    "FeatureType", "Int8", "Int16", "Int32", "Int64", "Float16", "Float32", "Float64", "Bool",
    "String", "Bytes", "Timestamp", "Date", "Embedding", "Array", "Struct", "BlobRef",
]
