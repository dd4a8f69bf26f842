"""Transform building blocks, where the spec imports them from (``from raise_.transforms import
python_transform``, ``inference_transform, GPUType``, ``ContentType``, ``HashAlgorithm``,
``CheckSeverity``)."""
from raise_.blobs import CheckResult, CheckSeverity, ContentType, HashAlgorithm, infer_content_type
from raise_.inference import (
    AcceleratorConfig, BatchConfig, GPUType, InferenceRuntime, InferenceTransform, TPUType,
    inference_transform,
)
from raise_.jobs.checks import NullCheck, RangeCheck, RowCountCheck
from raise_.jobs.transforms import PythonTransform, SQLTransform, python_transform

__all__ = [
    "AcceleratorConfig", "BatchConfig", "GPUType", "InferenceRuntime", "InferenceTransform", "TPUType",
    "inference_transform", "ContentType", "infer_content_type", "HashAlgorithm", "CheckSeverity", "CheckResult",
    "python_transform", "PythonTransform", "SQLTransform", "NullCheck", "RangeCheck", "RowCountCheck",
]
