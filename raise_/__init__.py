"""Raise: a feature store for ML researchers.

>>> from raise_ import FeatureStore
>>> fs = FeatureStore("acme/mlplatform/recommendation")             # doctest: +SKIP
>>> user_signals = fs.create_feature_group("user-signals")           # doctest: +SKIP
>>> user_signals.create_feature("click_count", dtype="int64")        # doctest: +SKIP

Errors live in ``raise_.errors``; dtypes can be strings (``"float32[512]"``) or the typed
constructors exported here (``Embedding(512)``).

Names are loaded on first use: ``import raise_`` (or a light module such as
``raise_.engine.names``) does not load DataFusion, Delta Lake or the inference runtimes.
"""
from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives.
_MODULES: dict[str, tuple[str, ...]] = {
    "raise_.sdk": (
        "FeatureStore", "ACL", "FeatureGroup", "Feature", "Organization", "Domain", "Project",
        "Lineage", "ValidationResult", "FeatureType", "Int8", "Int16", "Int32", "Int64", "Float16",
        "Float32", "Float64", "Bool", "String", "Bytes", "Timestamp", "Date", "Embedding", "Array",
        "Struct", "BlobRef",
    ),
    "raise_.errors": (
        "RaiseError", "RaiseWarning",
    ),
    "raise_.analytics": (
        "Analysis", "Aggregation", "Distribution", "Correlation", "VersionDiff", "StatTest",
        "RecordLookup", "Freshness", "AnalysisJob", "AnalysisResult", "RefreshPolicy", "Condition",
        "LiveTable", "Alert",
    ),
    "raise_.analytics.dashboard": (
        "Dashboard", "Chart", "ChartType", "DashboardParameter",
    ),
    "raise_.blobs": (
        "BlobReference", "BlobRegistry", "ContentType", "create_reference", "infer_content_type",
        "HashAlgorithm", "IntegrityPolicy", "IntegrityMode", "BlobStatus", "MultimodalSource",
        "BlobIntegrityCheck", "CheckResult", "CheckSeverity",
    ),
    "raise_.inference": (
        "ModelSpec", "ModelFramework", "ModelPrecision", "AcceleratorConfig", "GPUType", "TPUType",
        "BatchConfig", "InferenceRuntime", "InferenceTransform", "InferenceResult",
        "embedding_inference", "image_inference", "llm_inference", "classification_inference",
        "inference_transform",
    ),
    "raise_.jobs.airflow": (
        "AirflowConfig", "generate_airflow_dag",
    ),
    "raise_.jobs": (
        "ObjectStorage", "FileSystem", "ColumnarSource", "FeatureGroupSource", "SQLTransform", "Schedule",
        "Target", "IncrementalConfig", "NullCheck", "RangeCheck", "RowCountCheck", "Job", "JobRun",
        "DeploymentResult", "python_transform",
    ),
    "raise_.sdk.search": ("SearchResult",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = ["errors", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("raise_.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'raise_' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
