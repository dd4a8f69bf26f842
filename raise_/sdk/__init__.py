"""The Python SDK: ``FeatureStore`` and the objects it returns, compiled to Raise SQL.

Names are loaded on first use, so that a light module of the SDK (``html``, ``dtypes``) loads
without the rest of it (the engine's analytics results use ``html``).
"""
from __future__ import annotations

from raise_.lazy import exports

#: Where each public name lives.
_MODULES: dict[str, tuple[str, ...]] = {
    "raise_.sdk.dtypes": (
        "Array", "BlobRef", "Bool", "Bytes", "Date", "Embedding", "FeatureType", "Float16", "Float32",
        "Float64", "Int8", "Int16", "Int32", "Int64", "String", "Struct", "Timestamp",
    ),
    "raise_.sdk.feature": ("Feature",),
    "raise_.sdk.group": ("FeatureGroup",),
    "raise_.sdk.lineage": ("Lineage", "LineageGraph", "LineageNode"),
    "raise_.sdk.namespaces": ("Domain", "Organization", "Project"),
    "raise_.sdk.security": ("ACL", "AuditQuery"),
    "raise_.sdk.store": ("FeatureStore",),
    "raise_.sdk.validation": ("Reference", "ValidationIssue", "ValidationResult"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "FeatureStore", "ACL", "AuditQuery", "FeatureGroup", "Feature", "Organization", "Domain", "Project",
    "Lineage", "LineageGraph", "LineageNode", "ValidationResult", "ValidationIssue", "Reference",
    "FeatureType", "Int8", "Int16", "Int32", "Int64", "Float16", "Float32", "Float64", "Bool",
    "String", "Bytes", "Timestamp", "Date", "Embedding", "Array", "Struct", "BlobRef",
]


__getattr__, __dir__ = exports(__name__, {name: _EXPORTS[name] for name in __all__})
