"""What a model is and where it runs: ``ModelSpec``, frameworks, precisions, accelerators.

``ModelSpec`` compiles to ``CREATE MODEL`` (:meth:`ModelSpec.to_statement`); an
``AcceleratorConfig`` is checked against this machine before a transform runs
(:meth:`AcceleratorConfig.device`), and one that cannot be honoured (a TPU, more GPUs than
present, more GPU memory than the device has) is refused with ``Unsupported``.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import Enum
from importlib import metadata
from typing import Any, Literal, Mapping

from packaging.requirements import InvalidRequirement, Requirement

from grammar.dtypes import parse_dtype
from grammar.errors import Unsupported, ValidationError
from grammar.models import CreateModel, ModelColumn, ModelRef, render_model_statement
from udfs.infer.records import BatchConfig
from udfs.infer.torch_runner import cuda_available


class ModelFramework(str, Enum):
    """Where a model comes from and which runtime runs it (value: the SQL FRAMEWORK word)."""

    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"
    ONNX = "onnx"
    HUGGINGFACE = "huggingface"
    MLFLOW = "mlflow"
    TRITON = "triton"
    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    JAX = "jax"


class ModelPrecision(str, Enum):
    """Numeric precision a model runs at (value: the SQL PRECISION word)."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"
    INT4 = "int4"


class GPUType(str, Enum):
    """GPU classes a transform may ask for; ``memory_gb`` is the class's device memory."""

    NVIDIA_T4 = "nvidia_t4"
    NVIDIA_A10G = "nvidia_a10g"
    NVIDIA_A100 = "nvidia_a100"
    NVIDIA_A100_80GB = "nvidia_a100_80gb"
    NVIDIA_H100 = "nvidia_h100"
    NVIDIA_L4 = "nvidia_l4"

    @property
    def memory_gb(self) -> int:
        return _GPU_MEMORY[self]


_GPU_MEMORY = {GPUType.NVIDIA_T4: 16, GPUType.NVIDIA_A10G: 24, GPUType.NVIDIA_A100: 40,
               GPUType.NVIDIA_A100_80GB: 80, GPUType.NVIDIA_H100: 80, GPUType.NVIDIA_L4: 24}


class TPUType(str, Enum):
    """Google TPU generations."""

    TPU_V2 = "tpu_v2"
    TPU_V3 = "tpu_v3"
    TPU_V4 = "tpu_v4"
    TPU_V5E = "tpu_v5e"
    TPU_V5P = "tpu_v5p"


STRATEGIES = ("data_parallel", "tensor_parallel", "pipeline_parallel")


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorConfig:
    """The hardware a transform asks for. Build it with ``gpu``, ``multi_gpu``, ``tpu`` or ``cpu``.

    >>> AcceleratorConfig.multi_gpu(gpu_type=GPUType.NVIDIA_A100, count=4).count
    4
    """

    kind: Literal["cpu", "gpu", "tpu"] = "cpu"
    gpu_type: GPUType | None = None
    tpu_type: TPUType | None = None
    count: int = 1
    memory_gb: float | None = None
    strategy: str | None = None
    cores: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or self.count < 1:
            raise ValidationError(f"accelerator count must be at least 1, got {self.count!r}",
                                  code="RAISE-V220", name="count")
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValidationError(f"unknown multi-GPU strategy {self.strategy!r}; expected one of "
                                  f"{', '.join(STRATEGIES)}", code="RAISE-V221", name=self.strategy)
        if self.cores is not None and (not isinstance(self.cores, int) or self.cores < 1):
            raise ValidationError(f"cores must be at least 1, got {self.cores!r}", code="RAISE-V222",
                                  name="cores")

    @classmethod
    def gpu(cls, gpu_type: GPUType = GPUType.NVIDIA_T4, *, memory_gb: float | None = None,
            count: int = 1) -> "AcceleratorConfig":
        return cls(kind="gpu", gpu_type=GPUType(gpu_type), memory_gb=memory_gb, count=count)

    @classmethod
    def multi_gpu(cls, gpu_type: GPUType = GPUType.NVIDIA_A100, count: int = 2,
                  strategy: str = "data_parallel", *, memory_gb: float | None = None) -> "AcceleratorConfig":
        return cls(kind="gpu", gpu_type=GPUType(gpu_type), count=count, strategy=strategy,
                   memory_gb=memory_gb)

    @classmethod
    def tpu(cls, tpu_type: TPUType = TPUType.TPU_V4, count: int = 1) -> "AcceleratorConfig":
        return cls(kind="tpu", tpu_type=TPUType(tpu_type), count=count)

    @classmethod
    def cpu(cls, cores: int | None = None) -> "AcceleratorConfig":
        return cls(kind="cpu", cores=cores)

    def device(self) -> str:
        """``"cpu"`` or ``"gpu"`` for the model loader, after checking this machine can run it."""
        if self.kind == "tpu":
            raise Unsupported(f"{self.count} x {self.tpu_type.name} requested: Raise runs models on "
                              "CUDA GPUs and CPUs, and this machine has no TPU; use "
                              "AcceleratorConfig.gpu(...) or AcceleratorConfig.cpu()", code="RAISE-X220",
                              name=self.tpu_type.name)
        if self.kind == "cpu":
            available = os.cpu_count() or 1
            if self.cores is not None and self.cores > available:
                raise Unsupported(f"{self.cores} CPU cores requested, this machine has {available}",
                                  code="RAISE-X221", name="cores")
            return "cpu"
        return self._check_gpu()

    def _check_gpu(self) -> str:
        wanted = f"{self.count} x {self.gpu_type.name}" if self.count > 1 else self.gpu_type.name
        devices = gpu_devices()
        if not devices:
            raise Unsupported(f"{wanted} requested but this machine has no CUDA GPU (torch sees none); "
                              "use AcceleratorConfig.cpu() to run on the CPU", code="RAISE-X222",
                              name=self.gpu_type.name)
        if self.count > 1:
            raise Unsupported(f"{wanted} ({self.strategy or 'data_parallel'}) requested: a transform runs "
                              f"on one GPU here (this machine has {len(devices)}); use "
                              "AcceleratorConfig.gpu(...)", code="RAISE-X223", name=self.gpu_type.name)
        memory = self.memory_gb or self.gpu_type.memory_gb
        name, total_gb = devices[0]
        if memory > total_gb * 1.05:
            raise Unsupported(f"{wanted} with {memory:g} GB requested; the GPU here ({name}) has "
                              f"{total_gb:.0f} GB", code="RAISE-X224", name=self.gpu_type.name)
        return "gpu"


