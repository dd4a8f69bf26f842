"""From a ``ModelRecord`` to a loaded, runnable model (cached per process).

Which runner runs a model:

* ``onnx``: onnxruntime, on CUDA where the installed onnxruntime has a working CUDA provider
  (and ``RAISE_DEVICE`` is not ``cpu``), else on the CPU.
* ``huggingface`` (and ``pytorch`` pointing at a Hugging Face folder), text embedding: torch on
  CUDA where torch sees a device; on the CPU, FP32/INT8 run as an ONNX export on onnxruntime
  (faster than torch there) and FP16/BF16 on torch.
* ``pytorch`` file: a TorchScript archive on torch; its INPUT and OUTPUT must be declared.
* Other frameworks are registered but not run here: :class:`UnsupportedModel`.

Undeclared inputs take their dtype from the model's tensors; a 4-D float image tensor
(``(batch, C, H, W)`` or ``(batch, H, W, C)``, fixed size) takes image references (``blob_ref``).

``RAISE_DEVICE`` (``cpu``, ``gpu``, ``auto``; see :mod:`udfs.device`) or an explicit
``device`` argument picks the device; ``gpu`` without a usable device is refused.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from grammar.dtypes import parse_dtype
from udfs import device as devices
from udfs.infer.errors import BadInferCall, UnsupportedModel
from udfs.infer.hf import export_onnx, is_model_folder
from udfs.infer.images import image_input_dtype
from udfs.infer.onnx_runner import OnnxRunner, cuda_provider_available
from udfs.infer.records import Column, ModelRecord
from udfs.infer.resolve import resolve
from udfs.infer.tensors import Runner, TensorSpec, arrow_type, dtype_of_tensor
from udfs.infer.tokenize import TEXT_INPUTS, TextTokenizer
from udfs.infer.torch_runner import TorchRunner, cuda_available

RUNNABLE = ("onnx", "huggingface", "pytorch")
EMBEDDING_TASKS = (None, "embedding", "feature-extraction", "sentence-embedding", "text-embedding")
_CACHE_SIZE = 8
_cache: OrderedDict[tuple, "LoadedModel"] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model ready to run: its runner, its tokenizer for text, and its SQL columns."""

    record: ModelRecord
    runner: Runner
    tokenizer: TextTokenizer | None
    inputs: tuple[Column, ...]
    outputs: tuple[Column, ...]

    @property
    def device(self) -> str:
        return self.runner.device

    def argument_types(self) -> list[pa.DataType]:
        """Arrow types of INFER's column arguments (after the model name)."""
        return [arrow_type(c.dtype, argument=True) for c in self.inputs]

    def return_type(self) -> pa.DataType:
        """One output: its type; several: a struct with one field per output."""
        if len(self.outputs) == 1:
            return arrow_type(self.outputs[0].dtype)
        return pa.struct([pa.field(c.name, arrow_type(c.dtype)) for c in self.outputs])


def load_model(record: ModelRecord, *, device: str | None = None, threads: int | None = None) -> LoadedModel:
    """The loaded model for ``record`` on ``device`` (``cpu``/``gpu``/``auto``; default
    ``RAISE_DEVICE``), using at most ``threads`` CPU threads (default: all cores). Loading is
    cached: the same model content, precision, device and threads load once."""
    mode = device or devices.device_mode()
    if mode not in devices.MODES:
        raise BadInferCall(f"device {mode!r} is not one of {', '.join(devices.MODES)}", name=mode)
    if record.framework not in RUNNABLE:
        raise UnsupportedModel(f"model {record.name!r}: no runner for {record.framework} models in "
                               f"this installation (runners: {', '.join(RUNNABLE)}); export it to ONNX",
                               name=record.name)
    # The location found at registration, while it still exists (another machine resolves anew).
    local = record.location if record.location and Path(record.location).exists() else None
    resolved = resolve(local or record.uri, version=record.version)
    key = (str(resolved.path), resolved.fingerprint, record.framework, record.task, record.precision,
           record.inputs, record.outputs, mode, threads)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    loaded = _load(record, resolved.path, mode, threads)
    with _cache_lock:
        _cache[key] = loaded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def clear_cache() -> None:
    """Forget every loaded model (frees their memory once no query holds them)."""
    with _cache_lock:
        _cache.clear()


