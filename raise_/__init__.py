"""Raise: a feature store for ML researchers.

>>> from raise_ import FeatureStore
>>> fs = FeatureStore("acme/mlplatform/recommendation")             # doctest: +SKIP
>>> user_signals = fs.create_feature_group("user-signals")           # doctest: +SKIP
>>> user_signals.create_feature("click_count", dtype="int64")        # doctest: +SKIP

Errors live in ``raise_.errors``; dtypes can be strings (``"float32[512]"``) or the typed
constructors exported here (``Embedding(512)``).
"""
from raise_ import errors
from raise_.errors import RaiseError, RaiseWarning
from raise_.sdk import (
    ACL, Array, BlobRef, Bool, Bytes, Date, Domain, Embedding, Feature, FeatureGroup, FeatureStore,
    FeatureType, Float16, Float32, Float64, Int8, Int16, Int32, Int64, Lineage, Organization,
    Project, String, Struct, Timestamp, ValidationResult,
)
from raise_.blobs import (
    BlobIntegrityCheck, BlobReference, BlobRegistry, BlobStatus, CheckResult, CheckSeverity, ContentType,
    HashAlgorithm, IntegrityMode, IntegrityPolicy, MultimodalSource, create_reference, infer_content_type,
)
from raise_.inference import (
    AcceleratorConfig, BatchConfig, GPUType, InferenceResult, InferenceRuntime, InferenceTransform,
    ModelFramework, ModelPrecision, ModelSpec, TPUType, classification_inference, embedding_inference,
    image_inference, inference_transform, llm_inference,
)

__all__ = [
    "FeatureStore", "ACL", "FeatureGroup", "Feature", "Organization", "Domain", "Project", "Lineage",
    "ValidationResult", "FeatureType", "Int8", "Int16", "Int32", "Int64", "Float16", "Float32",
    "Float64", "Bool", "String", "Bytes", "Timestamp", "Date", "Embedding", "Array", "Struct",
    "BlobRef", "errors", "RaiseError", "RaiseWarning",
    "ModelSpec", "ModelFramework", "ModelPrecision", "AcceleratorConfig", "GPUType", "TPUType",
    "BatchConfig", "InferenceRuntime", "InferenceTransform", "InferenceResult",
    "embedding_inference", "image_inference", "llm_inference", "classification_inference",
    "inference_transform",
    "BlobReference", "BlobRegistry", "ContentType", "create_reference", "infer_content_type", "HashAlgorithm",
    "IntegrityPolicy", "IntegrityMode", "BlobStatus", "MultimodalSource", "BlobIntegrityCheck", "CheckResult",
    "CheckSeverity",
]
