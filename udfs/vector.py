"""Vector functions: ``DOT``, ``COSINE_SIMILARITY``, ``L2_DISTANCE``, ``NORM``.

Three layers, each usable on its own:

* NumPy references (``dot_np`` …): float64 arithmetic over ``(n, d)`` or ``(d,)`` arrays;
  the definition every kernel is tested against.
* Arrow functions (``dot`` …): take Arrow list arrays (fixed-size or variable, float16/32/64,
  sliced, with NULLs) and a second array or a constant vector, and return a float64 array.
  They run the Numba kernel or, per :mod:`udfs.device`, the CuPy kernel.
* SQL functions: :func:`register` puts them into a DataFusion ``SessionContext``. A Python
  UDF has one exact signature, so the SQL forms take ``List<Float32>`` (see
  :data:`SQL_VECTOR`): any fixed-size or variable list coerces to it, float32 embeddings
  without a copy, float16 and float64 ones converted to float32 by DataFusion first. The
  Arrow functions keep every element type as it is.

Semantics (all layers): a NULL vector, or a vector with a NULL element, gives NULL; vectors
of different lengths raise :class:`~udfs.errors.DimensionMismatch` naming both sizes;
the cosine similarity with a zero vector is undefined and gives NULL (the NumPy reference
gives NaN there); NaN/inf elements propagate as IEEE arithmetic says. Results are float64.

Tolerance against the reference (the Hypothesis tests check it): kernels sum in float64
over the exact element values, reassociated for SIMD, so each result is within 1e-9 of the
reference relative to the magnitude summed (sum of |a_i * b_i| for DOT, the norms for NORM
and L2_DISTANCE, 1 for the cosine).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from grammar.errors import ValidationError
from udfs import device, ops
from udfs.arrow_rows import (
    Rows,
    as_vector,
    check_dims,
    constant_rows,
    rows_from_arrow,
    to_float64_array,
    unify,
)

if TYPE_CHECKING:
    from datafusion import ScalarUDF, SessionContext

ArrayLike = pa.Array | pa.ChunkedArray


def dot_np(a, b) -> np.ndarray:
    """Row-wise dot product in float64; ``a``/``b`` are ``(n, d)`` or ``(d,)`` arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.einsum("...i,...i->...", a, b)


def norm_np(a) -> np.ndarray:
    """Row-wise Euclidean norm in float64."""
    a = np.asarray(a, dtype=np.float64)
    return np.sqrt(np.einsum("...i,...i->...", a, a))


def l2_distance_np(a, b) -> np.ndarray:
    """Row-wise Euclidean distance in float64."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.sqrt(np.einsum("...i,...i->...", diff, diff))


def cosine_similarity_np(a, b) -> np.ndarray:
    """Row-wise cosine similarity in float64; NaN where either vector has norm zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = norm_np(a) * norm_np(b)
        return np.where(denominator == 0.0, np.nan, dot_np(a, b) / denominator)


@dataclass(frozen=True, slots=True)
class VectorFunction:
    """One vector function: its SQL name, kernel operation, arity and NumPy reference."""

    name: str
    op: int
    arity: int
    reference: Callable[..., np.ndarray]


FUNCTIONS = (
    VectorFunction("dot", ops.DOT, 2, dot_np),
    VectorFunction("cosine_similarity", ops.COSINE, 2, cosine_similarity_np),
    VectorFunction("l2_distance", ops.L2, 2, l2_distance_np),
    VectorFunction("norm", ops.NORM, 1, norm_np),
)
BY_NAME = {f.name: f for f in FUNCTIONS}


def dot(a: ArrayLike, b) -> ArrayLike:
    """Row-wise dot product of list array ``a`` with list array ``b`` or a constant vector.

    >>> dot(pa.array([[1.0, 2.0], None]), [3.0, 4.0]).to_pylist()
    [11.0, None]
    """
    return evaluate(BY_NAME["dot"], a, b)


def cosine_similarity(a: ArrayLike, b) -> ArrayLike:
    """Row-wise cosine similarity; NULL where either vector is NULL or all zeros."""
    return evaluate(BY_NAME["cosine_similarity"], a, b)


def l2_distance(a: ArrayLike, b) -> ArrayLike:
    """Row-wise Euclidean distance of ``a`` to ``b`` (array or constant vector)."""
    return evaluate(BY_NAME["l2_distance"], a, b)


def norm(a: ArrayLike) -> ArrayLike:
    """Row-wise Euclidean norm."""
    return evaluate(BY_NAME["norm"], a)


def evaluate(function: VectorFunction, a: ArrayLike, b=None) -> ArrayLike:
    """Apply ``function`` to Arrow data; chunked inputs give a chunked result."""
    column = isinstance(b, (pa.Array, pa.ChunkedArray))
    if function.arity == 2 and not column:
        b = as_vector(b, function=function.name)
    if not isinstance(a, pa.ChunkedArray) and not isinstance(b, pa.ChunkedArray):
        return _evaluate_chunk(function, a, b)
    if column:
        pieces = [_evaluate_chunk(function, x, y) for x, y in _aligned(a, b)]
    else:
        chunks = a.chunks if isinstance(a, pa.ChunkedArray) else [a]
        pieces = [_evaluate_chunk(function, x, b) for x in chunks]
    return pa.chunked_array(pieces, type=pa.float64())


