"""Transform building blocks, where the spec imports them from (``from raise_.transforms import
inference_transform, GPUType``)."""
from raise_.inference import (
    AcceleratorConfig, BatchConfig, GPUType, InferenceRuntime, InferenceTransform, TPUType,
    inference_transform,
)

__all__ = [
    "AcceleratorConfig", "BatchConfig", "GPUType", "InferenceRuntime", "InferenceTransform", "TPUType",
    "inference_transform",
]
