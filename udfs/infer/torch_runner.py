"""PyTorch models on torch: Hugging Face embedding models and TorchScript files.

``device="cuda"`` runs on the first CUDA device. Precision: FP32, FP16 and BF16 cast the
weights (activations follow); INT8 is dynamic quantization of the linear layers, which torch
runs on the CPU only; INT4 is refused. Outputs come back as float32 NumPy arrays.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from udfs.infer.errors import InferenceFailed, UnsupportedModel
from udfs.infer.hf import embedding_module, hidden_size
from udfs.infer.tensors import TensorSpec
from udfs.infer.tokenize import TEXT_INPUTS

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _torch():
    try:
        import torch
    except ImportError:
        raise UnsupportedModel("PyTorch and Hugging Face models need torch: pip install torch") from None
    return torch


def cuda_available() -> bool:
    """Whether torch sees a CUDA device; torch is only imported where a driver is present."""
    if not (Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()):
        return False
    try:
        return bool(_torch().cuda.is_available())
    except UnsupportedModel:
        return False


class TorchRunner:
    """A torch module called with the model's input tensors in order."""

    def __init__(self, module, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], *,
                 device: str = "cpu", precision: str = "fp32", threads: int | None = None) -> None:
        torch = _torch()
        self.threads = threads
        self.device = device
        self.precision = precision
        self.inputs = inputs
        self.outputs = outputs
        self._device = torch.device("cuda" if device == "cuda" else "cpu")
        self.module = _with_precision(module, precision, device).to(self._device).eval()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TorchRunner(device={self.device!r}, precision={self.precision!r})"

    @classmethod
    def embedding(cls, folder: Path, *, device: str = "cpu", precision: str = "fp32",
                  threads: int | None = None) -> "TorchRunner":
        """A Hugging Face folder as a text embedding model."""
        ids = tuple(TensorSpec(n, np.dtype(np.int64), (None, None)) for n in TEXT_INPUTS)
        out = (TensorSpec("embedding", np.dtype(np.float32), (None, hidden_size(folder))),)
        return cls(embedding_module(folder), ids, out, device=device, precision=precision, threads=threads)

    @classmethod
    def torchscript(cls, path: Path, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                    *, device: str = "cpu", precision: str = "fp32",
                    threads: int | None = None) -> "TorchRunner":
        torch = _torch()
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:  # torch raises RuntimeError subclasses for non-TorchScript files
            raise UnsupportedModel(f"{path} is not a TorchScript archive ({str(error).splitlines()[0]}); "
                                   "save PyTorch models with torch.jit.save, or export them to ONNX",
                                   name=str(path)) from None
        return cls(module, inputs, outputs, device=device, precision=precision, threads=threads)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = _torch()
        floating = _float_dtype(torch, self.precision)
        tensors = []
        for spec in self.inputs:
            tensor = torch.from_numpy(np.ascontiguousarray(feeds[spec.name]))
            if tensor.is_floating_point() and floating is not None:
                tensor = tensor.to(floating)
            tensors.append(tensor.to(self._device, non_blocking=True))
        try:
            with self._lock, torch.inference_mode(), _thread_limit(torch, self.threads):
                result = self.module(*tensors)
                values = _as_tuple(result)
                arrays = [v.float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                          for v in values]
        except RuntimeError as error:
            raise InferenceFailed(f"torch failed: {str(error).splitlines()[0][:300]}") from None
        if len(arrays) != len(self.outputs):
            raise InferenceFailed(f"the model returned {len(arrays)} tensor(s); {len(self.outputs)} "
                                  "output column(s) are declared")
        return {spec.name: value for spec, value in zip(self.outputs, arrays)}

    def cancel(self) -> None:
        """torch cannot stop a running forward pass: a timed-out batch runs to its end."""


@contextmanager
def _thread_limit(torch, threads: int | None) -> Iterator[None]:
    """torch's CPU thread count is process-wide: lower it for one call, then restore it."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_tuple(result) -> tuple:
    if isinstance(result, dict):
        return tuple(result.values())
    if isinstance(result, (tuple, list)):
        return tuple(result)
    return (result,)


def _float_dtype(torch, precision: str):
    return getattr(torch, _DTYPES[precision]) if precision in _DTYPES else None


def _with_precision(module, precision: str, device: str):
    torch = _torch()
    if precision in _DTYPES:
        return module.to(_float_dtype(torch, precision))
    if precision == "int8" and device == "cpu":
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
    where = "on a GPU" if precision == "int8" else "with torch"
    raise UnsupportedModel(f"precision {precision.upper()} is not available {where}; use FP32, FP16 "
                           "or BF16" + (" (or INT8 on the CPU)" if precision == "int8" else ""),
                           name=precision)