def _evaluate_chunk(function: VectorFunction, a: pa.Array, b) -> pa.Array:
    left = rows_from_arrow(a, function=function.name)
    if function.arity == 1:
        return evaluate_rows(function, left, left)
    right = (rows_from_arrow(b, function=function.name) if isinstance(b, pa.Array)
             else constant_rows(b, len(left)))
    return evaluate_rows(function, left, right)


def evaluate_rows(function: VectorFunction, left: Rows, right: Rows) -> pa.Array:
    """Apply ``function`` to already-viewed rows (``right`` is ignored by unary functions)."""
    if function.arity == 1:
        right, valid = left, left.valid
    else:
        valid = check_dims(left, right, function.name)
    left_values, right_values = unify(left.values, right.values)
    values, ok = _run(function.op, left, left_values, right, right_values, valid)
    return to_float64_array(values, ok)


def _run(op: int, left: Rows, left_values: np.ndarray, right: Rows, right_values: np.ndarray,
         valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nbytes = left_values.nbytes + (right_values.nbytes if right is not left else 0)
    if device.use_gpu(nbytes, resident=_is_resident(left, left_values)):
        from udfs import kernels_gpu

        return kernels_gpu.run(op, left, left_values, right, right_values, valid)
    from udfs import kernels_cpu  # Numba loads at the first vector call, not at import

    return kernels_cpu.run(op, left_values, left.starts, left.stops, right_values,
                           right.starts, valid)


def _is_resident(rows: Rows, values: np.ndarray) -> bool:
    """Whether the span of ``values`` that ``rows`` read is already in device memory."""
    if len(rows) == 0 or not device.gpu_available():
        return False
    from udfs import resident

    span = values[int(rows.starts.min()):int(rows.stops.max())]
    return resident.cache().lookup(span) is not None


def _aligned(a: ArrayLike, b: ArrayLike):
    """Yield matching ``(a_piece, b_piece)`` Arrow arrays cut at every chunk edge of both."""
    if len(a) != len(b):
        raise ValidationError(f"vector columns differ in length: {len(a)} and {len(b)} rows")
    a_all, b_all = _chunked(a), _chunked(b)
    edges = sorted({0, len(a)}
                   | set(np.cumsum([len(c) for c in a_all.chunks]).tolist())
                   | set(np.cumsum([len(c) for c in b_all.chunks]).tolist()))
    for start, stop in zip(edges, edges[1:]):
        yield (a_all.slice(start, stop - start).chunks[0],
               b_all.slice(start, stop - start).chunks[0])


def _chunked(values: ArrayLike) -> pa.ChunkedArray:
    if isinstance(values, pa.ChunkedArray):
        return values
    return pa.chunked_array([values], type=values.type)


#: Argument type of the SQL functions. A Python UDF's signature is exact, and DataFusion
#: coerces fixed-size lists of any size, lists and large lists of float16/32/64 (and integer
#: literals) to it: float32 embeddings pass with their values buffer untouched, other
#: element types are converted by DataFusion first.
SQL_VECTOR = pa.list_(pa.float32())


def sql_udfs() -> list[ScalarUDF]:
    """The four vector functions as DataFusion scalar UDFs (lower-case names)."""
    from datafusion import udf  # the kernels themselves must import without DataFusion

    return [
        udf(_sql_body(f), [pa.field(f"v{i}", SQL_VECTOR) for i in range(f.arity)],
            pa.field(f.name, pa.float64()), "immutable", f.name)
        for f in FUNCTIONS
    ]


def register(ctx: SessionContext) -> None:
    """Register ``dot``, ``cosine_similarity``, ``l2_distance`` and ``norm`` into ``ctx``."""
    for function in sql_udfs():
        ctx.register_udf(function)


def _sql_body(function: VectorFunction) -> Callable[..., pa.Array]:
    if function.arity == 1:
        return lambda a: _evaluate_chunk(function, a, None)
    return lambda a, b: _evaluate_chunk(function, a, b)


def ranked(function: VectorFunction, array: pa.Array, query: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A first pass for top-k over a float32 fixed-size list ``array`` against a constant
    ``query``: ``(approximate metric, error bound)`` per row (NaN: NULL row or undefined),
    read from the values buffer as one ``(n, dim)`` view and summed in float32 by one fused
    kernel on every core. None where it does not apply (other element types or functions,
    NULL elements, a GPU): the caller scores with ``evaluate``."""
    kind = array.type
    if (function.arity != 2 or not pa.types.is_fixed_size_list(kind) or kind.value_type != pa.float32()
            or array.values.null_count or len(query) != kind.list_size):
        return None
    from udfs import kernels_cpu

    dim, n = kind.list_size, len(array)
    child = array.values
    values = np.frombuffer(child.buffers()[1], dtype=np.float32, count=child.offset + len(child))[child.offset:]
    block = values[array.offset * dim:(array.offset + n) * dim].reshape(n, dim)
    valid = (np.ones(n, dtype=np.bool_) if array.null_count == 0
             else array.is_valid().to_numpy(zero_copy_only=False))
    if device.use_gpu(block.nbytes, resident=False):
        return None
    return kernels_cpu.ranked(function.op, block, query, valid)
