"""Bulk inference: models on feature data, from one feature group into another.

``ModelSpec`` says what a model is (it compiles to CREATE MODEL), ``AcceleratorConfig`` where
it runs, ``BatchConfig`` how rows are batched and retried, ``InferenceRuntime`` the environment
it expects. An ``InferenceTransform`` (built directly, by ``embedding_inference`` and the other
shortcuts, or by ``@inference_transform`` around a Python function) runs with
``transform.run(session, source=..., target=...)`` and returns an ``InferenceResult``.
"""
from raise_.inference.convenience import (
    classification_inference,
    embedding_inference,
    image_inference,
    inference_transform,
    llm_inference,
)
from raise_.inference.result import InferenceResult
from raise_.inference.spec import (
    AcceleratorConfig,
    GPUType,
    InferenceRuntime,
    ModelFramework,
    ModelPrecision,
    ModelSpec,
    TPUType,
)
from raise_.inference.transform import InferenceContext, InferenceTransform
from udfs.infer.records import BatchConfig

__all__ = [
    "ModelSpec", "ModelFramework", "ModelPrecision", "AcceleratorConfig", "GPUType", "TPUType",
    "BatchConfig", "InferenceRuntime", "InferenceTransform", "InferenceContext", "InferenceResult",
    "embedding_inference", "image_inference", "llm_inference", "classification_inference",
    "inference_transform",
]
