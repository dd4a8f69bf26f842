"""Shortcuts for common transforms, and the ``@inference_transform`` decorator.

Each shortcut returns an :class:`InferenceTransform`. ``gpu_type`` asks for a GPU (refused at
run time on a machine without one); left out, the transform runs on the CPU. A one-input,
one-output model needs no knowledge of its column names: ``input_column`` is the source
column and ``output_column`` the target feature.

>>> t = embedding_inference(model_uri="hf://sentence-transformers/all-MiniLM-L6-v2",
...                         input_column="text", output_column="embedding")
>>> (t.name, t.batch_config.batch_size, t.accelerator.kind)
('embed_text', 128, 'cpu')
"""
from __future__ import annotations

from typing import Any, Callable

from raise_.inference.spec import (
    AcceleratorConfig,
    GPUType,
    InferenceRuntime,
    ModelFramework,
    ModelPrecision,
    ModelSpec,
)
from raise_.inference.transform import InferenceTransform
from udfs.infer.records import BatchConfig


def _accelerator(gpu_type: GPUType | None, count: int = 1, strategy: str | None = None) -> AcceleratorConfig:
    if gpu_type is None:
        return AcceleratorConfig.cpu()
    if count > 1:
        return AcceleratorConfig.multi_gpu(gpu_type=gpu_type, count=count, strategy=strategy or "data_parallel")
    return AcceleratorConfig.gpu(gpu_type)


def _transform(name: str, model: ModelSpec, input_column: str, output_column: str, batch_size: int,
               accelerator: AcceleratorConfig, **options: Any) -> InferenceTransform:
    return InferenceTransform(
        name=name, model=model, accelerator=accelerator, batch_config=BatchConfig(batch_size=batch_size),
        input_mapping={"input": input_column}, output_mapping={"output": output_column}, options=options,
    )


def embedding_inference(model_uri: str, input_column: str, output_column: str, *, batch_size: int = 128,
                        gpu_type: GPUType | None = None, framework: ModelFramework | None = None,
                        precision: ModelPrecision = ModelPrecision.FP32, name: str | None = None) -> InferenceTransform:
    """Text -> embedding vector (e.g. a sentence-transformers model)."""
    model = ModelSpec(uri=model_uri, framework=framework, precision=precision, task="embedding")
    return _transform(name or f"embed_{input_column}", model, input_column, output_column, batch_size,
                      _accelerator(gpu_type))


def image_inference(model_uri: str, image_column: str, output_column: str, *, batch_size: int = 64,
                    gpu_type: GPUType | None = None, framework: ModelFramework | None = None,
                    precision: ModelPrecision = ModelPrecision.FP32, name: str | None = None) -> InferenceTransform:
    """Image -> embedding. Runs ONNX models over image tensors; Hugging Face image models are
    refused here (no image preprocessing runner)."""
    model = ModelSpec(uri=model_uri, framework=framework, precision=precision, task="image-embedding")
    return _transform(name or f"embed_{image_column}", model, image_column, output_column, batch_size,
                      _accelerator(gpu_type))


def llm_inference(model_uri: str, prompt_column: str, output_column: str, *, max_tokens: int = 256,
                  temperature: float = 0.7, batch_size: int = 8, gpu_type: GPUType | None = None,
                  gpu_count: int = 1, multi_gpu_strategy: str = "tensor_parallel",
                  precision: ModelPrecision = ModelPrecision.FP16, framework: ModelFramework | None = None,
                  name: str | None = None) -> InferenceTransform:
    """Prompt -> completion. Registered like any model; text generation is refused at run time
    by this installation's runners, as are more GPUs than the machine has."""
    model = ModelSpec(uri=model_uri, framework=framework, precision=precision, task="text-generation")
    return _transform(name or f"complete_{prompt_column}", model, prompt_column, output_column, batch_size,
                      _accelerator(gpu_type, gpu_count, multi_gpu_strategy),
                      max_tokens=max_tokens, temperature=temperature)


def classification_inference(model_uri: str, input_column: str, output_column: str, *, batch_size: int = 256,
                             gpu_type: GPUType | None = None, framework: ModelFramework | None = None,
                             precision: ModelPrecision = ModelPrecision.FP32,
                             name: str | None = None) -> InferenceTransform:
    """Features (e.g. an embedding) -> class, with an ONNX classifier."""
    model = ModelSpec(uri=model_uri, framework=framework, precision=precision, task="classification")
    return _transform(name or f"classify_{input_column}", model, input_column, output_column, batch_size,
                      _accelerator(gpu_type))


def inference_transform(name: str | None = None, *, gpu_type: GPUType | None = None,
                        accelerator: AcceleratorConfig | None = None, batch_size: int = 256,
                        batch_config: BatchConfig | None = None, output_mapping: dict[str, str] | None = None,
                        runtime: InferenceRuntime | None = None) -> Callable[[Callable], InferenceTransform]:
    """Turn ``fn(context, batch) -> {output: values}`` into a transform.

    ``batch`` maps each source column to a NumPy array (vectors as 2-D arrays); the function
    returns one array-like per output, as long as the batch. Failures are retried per the
    batch config and counted in the result.

    >>> @inference_transform(name="double")
    ... def double(context, batch):
    ...     return {"twice": batch["x"] * 2}
    >>> double.name, double.accelerator.kind
    ('double', 'cpu')
    """
    def wrap(function: Callable) -> InferenceTransform:
        return InferenceTransform(
            name=name or function.__name__, function=function,
            accelerator=accelerator or _accelerator(gpu_type),
            batch_config=batch_config or BatchConfig(batch_size=batch_size),
            output_mapping=output_mapping or {}, runtime=runtime,
        )
    return wrap
