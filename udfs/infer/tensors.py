"""Tensors as runners see them, and their conversion to and from Arrow columns.

A runner describes each input and output as a ``TensorSpec`` (name, NumPy dtype, shape with
``None`` for a dynamic dimension, the first being the batch). SQL sees a model column as a
Raise dtype: ``float32[384]`` for a ``(batch, 384)`` float tensor, ``float32`` for ``(batch,)``,
``float32[]`` for a ``(batch, dynamic)`` one, ``string`` for text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa

from grammar.dtypes import DType, parse_dtype
from udfs.blobs import BLOB_REF
from udfs.infer.errors import BadInferCall, OutputMismatch, UnsupportedModel

_PRIMITIVE_ARROW = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "float16": pa.float16(), "float32": pa.float32(), "float64": pa.float64(),
    "bool": pa.bool_(), "string": pa.string(), "bytes": pa.binary(),
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One model input or output tensor."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]


class Runner(Protocol):
    """What every model runner offers."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    device: str
    precision: str

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def cancel(self) -> None: ...


def dtype_of_tensor(spec: TensorSpec) -> str:
    """The Raise dtype a SQL column holding one row of ``spec`` has."""
    element = np.dtype(spec.dtype)
    name = "string" if element.kind in "OUS" else ("bool" if element == np.bool_ else element.name)
    rest = spec.shape[1:]
    if not rest:
        return name
    if len(rest) == 1 and name not in ("string", "bool"):
        return f"{name}[{rest[0]}]" if rest[0] else f"{name}[]"
    raise UnsupportedModel(f"tensor {spec.name!r} has shape {spec.shape}: declare INPUT/OUTPUT "
                           "columns for tensors of more than two dimensions", name=spec.name)


def arrow_type(dtype: str | DType, *, argument: bool = False) -> pa.DataType:
    """The Arrow type of a Raise dtype; ``argument``: as a UDF argument (lists not fixed)."""
    parsed = parse_dtype(dtype) if isinstance(dtype, str) else dtype
    if parsed.kind == "primitive" and parsed.element in _PRIMITIVE_ARROW:
        return _PRIMITIVE_ARROW[parsed.element]
    if parsed.kind == "string":
        return pa.string()
    if parsed.kind == "blob_ref" and argument:  # image references, decoded by ``udfs.infer.images``
        return BLOB_REF
    if parsed.kind in ("embedding", "array") and parsed.element in _PRIMITIVE_ARROW:
        element = _PRIMITIVE_ARROW[parsed.element]
        # A Python UDF's signature is exact: DataFusion coerces fixed-size lists to lists.
        if parsed.kind == "embedding" and not argument:
            return pa.list_(element, parsed.size)
        return pa.list_(element)
    raise UnsupportedModel(f"model columns of type {parsed} are not supported; use numbers, "
                           "strings, vectors of numbers, or (as input) image references", name=str(parsed))


def to_numpy(column: pa.Array, dtype: np.dtype, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    """A non-null Arrow column as a batch tensor of ``dtype`` fitting ``shape``."""
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) \
            or pa.types.is_fixed_size_list(column.type):
        lengths = np.asarray(column.value_lengths().to_numpy(zero_copy_only=False))
        width = int(lengths[0]) if len(lengths) else (shape[1] if len(shape) > 1 else 0) or 0
        if len(lengths) and (lengths != width).any():
            raise BadInferCall(f"input {name!r} needs vectors of one length; got lengths "
                               f"{int(lengths.min())} to {int(lengths.max())}", name=name)
        values = column.flatten().to_numpy(zero_copy_only=False)
        array = values.astype(dtype, copy=False).reshape(len(column), width)
    else:
        array = column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
        if len(shape) == 2:
            array = array.reshape(-1, 1)
    if len(shape) >= 2 and shape[1] is not None and array.shape[1:] != tuple(shape[1:]):
        raise BadInferCall(f"input {name!r} needs rows of shape {tuple(shape[1:])}, got "
                           f"{array.shape[1:]}", name=name)
    return array


def from_numpy(values: np.ndarray, dtype: str, valid: np.ndarray, name: str) -> pa.Array:
    """Arrow column of Raise ``dtype`` with ``values`` at the ``valid`` rows and NULL elsewhere."""
    parsed = parse_dtype(dtype)
    target = arrow_type(parsed)
    rows = len(valid)
    if parsed.kind in ("embedding", "array"):
        width = values.shape[1] if values.ndim == 2 else 1
        if parsed.kind == "embedding" and width != parsed.size:
            raise OutputMismatch(f"output {name!r} has {width} values per row but is declared "
                                 f"{parsed}", name=name)
        full = np.zeros((rows, width), dtype=values.dtype)
        full[valid] = values.reshape(-1, width)
        flat = pa.array(full.reshape(-1)).cast(target.value_type)
        mask = pa.array(~valid)
        if parsed.kind == "embedding":
            return pa.FixedSizeListArray.from_arrays(flat, width, mask=mask)
        offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
        return pa.ListArray.from_arrays(offsets, flat, mask=mask)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise OutputMismatch(f"output {name!r} has shape {values.shape[1:]} per row but is "
                             f"declared {parsed}", name=name)
    full = np.zeros(rows, dtype=values.dtype) if values.dtype.kind not in "OUS" \
        else np.full(rows, None, dtype=object)
    full[valid] = values
    return pa.array(full, mask=~valid).cast(target)
