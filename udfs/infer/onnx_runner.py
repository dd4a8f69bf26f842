"""ONNX models on onnxruntime.

``device="cuda"`` asks for the CUDA execution provider and checks that the session really got
it (a CPU-only build, or onnxruntime-gpu without a usable device, silently falls back to the
CPU otherwise). Precision: FP32 runs the model as stored; INT8 runs a dynamically quantized
copy (weights int8, made once and cached); FP16 runs a converted copy on CUDA only (the CPU
provider has few float16 kernels); BF16 and INT4 are refused.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from udfs.infer.errors import InferenceFailed, UnsupportedModel
from udfs.infer.resolve import cache_dir, fingerprint
from udfs.infer.tensors import TensorSpec

_ONNX_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise UnsupportedModel("ONNX models need onnxruntime: pip install onnxruntime "
                               "(or onnxruntime-gpu for CUDA)") from None
    return onnxruntime


def cuda_provider_available() -> bool:
    """Whether the installed onnxruntime offers the CUDA execution provider at all."""
    try:
        return "CUDAExecutionProvider" in _ort().get_available_providers()
    except UnsupportedModel:
        return False


class OnnxRunner:
    """One onnxruntime session over an ``.onnx`` file."""

    def __init__(self, path: Path, *, device: str = "cpu", precision: str = "fp32",
                 threads: int | None = None) -> None:
        ort = _ort()
        self.source = path
        self.device = device
        self.precision = precision
        self.path = _variant(path, precision, device)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise UnsupportedModel(f"onnxruntime cannot load {path}: {error}", name=str(path)) from None
        if device == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise UnsupportedModel(
                "onnxruntime did not start the CUDA execution provider (a CPU-only build, or no "
                "usable device): install onnxruntime-gpu[cuda,cudnn] in place of onnxruntime",
                name="CUDAExecutionProvider")
        self.inputs = tuple(_spec(i) for i in self.session.get_inputs())
        self.outputs = tuple(_spec(o) for o in self.session.get_outputs())
        self._runs: set = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnnxRunner({str(self.source)!r}, device={self.device!r}, precision={self.precision!r})"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ort = _ort()
        options = ort.RunOptions()
        wanted = {spec.name: feeds[spec.name].astype(spec.dtype, copy=False) for spec in self.inputs}
        with self._lock:
            self._runs.add(options)
        try:
            values = self.session.run(None, wanted, options)
        except Exception as error:  # a failed or terminated run
            raise InferenceFailed(f"onnxruntime failed: {str(error).splitlines()[0][:300]}") from None
        finally:
            with self._lock:
                self._runs.discard(options)
        return {spec.name: value for spec, value in zip(self.outputs, values)}

    def cancel(self) -> None:
        """Ask every run in progress to stop (used when a batch runs past its timeout)."""
        with self._lock:
            for options in self._runs:
                options.terminate = True


def _spec(node) -> TensorSpec:
    dtype = _ONNX_TYPES.get(node.type)
    if dtype is None:
        raise UnsupportedModel(f"tensor {node.name!r} has type {node.type}, which Raise cannot "
                               "map to a column", name=node.name)
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (node.shape or [None]))
    return TensorSpec(node.name, np.dtype(dtype), shape)


def _variant(path: Path, precision: str, device: str) -> Path:
    """The file to load for ``precision``: the model itself or a cached converted copy."""
    if precision == "fp32":
        return path
    if precision == "int8":
        return _cached(path, "int8", _quantize_int8)
    if precision == "fp16" and device == "cuda":
        return _cached(path, "fp16", _to_float16)
    where = "on the CPU" if precision == "fp16" else "with onnxruntime"
    raise UnsupportedModel(f"precision {precision.upper()} is not available for ONNX models {where}; "
                           "use FP32 or INT8" + (", or run on a GPU" if precision == "fp16" else ""),
                           name=precision)


def _cached(path: Path, tag: str, convert) -> Path:
    target = cache_dir() / "onnx" / f"{path.stem}-{fingerprint(path)}-{tag}.onnx"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        convert(path, partial)
        partial.replace(target)
    return target


def _quantize_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def _to_float16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))