def _load(record: ModelRecord, path: Path, mode: str, threads: int | None) -> LoadedModel:
    if record.framework == "onnx":
        runner = _onnx(_onnx_file(path), record.precision, mode, threads)
        tokenizer = TextTokenizer.for_model(runner.source.parent) if _takes_text(runner) else None
    elif is_model_folder(path):
        if record.task not in EMBEDDING_TASKS:
            raise UnsupportedModel(f"model {record.name!r}: task {record.task!r} is not supported for "
                                   "Hugging Face models here (supported: embedding)", name=record.task)
        runner = _hf_embedding(path, record.precision, mode, threads)
        tokenizer = TextTokenizer.for_model(path)
    else:
        runner = TorchRunner.torchscript(path, _declared(record.inputs, "INPUT", record),
                                         _declared(record.outputs, "OUTPUT", record),
                                         device=_torch_device(mode), precision=record.precision,
                                         threads=threads)
        tokenizer = None
    if _takes_text(runner) and tokenizer is None:
        raise UnsupportedModel(f"model {record.name!r} takes token ids but has no tokenizer.json "
                               "next to it", name=record.name)
    inputs = _inputs(record, runner, tokenizer)
    return LoadedModel(record, runner, tokenizer, inputs, _outputs(record, runner))


def _onnx_file(path: Path) -> Path:
    if path.is_file():
        return path
    for candidate in (path / "model.onnx", path / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(path.rglob("*.onnx"))
    if len(found) != 1:
        raise UnsupportedModel(f"expected one .onnx file under {path}, found {len(found)}", name=str(path))
    return found[0]


def _onnx(path: Path, precision: str, mode: str, threads: int | None) -> OnnxRunner:
    if mode == "cpu" or (mode == "auto" and not cuda_provider_available()):
        return OnnxRunner(path, device="cpu", precision=precision, threads=threads)
    try:
        return OnnxRunner(path, device="cuda", precision=precision, threads=threads)
    except UnsupportedModel:
        if mode == "gpu":
            raise
        return OnnxRunner(path, device="cpu", precision=precision, threads=threads)


def _torch_device(mode: str) -> str:
    if mode == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if mode == "gpu":
        raise UnsupportedModel("RAISE_DEVICE=gpu but torch sees no CUDA device", name="gpu")
    return "cpu"


def _hf_embedding(folder: Path, precision: str, mode: str, threads: int | None) -> Runner:
    device = _torch_device(mode)
    if device == "cpu" and precision in ("fp32", "int8"):
        return OnnxRunner(export_onnx(folder), device="cpu", precision=precision, threads=threads)
    return TorchRunner.embedding(folder, device=device, precision=precision, threads=threads)


def _is_text(dtype: str) -> bool:
    parsed = parse_dtype(dtype)
    return parsed.kind == "string" or (parsed.kind == "primitive" and parsed.element == "string")


def _takes_text(runner: Runner) -> bool:
    return any(spec.name == "input_ids" for spec in runner.inputs)


def _declared(columns: tuple[Column, ...], clause: str, record: ModelRecord) -> tuple[TensorSpec, ...]:
    if not columns:
        raise UnsupportedModel(f"model {record.name!r}: a TorchScript model needs its {clause} "
                               "columns declared in CREATE MODEL", name=record.name)
    return tuple(_tensor_of(c) for c in columns)


def _tensor_of(column: Column) -> TensorSpec:
    dtype = parse_dtype(column.dtype)
    if dtype.kind == "primitive" and dtype.is_numeric:
        return TensorSpec(column.name, np.dtype(dtype.element), (None,))
    if dtype.kind in ("embedding", "array") and dtype.is_vector:
        return TensorSpec(column.name, np.dtype(dtype.element), (None, dtype.size))
    raise UnsupportedModel(f"column {column.name!r} of type {dtype} cannot be a tensor", name=column.name)


def _inputs(record: ModelRecord, runner: Runner, tokenizer: TextTokenizer | None) -> tuple[Column, ...]:
    if tokenizer is not None:
        if record.inputs and (len(record.inputs) != 1 or not _is_text(record.inputs[0].dtype)):
            raise BadInferCall(f"model {record.name!r} takes one text column; INPUT declares "
                               f"{', '.join(f'{c.name} {c.dtype}' for c in record.inputs)}", name=record.name)
        unknown = [s.name for s in runner.inputs if s.name not in TEXT_INPUTS]
        if unknown:
            raise UnsupportedModel(f"model {record.name!r} takes {', '.join(unknown)} besides token ids",
                                   name=record.name)
        return record.inputs or (Column(name="text", dtype="string"),)
    if record.inputs:
        if len(record.inputs) != len(runner.inputs):
            raise BadInferCall(f"model {record.name!r} has {len(runner.inputs)} input(s); INPUT "
                               f"declares {len(record.inputs)}", name=record.name)
        return record.inputs
    return tuple(Column(name=s.name, dtype=image_input_dtype(s) or dtype_of_tensor(s)) for s in runner.inputs)


def _outputs(record: ModelRecord, runner: Runner) -> tuple[Column, ...]:
    if record.outputs:
        if len(record.outputs) != len(runner.outputs):
            raise BadInferCall(f"model {record.name!r} has {len(runner.outputs)} output(s); OUTPUT "
                               f"declares {len(record.outputs)}", name=record.name)
        return record.outputs
    return tuple(Column(name=s.name, dtype=dtype_of_tensor(s)) for s in runner.outputs)