def gpu_devices() -> list[tuple[str, float]]:
    """(name, memory in GB) of each CUDA device torch sees; empty without torch or a GPU."""
    if not cuda_available():
        return []
    import torch

    return [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory / 1e9)
            for i in range(torch.cuda.device_count())]


def _framework_for(uri: str) -> ModelFramework:
    lowered = uri.lower()
    if lowered.startswith("hf://"):
        return ModelFramework.HUGGINGFACE
    if lowered.startswith("mlflow://"):
        return ModelFramework.MLFLOW
    if lowered.startswith("triton://"):
        return ModelFramework.TRITON
    if lowered.endswith(".onnx"):
        return ModelFramework.ONNX
    if lowered.endswith((".pt", ".pth", ".pts")):
        return ModelFramework.PYTORCH
    raise ValidationError(f"cannot tell the framework of {uri!r}; pass framework=ModelFramework...",
                          code="RAISE-V223", name=uri)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model: its URI, framework, version, input/output columns and precision.

    ``input_schema``/``output_schema`` map column names to Raise dtypes (``{"text": "string"}``,
    ``{"embedding": "float32[384]"}``); left out, they are read from the model. The framework
    defaults to what the URI says (``hf://`` Hugging Face, ``.onnx`` ONNX, ``.pt`` PyTorch).

    >>> ModelSpec(uri="hf://sentence-transformers/all-MiniLM-L6-v2").to_sql("minilm")
    'CREATE OR REPLACE MODEL "minilm" FROM \\'hf://sentence-transformers/all-MiniLM-L6-v2\\' FRAMEWORK huggingface'
    """

    uri: str
    framework: ModelFramework | None = None
    version: str | None = None
    input_schema: Mapping[str, str] | None = None
    output_schema: Mapping[str, str] | None = None
    precision: ModelPrecision = ModelPrecision.FP32
    task: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        framework = _framework_for(self.uri) if self.framework is None else ModelFramework(self.framework)
        object.__setattr__(self, "framework", framework)
        object.__setattr__(self, "precision", ModelPrecision(self.precision))

    def to_statement(self, name: str, *, batch: BatchConfig | None = None, replace: bool = True,
                     project: tuple[str, ...] | None = None) -> CreateModel:
        """The CREATE MODEL statement registering this model as ``name``."""
        return CreateModel(
            model=ModelRef(name=name, project=project), uri=self.uri, framework=self.framework.value,
            version=self.version, task=self.task, inputs=_columns(self.input_schema),
            outputs=_columns(self.output_schema),
            precision=None if self.precision is ModelPrecision.FP32 else self.precision.value,
            batch=(batch.options() or None) if batch is not None else None,
            description=self.description, conflict="update" if replace else "error",
        )

    def to_sql(self, name: str, **options: Any) -> str:
        return render_model_statement(self.to_statement(name, **options))


def _columns(schema: Mapping[str, str] | None) -> tuple[ModelColumn, ...] | None:
    if schema is None:
        return None
    return tuple(ModelColumn(name=name, dtype=str(parse_dtype(dtype))) for name, dtype in schema.items())


@dataclass(frozen=True, kw_only=True)
class InferenceRuntime:
    """The environment a transform expects. A transform run in-process checks it against this
    interpreter and reports every difference as a warning in its ``InferenceResult``; it sets
    ``env_vars`` for the run and runs ``warmup_batches`` untimed batches first."""

    image: str | None = None
    python_version: str | None = None
    packages: tuple[str, ...] = ()
    env_vars: Mapping[str, str] = field(default_factory=dict)
    warmup_batches: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", tuple(self.packages))
        if not isinstance(self.warmup_batches, int) or self.warmup_batches < 0:
            raise ValidationError(f"warmup_batches must be 0 or more, got {self.warmup_batches!r}",
                                  code="RAISE-V224", name="warmup_batches")

    def differences(self) -> list[str]:
        """How this process differs from the runtime asked for."""
        notes = []
        if self.image:
            notes.append(f"image {self.image!r} not used: the transform ran in this process")
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        if self.python_version and self.python_version != running:
            notes.append(f"python {self.python_version} requested, ran on {running}")
        notes.extend(_package_difference(requirement) for requirement in self.packages)
        return [n for n in notes if n]


def _package_difference(requirement: str) -> str | None:
    try:
        wanted = Requirement(requirement)
    except InvalidRequirement:
        return f"package requirement {requirement!r} is not valid"
    try:
        installed = metadata.version(wanted.name)
    except metadata.PackageNotFoundError:
        return f"package {wanted.name} is not installed"
    if wanted.specifier and installed not in wanted.specifier:
        return f"package {wanted.name} {installed} does not satisfy {requirement!r}"
    return None
